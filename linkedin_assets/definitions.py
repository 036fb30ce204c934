"""The one ``Definitions`` of the code location: assets, checks, jobs, schedule, sensors and resources."""

from __future__ import annotations

import os

import dagster as dg

from linkedin_assets.assets import common, demographics, entities, metrics, snapshot
from linkedin_assets.checks import asset_checks
from linkedin_assets.instance import data_dir
from linkedin_assets.io_managers.snapshot_json import SnapshotJsonIOManager
from linkedin_assets.io_managers.warehouse import WarehouseIOManager, WarehouseResource
from linkedin_assets.jobs import daily_sync_job, monthly_sync_job
from linkedin_assets.resources import LinkedInResource, SyncSettings, TokenStoreResource
from linkedin_assets.schedules import daily_sync_schedule
from linkedin_assets.sensors import monthly_after_daily_sync, token_refresh_sensor

DATABASE_URL_ENV = "LINKEDIN_ASSETS_DATABASE_URL"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None


def build_resources(warehouse: WarehouseResource | None = None, snapshot_dir: str | None = None) -> dict[str, object]:
    """Resources from the environment; the database URL is an ``EnvVar`` so its password never shows in the UI."""
    warehouse = warehouse or WarehouseResource(
        database_url=dg.EnvVar(DATABASE_URL_ENV) if os.environ.get(DATABASE_URL_ENV) else None,
        schema_name=os.environ.get("LINKEDIN_ASSETS_SCHEMA", "linkedin_ads"),
        duckdb_path=str(data_dir() / "warehouse.duckdb"),
    )
    return {
        "linkedin": LinkedInResource(warehouse=warehouse),
        "warehouse": warehouse,
        "settings": SyncSettings(
            lookback_days=_env_int("LINKEDIN_ASSETS_LOOKBACK_DAYS", 30),
            snapshot_days=_env_int("LINKEDIN_ASSETS_SNAPSHOT_DAYS", 90),
            demographics_level=os.environ.get("LINKEDIN_ASSETS_DEMOGRAPHICS_LEVEL", "account"),
        ),
        "token_store": TokenStoreResource(),
        "warehouse_io": WarehouseIOManager(warehouse=warehouse),
        "snapshot_io": SnapshotJsonIOManager(base_dir=snapshot_dir or str(data_dir() / "snapshots")),
    }


def build_definitions(resources: dict[str, object]) -> dg.Definitions:
    """The code location with the given resources (tests pass their own warehouse and data directory)."""
    return dg.Definitions(
        assets=[
            common.linkedin_marketing_api,
            *dg.load_assets_from_modules([entities, metrics, demographics, snapshot]),
        ],
        asset_checks=asset_checks,
        jobs=[daily_sync_job, monthly_sync_job],
        schedules=[daily_sync_schedule],
        sensors=[token_refresh_sensor, monthly_after_daily_sync],
        resources=resources,
        executor=dg.in_process_executor,
    )


defs = build_definitions(build_resources())
