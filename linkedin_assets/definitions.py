"""The one ``Definitions`` of the code location: assets, checks, jobs, schedule, sensors, resources, executor.

The environment is read once, by ``linkedin_assets.settings.load_settings()``, when this module builds ``defs`` (the
code location loading); everything below is built from that ``Settings`` object. Secrets and URLs from the
environment reach the resources as ``dg.EnvVar``: Dagster resolves them when a run starts and the UI shows the
variable's name, never its value.
"""

from __future__ import annotations

import dagster as dg

from linkedin_assets.custom_reports import load_reports
from linkedin_assets.defs.account_failures import account_checks
from linkedin_assets.defs.assets import common, demographics, entities, metrics, reports, snapshot
from linkedin_assets.defs.assets.dbt_models import (
    build_reports_assets,
    prepare_reports_project,
    report_checks,
    reports_dbt_resource,
    shared_view_specs,
)
from linkedin_assets.defs.checks import asset_checks, declared_table_checks
from linkedin_assets.defs.io_managers.snapshot_json import SnapshotJsonIOManager
from linkedin_assets.defs.io_managers.warehouse import WarehouseIOManager, WarehouseResource, with_table_schema
from linkedin_assets.defs.jobs import daily_sync_job, monthly_sync_job, reports_job
from linkedin_assets.defs.partitions import with_start_date
from linkedin_assets.defs.resources import SyncSettings, TokenStoreResource, linkedin_resource, setting_value
from linkedin_assets.defs.run_health import dead_run_reaper
from linkedin_assets.defs.schedules import build_daily_sync_schedule
from linkedin_assets.defs.sensors import (
    monthly_after_daily_sync,
    monthly_after_daily_sync_with_failed_accounts,
    reports_after_daily_sync,
    reports_after_daily_sync_with_failed_accounts,
    token_refresh_sensor,
)
from linkedin_assets.settings import Settings, load_settings
from linkedin_assets.warehouse.schema import CONVERSION_TABLES, MetricTable, register_table


def build_resources(
    settings: Settings, warehouse: WarehouseResource | None = None, snapshot_dir: str | None = None
) -> dict[str, object]:
    """The resources of ``settings``; tests pass their own warehouse and snapshot directory."""
    warehouse = warehouse or WarehouseResource(
        database_url=setting_value(settings, "database_url"),
        schema_name=settings.schema_name,
        duckdb_path=settings.warehouse_file,
        fivetran_schema=settings.fivetran_schema,
    )
    return {
        "linkedin": linkedin_resource(settings),
        "warehouse": warehouse,
        "settings": SyncSettings.of(settings),
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

        def url(name: str) -> object:
            # {"env": ...} keeps a broker password out of the run config the UI shows.
            value = setting_value(settings, name)
            return {"env": value.env_var_name} if isinstance(value, dg.EnvVar) else value

        return celery_executor.configured({"broker": url("celery_broker_url"), "backend": url("celery_backend_url")})
    return dg.in_process_executor


def custom_reports(settings: Settings) -> list[MetricTable]:
    """The custom reports of ``LINKEDIN_ASSETS_REPORTS_FILE``, registered as warehouse tables (a bad declaration
    fails the code location's load, naming the file, the report and the field)."""
    if not settings.reports_file:
        return []
    declared = list(load_reports(settings.reports_file))
    for table in declared:
        register_table(table)
    return declared


def build_definitions(settings: Settings, resources: dict[str, object] | None = None) -> dg.Definitions:
    """The code location of ``settings`` (tests pass resources of their own: a warehouse, a data directory)."""
    declared = [*CONVERSION_TABLES, *custom_reports(settings)]
    assets = [
        common.linkedin_marketing_api,
        *dg.load_assets_from_modules([entities, metrics, demographics, snapshot]),
        *(reports.report_asset(table) for table in declared),
    ]
    resources = resources if resources is not None else build_resources(settings)
    project = prepare_reports_project(settings)  # once per load: the reports' assets and their dbt resource
    if "dbt" not in resources and "warehouse" in resources:  # dbt builds the reports in the resources' warehouse
        resources = {**resources, "dbt": reports_dbt_resource(resources["warehouse"], settings, project)}
    return dg.Definitions(
        assets=[
            *dg.map_asset_specs(lambda spec: with_table_schema(with_start_date(spec, settings.start_date)), assets),
            build_reports_assets(project),
            *shared_view_specs(),
        ],
        asset_checks=[
            *asset_checks,
            *declared_table_checks([table.name for table in declared]),
            *account_checks,
            report_checks,
        ],
        jobs=[daily_sync_job, monthly_sync_job, reports_job],
        schedules=[build_daily_sync_schedule(settings.schedule_cron)],
        sensors=[
            token_refresh_sensor,
            monthly_after_daily_sync,
            monthly_after_daily_sync_with_failed_accounts,
            reports_after_daily_sync,
            reports_after_daily_sync_with_failed_accounts,
            dead_run_reaper,
        ],
        resources=resources,
        executor=build_executor(settings),
    )


defs = build_definitions(load_settings())
