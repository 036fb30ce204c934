"""The one ``Definitions`` of the code location: assets, checks, jobs, schedule, sensors, resources, executor.

The environment is read once, by ``linkedin_assets.settings.load_settings()``, when this module builds ``defs`` (the
code location loading). Secrets and URLs reach the resources as ``dg.EnvVar``: Dagster resolves them when a run
starts and the UI shows the variable's name, never its value.
"""

from __future__ import annotations

import dagster as dg

from linkedin_assets.defs.assets import common, demographics, entities, metrics, snapshot
from linkedin_assets.defs.checks import asset_checks
from linkedin_assets.defs.io_managers.snapshot_json import SnapshotJsonIOManager
from linkedin_assets.defs.io_managers.warehouse import WarehouseIOManager, WarehouseResource, with_table_schema
from linkedin_assets.defs.jobs import daily_sync_job, monthly_sync_job
from linkedin_assets.defs.resources import (
    CLIENT_VARIABLES,
    ENV_VAR_FIELDS,
    LinkedInResource,
    SyncSettings,
    TokenStoreResource,
)
from linkedin_assets.defs.schedules import build_daily_sync_schedule
from linkedin_assets.defs.sensors import dead_run_reaper, monthly_after_daily_sync, token_refresh_sensor
from linkedin_assets.settings import ENV, Settings, environ, linkedin_env, load_settings

DATABASE_URL_ENV = ENV["database_url"]


def _env_var(name: str) -> dg.EnvVar | None:
    """``dg.EnvVar(name)`` when the variable is set (an unset EnvVar would fail every run), else None."""
    return dg.EnvVar(name) if environ().get(name, "").strip() else None


def linkedin_resource(settings: Settings) -> LinkedInResource:
    """The LinkedIn resource: secrets and URLs as EnvVar, the rest as plain values from the settings."""
    env = linkedin_env()
    max_concurrency = env.get("LINKEDIN_MAX_CONCURRENCY")
    return LinkedInResource(
        **{field: _env_var(CLIENT_VARIABLES[field]) for field in ENV_VAR_FIELDS},
        api_version=env.get("LINKEDIN_API_VERSION"),
        account_ids=env.get("LINKEDIN_ACCOUNT_IDS"),
        max_concurrency=int(max_concurrency) if max_concurrency and max_concurrency.isdigit() else None,
        token_store_path=settings.token_store,
        redis_url=_env_var(ENV["redis_url"]),
        requests_per_second=settings.requests_per_second,
    )


def build_resources(
    warehouse: WarehouseResource | None = None, snapshot_dir: str | None = None, settings: Settings | None = None
) -> dict[str, object]:
    """Resources from ``settings`` (default: the environment); tests pass their own warehouse and snapshot dir."""
    settings = settings or load_settings()
    warehouse = warehouse or WarehouseResource(
        database_url=_env_var(DATABASE_URL_ENV),
        schema_name=settings.schema_name,
        duckdb_path=settings.warehouse_file,
    )
    return {
        "linkedin": linkedin_resource(settings),
        "warehouse": warehouse,
        "settings": SyncSettings(
            lookback_days=settings.lookback_days,
            snapshot_days=settings.snapshot_days,
            demographics_level=settings.demographics_level,
            accounts_per_step=settings.accounts_per_step,
            freshness_hour_utc=settings.freshness_hour,
        ),
        "token_store": TokenStoreResource(path=settings.token_store),
        "warehouse_io": WarehouseIOManager(warehouse=warehouse),
        "snapshot_io": SnapshotJsonIOManager(base_dir=snapshot_dir or settings.snapshots),
    }


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    """``in_process`` (default: one process, the cheapest on one machine), ``multiprocess`` or ``celery``."""
    if settings.executor == "multiprocess":
        return dg.multiprocess_executor
    if settings.executor == "celery":
        from dagster_celery import celery_executor  # the celery extra: imported only when selected

        def url(key: str, default: str) -> object:
            # {"env": ...} keeps a broker password out of the run config the UI shows.
            return {"env": ENV[key]} if environ().get(ENV[key], "").strip() else default

        return celery_executor.configured(
            {
                "broker": url("celery_broker_url", settings.celery_broker_url),
                "backend": url("celery_backend_url", settings.celery_backend_url),
            }
        )
    return dg.in_process_executor


def build_definitions(resources: dict[str, object], settings: Settings | None = None) -> dg.Definitions:
    """The code location with the given resources (tests pass their own warehouse and data directory)."""
    settings = settings or load_settings()
    return dg.Definitions(
        assets=dg.map_asset_specs(
            with_table_schema,
            [common.linkedin_marketing_api, *dg.load_assets_from_modules([entities, metrics, demographics, snapshot])],
        ),
        asset_checks=asset_checks,
        jobs=[daily_sync_job, monthly_sync_job],
        schedules=[build_daily_sync_schedule(settings.schedule_cron)],
        sensors=[token_refresh_sensor, monthly_after_daily_sync, dead_run_reaper],
        resources=resources,
        executor=build_executor(settings),
    )


defs = build_definitions(build_resources())
