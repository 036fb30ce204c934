"""linkedin-assets demo: the built-in simulator synced into the embedded warehouse."""

import datetime as dt
import os
from collections.abc import Callable

from linkedin_assets.cli.errors import UsageError
from linkedin_assets.cli.sync import sync


def demo(profile: str, seed: int, verbose: bool = False, echo: Callable[[str], None] = print) -> int:
    """Start the simulator, sync its whole history into the embedded warehouse, and say where the results are."""
    try:
        from linkedin_assets.simulator import SimulatorConfig, SimulatorServer
    except ImportError as exc:  # starlette/uvicorn are the `simulator` extra
        raise UsageError(
            f"the demo needs the simulator extra: pip install 'linkedin_assets[simulator]' ({exc})"
        ) from None
    from linkedin_assets.settings import load_settings

    # The demo's own environment for the processes it starts: this one's, minus what would point the sync elsewhere
    # (a PostgreSQL warehouse, an account list, another token store), plus the simulator's LINKEDIN_* variables.
    ignored = {
        "LINKEDIN_ASSETS_DATABASE_URL",
        "LINKEDIN_ACCOUNT_IDS",
        "LINKEDIN_TOKEN_STORE",
        "LINKEDIN_ACCESS_TOKEN",
    }
    base = {name: value for name, value in os.environ.items() if name not in ignored}
    with SimulatorServer(SimulatorConfig(profile=profile, seed=seed)) as sim:
        client = {
            k: v for k, v in sim.client_env().items() if k != "LINKEDIN_ACCESS_TOKEN"
        }  # runs refresh, as in production
        env = {**base, **client}
        settings = load_settings(env)
        end = sim.state.config.today - dt.timedelta(days=1)
        start = end - dt.timedelta(days=sim.state.config.sizes.days - 1)
        echo(f"Simulator ({profile} profile) at {sim.url}; syncing {start}..{end}")
        status = sync(start, end, None, settings, echo, verbose=verbose, env=env, require_local=True)
    if status == 0:
        echo("")
        echo(f"Snapshot:  {os.path.join(settings.snapshots, 'latest.json')}")
        echo(f"Tables:    {settings.warehouse_file} (DuckDB, schema {settings.schema_name})")
        echo(_reports_line(settings))
        echo(f"Runs:      {settings.dagster_home_path} (see them in the UI: make dev, then http://127.0.0.1:3000)")
    return status


def _reports_line(settings) -> str:
    """The reports' row counts, from the embedded warehouse the demo filled."""
    from linkedin_assets.defs.assets.dbt_models import report_row_counts
    from linkedin_assets.defs.io_managers.warehouse import WarehouseResource

    schema = settings.reports_schema
    warehouse = WarehouseResource(schema_name=settings.schema_name, duckdb_path=settings.warehouse_file)
    counts = report_row_counts(warehouse, schema)
    shown = ", ".join(
        f"{name.removeprefix('linkedin_ads__').removesuffix('_report')} {'missing' if rows is None else rows}"
        for name, rows in counts.items()
    )
    return f"Reports:   schema {schema} (dbt fivetran/linkedin), rows: {shown}"
