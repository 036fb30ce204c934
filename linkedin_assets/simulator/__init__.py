"""A LinkedIn Marketing API simulator (Rest.li 2.0 ``/rest`` + OAuth), deterministic from a seed.

>>> with SimulatorServer(SimulatorConfig(profile="small", seed=1)) as sim:  # doctest: +SKIP
...     sim.api_base_url, sim.access_token

The data side (:class:`SimulatorConfig`, :class:`Dataset` and its ground truth) needs only numpy and pandas;
:class:`SimulatorServer` needs the ``simulator`` extra (``pip install '.[simulator]'``: starlette, uvicorn) and
is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from linkedin_assets.simulator.config import PROFILES, Profile, SimulatorConfig
from linkedin_assets.simulator.data import Dataset
from linkedin_assets.simulator.state import RequestRecord, SimulatorState, max_in_flight

if TYPE_CHECKING:
    from linkedin_assets.simulator.server import SimulatorServer

__all__ = [
    "PROFILES",
    "Dataset",
    "Profile",
    "RequestRecord",
    "SimulatorConfig",
    "SimulatorServer",
    "SimulatorState",
    "max_in_flight",
]


def __getattr__(name: str) -> Any:
    if name == "SimulatorServer":
        try:
            from linkedin_assets.simulator.server import SimulatorServer
        except ImportError as exc:
            raise ImportError(
                f"the LinkedIn simulator's web server needs the 'simulator' extra: pip install '.[simulator]' ({exc})"
            ) from exc
        return SimulatorServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
