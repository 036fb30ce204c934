"""linkedin-assets demo: the built-in simulator synced into the embedded warehouse."""

import datetime as dt
import os
from collections.abc import Callable

from linkedin_assets.cli.errors import UsageError
from linkedin_assets.cli.sync import sync


def demo(profile: str, seed: int, echo: Callable[[str], None] = print) -> int:
    """Start the simulator, sync its whole history into the embedded warehouse, and say where the results are."""
    try:
        from linkedin_assets.simulator import SimulatorConfig, SimulatorServer
    except ImportError as exc:  # starlette/uvicorn are the `simulator` extra
        raise UsageError(
            f"the demo needs the simulator extra: pip install 'linkedin_assets[simulator]' ({exc})"
        ) from None
    from linkedin_assets.settings import load_settings

    for name in (
        "LINKEDIN_ASSETS_DATABASE_URL",
        "LINKEDIN_ACCOUNT_IDS",
        "LINKEDIN_TOKEN_STORE",
        "LINKEDIN_ACCESS_TOKEN",
    ):
        os.environ.pop(name, None)
    with SimulatorServer(SimulatorConfig(profile=profile, seed=seed)) as sim:
        os.environ.update(sim.client_env())
        os.environ.pop("LINKEDIN_ACCESS_TOKEN", None)  # runs start from the refresh token, as in production
        end = sim.state.config.today - dt.timedelta(days=1)
        start = end - dt.timedelta(days=sim.state.config.sizes.days - 1)
        echo(f"Simulator ({profile} profile) at {sim.url}; syncing {start}..{end}")
        status = sync(start, end, None, echo, require_local=True)
    if status == 0:
        from linkedin_assets.cli.runs import dagster_home

        settings = load_settings()
        echo("")
        echo(f"Snapshot:  {os.path.join(settings.snapshots, 'latest.json')}")
        echo(f"Tables:    {settings.warehouse_file} (DuckDB, schema {settings.schema_name})")
        echo(f"Runs:      {dagster_home()} (see them in the UI: make dev, then http://127.0.0.1:3000)")
    return status
