"""A LinkedIn Marketing API simulator (Rest.li 2.0 ``/rest`` + OAuth), deterministic from a seed.

>>> with SimulatorServer(SimulatorConfig(profile="small", seed=1)) as sim:  # doctest: +SKIP
...     sim.api_base_url, sim.access_token
"""

from linkedin_assets.simulator.config import PROFILES, Profile, SimulatorConfig
from linkedin_assets.simulator.data import Dataset
from linkedin_assets.simulator.server import SimulatorServer
from linkedin_assets.simulator.state import RequestRecord, SimulatorState

__all__ = ["PROFILES", "Dataset", "Profile", "RequestRecord", "SimulatorConfig", "SimulatorServer", "SimulatorState"]
