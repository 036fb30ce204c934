"""Fivetran's dbt package ``fivetran/linkedin`` as Dagster assets: the LinkedIn Ads reports (issue 18).

The dbt project in ``linkedin_assets/dbt_project`` runs the package over the warehouse's Fivetran-compatible schema (views
kept by the warehouse, ``LINKEDIN_ASSETS_FIVETRAN_SCHEMA``) and writes the reports to ``LINKEDIN_ASSETS_REPORTS_SCHEMA``.

- :func:`prepare_reports_project` writes the project's ``packages.yml`` (the hub, or the local folder named by
  ``LINKEDIN_ASSETS_DBT_PACKAGES_DIR``), runs ``dbt deps`` when the packages are missing and ``dbt parse`` when the
  manifest is missing or older than the project's files. The code location calls it when it loads (a no-op when all
  is current); ``make install`` and ``linkedin-assets reports prepare`` call it ahead of time.
- :func:`build_reports_assets`: the ``@dbt_assets`` of the manifest (group ``fivetran_reports``), whose sources map to
  the warehouse tables' asset keys (:data:`SOURCE_TABLES`); dbt tests are asset checks (dagster-dbt's default).
- :class:`ReportsDbtResource`: dagster-dbt's CLI resource on the project's warehouse (PostgreSQL or the DuckDB file):
  it hands dbt the connection in environment variables for each command, never in a file.
- :data:`report_checks`: the project's own checks of the reports against the warehouse (the package's union macro
  turns a missing source into an empty relation, so a passing ``dbt build`` proves little).
"""

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from pydantic import Field

from linkedin_assets.defs.assets.common import GROUP as WAREHOUSE_GROUP
from linkedin_assets.defs.assets.common import KEY_PREFIX
from linkedin_assets.defs.io_managers.warehouse import WarehouseResource
from linkedin_assets.settings import Settings
from linkedin_assets.warehouse import fivetran_schema_of, reports_schema_of
from linkedin_assets.warehouse.backends import quote

GROUP = "fivetran_reports"
"""Asset group of the dbt models (the package's staging models and reports)."""

DEMOGRAPHICS_TABLE = "demographic_metrics"
"""The warehouse table behind the monthly country and region sources (campaign_demographic_metrics once it exists)."""

SOURCE_TABLES: dict[str, str] = {
    "account_history": "accounts",
    "campaign_group_history": "campaign_groups",
    "campaign_history": "campaigns",
    "creative_history": "creatives",
    "ad_analytics_by_campaign": "campaign_daily_metrics",
    "ad_analytics_by_creative": "creative_daily_metrics",
    "monthly_ad_analytics_by_member_country": DEMOGRAPHICS_TABLE,
    "monthly_ad_analytics_by_member_region": DEMOGRAPHICS_TABLE,
    "geo": "demographic_values",
    "conversion_history": "conversions",
    "ad_analytics_by_campaign_with_conversion_breakdown": "campaign_conversion_daily_metrics",
}
"""The package's source tables (the Fivetran-compatible views) -> the warehouse table (asset) each view reads."""
VIEW_PREFIX = "linkedin_ads_fivetran"
"""Key prefix of a view that shares its table with another view: dagster-dbt gives each source its own key, so such
a view is an asset of its own (an external one, downstream of the table) instead of the table."""

PACKAGES = ("linkedin", "fivetran_utils", "dbt_utils")
"""The folders a local packages directory holds (like ../shared/external/dbt)."""
HUB_PACKAGES = 'packages:\n  - package: fivetran/linkedin\n    version: [">=1.2.0", "<2.0.0"]\n'
PACKAGED_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
"""The reports' dbt project as it ships in the package (``linkedin_assets/dbt_project``)."""
GENERATED = ("target", "dbt_packages", "logs", "packages.yml", "package-lock.yml", ".user.yml", ".prepare.lock")


def reports_project_dir(settings: Settings) -> Path:
    """Where the reports' dbt project is prepared and run: ``LINKEDIN_ASSETS_DBT_PROJECT_DIR``; else the packaged
    project itself in a checkout (an editable install); else, installed from a wheel, a copy under the data directory
    (``<data>/dbt``, refreshed from the package on each load), so nothing is written into site-packages."""
    if settings.dbt_project_dir:
        return Path(settings.dbt_project_dir).resolve()
    if "site-packages" not in PACKAGED_PROJECT.parts:
        return PACKAGED_PROJECT
    copy = Path(settings.data_dir).resolve() / "dbt"
    shutil.copytree(
        PACKAGED_PROJECT, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*GENERATED, "__pycache__")
    )
    return copy


class ReportsSetupError(RuntimeError):
    """The dbt project cannot be prepared; the message says which setting to change."""


# ---------------------------------------------------------------------------------------------------- preparation


def dbt_executable() -> str:
    """The ``dbt`` next to this Python (a venv's scripts need no activated venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else shutil.which("dbt") or "dbt"


def packages_yml(packages_dir: str | None) -> str:
    """``packages.yml`` for the hub (no folder) or for a local folder holding :data:`PACKAGES`."""
    if packages_dir is None:
        return HUB_PACKAGES
    folder = Path(packages_dir).expanduser().resolve()
    missing = [name for name in PACKAGES if not (folder / name / "dbt_project.yml").is_file()]
    if missing:
        raise ReportsSetupError(
            f"LINKEDIN_ASSETS_DBT_PACKAGES_DIR={packages_dir}: no dbt package in {', '.join(missing)} there "
            f"(expected the folders {', '.join(PACKAGES)}, each with its dbt_project.yml)"
        )
    return "packages:\n" + "".join(f"  - local: {folder / name}\n" for name in PACKAGES)


def _project_files(project_dir: Path) -> Iterator[Path]:
    """The files ``dbt parse`` reads from the project itself (not its outputs nor the installed packages)."""
    yield from (project_dir / name for name in ("dbt_project.yml", "profiles.yml", "packages.yml"))
    for folder in ("models", "macros", "tests"):
        yield from (path for path in (project_dir / folder).rglob("*") if path.is_file())


def _manifest_stale(project: DbtProject) -> bool:
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    return any(path.exists() and path.stat().st_mtime > built for path in _project_files(project.project_dir))


def _run_dbt(project_dir: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_PROFILES_DIR": str(project_dir)}
    return subprocess.run(
        [dbt_executable(), *args], cwd=project_dir, env=env, capture_output=True, text=True, timeout=600
    )


def _deps(project_dir: Path, packages_dir: str | None) -> None:
    done = _run_dbt(project_dir, ["deps"])
    if done.returncode == 0:
        return
    last = ((done.stdout + done.stderr).strip().splitlines() or ["no output"])[-1].strip()
    where = (
        f"the folder LINKEDIN_ASSETS_DBT_PACKAGES_DIR={packages_dir}"
        if packages_dir
        else "hub.getdbt.com (no internet? set LINKEDIN_ASSETS_DBT_PACKAGES_DIR to a folder holding "
        f"{', '.join(PACKAGES)}, e.g. a copy of ../shared/external/dbt)"
    )
    raise ReportsSetupError(f"dbt deps could not install fivetran/linkedin from {where}: {last}")


def _parse(project_dir: Path) -> None:
    done = _run_dbt(project_dir, ["parse", "--quiet"])
    if done.returncode != 0:
        last = " / ".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise ReportsSetupError(f"dbt parse of {project_dir} failed: {last}")


@contextmanager
def _project_lock(project_dir: Path) -> Iterator[None]:
    """One preparation at a time across processes (the webserver, the daemon and run workers load together)."""
    with open(project_dir / ".prepare.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_reports_project(settings: Settings) -> DbtProject:
    """The dbt project, with its packages installed and a current manifest (``dbt deps``/``dbt parse`` only when
    something changed: a second call costs a few ``stat``s)."""
    project_dir = reports_project_dir(settings)
    if not (project_dir / "dbt_project.yml").is_file():
        raise ReportsSetupError(f"LINKEDIN_ASSETS_DBT_PROJECT_DIR={project_dir}: no dbt_project.yml there")
    packages = project_dir / "packages.yml"
    with _project_lock(project_dir):
        # Unset keeps what an earlier preparation installed (make install names the local folder; a later load
        # without the variable must not turn to the hub); with nothing installed yet, unset means the hub.
        keep = settings.dbt_packages_dir is None and packages.exists()
        wanted = packages.read_text() if keep else packages_yml(settings.dbt_packages_dir)
        changed = not packages.exists() or packages.read_text() != wanted
        if changed:
            packages.write_text(wanted)
        if changed or not (project_dir / "dbt_packages" / "linkedin").exists():
            _deps(project_dir, settings.dbt_packages_dir)
        project = DbtProject(project_dir=project_dir)
        if changed or _manifest_stale(project):
            _parse(project_dir)
    return project


# ---------------------------------------------------------------------------------------------------- the resource


def postgres_env(url: str) -> dict[str, str]:
    """The profile's connection variables of a PostgreSQL URL (any ``postgresql+driver://`` scheme)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return {
        "DBT_LINKEDIN_ASSETS_TARGET": "postgres",
        "DBT_LINKEDIN_ASSETS_HOST": parts.hostname or query.get("host", ["127.0.0.1"])[0],
        "DBT_LINKEDIN_ASSETS_PORT": str(parts.port or 5432),
        "DBT_LINKEDIN_ASSETS_USER": unquote(parts.username or "postgres"),
        "DBT_ENV_SECRET_LINKEDIN_ASSETS_PASSWORD": unquote(parts.password or ""),
        "DBT_LINKEDIN_ASSETS_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
        "DBT_LINKEDIN_ASSETS_SSLMODE": query.get("sslmode", ["prefer"])[0],
    }


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` while the block runs (dagster-dbt starts dbt with this process's environment)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class ReportsDbtResource(DbtCliResource):
    """dagster-dbt's CLI resource on the project's warehouse: every dbt command connects to the database the
    ``warehouse`` resource names (PostgreSQL, or the embedded DuckDB file), read from its schema of Fivetran views
    and writes the reports to ``reports_schema``. The connection reaches dbt in environment variables that
    ``dbt/profiles.yml`` reads (the password in ``DBT_ENV_SECRET_*``, which dbt keeps out of its logs)."""

    warehouse: WarehouseResource
    fivetran_schema: str = Field(default="linkedin_ads_fivetran", description="Schema of the Fivetran views.")
    reports_schema: str = Field(default="linkedin_ads_reports", description="Schema of the reports.")

    def connection_env(self) -> dict[str, str]:
        url = self.warehouse.database_url
        target = (
            postgres_env(url)
            if url
            else {"DBT_LINKEDIN_ASSETS_TARGET": "duckdb", "DBT_LINKEDIN_ASSETS_DUCKDB_PATH": self.warehouse.duckdb_path}
        )
        schemas = {
            "LINKEDIN_ASSETS_FIVETRAN_SCHEMA": self.fivetran_schema,
            "LINKEDIN_ASSETS_REPORTS_SCHEMA": self.reports_schema,
        }
        return {**target, **schemas, "DBT_PROFILES_DIR": self.profiles_dir or self.project_dir}

    def cli(self, args: list[str], **kwargs: Any) -> Any:  # type: ignore[override]
        with _environment(self.connection_env()):
            return super().cli(args, **kwargs)


def reports_dbt_resource(
    warehouse: WarehouseResource, settings: Settings, project: DbtProject | None = None
) -> ReportsDbtResource:
    """The one dbt resource of the code location, on ``warehouse`` (the IO manager's): the views it reads are that
    warehouse's, the reports go beside them (``LINKEDIN_ASSETS_REPORTS_SCHEMA``)."""
    project = project or prepare_reports_project(settings)
    return ReportsDbtResource(
        project_dir=str(project.project_dir),
        profiles_dir=str(project.project_dir),
        dbt_executable=dbt_executable(),
        warehouse=warehouse,
        fivetran_schema=warehouse.fivetran_schema or fivetran_schema_of(warehouse.schema_name),
        reports_schema=settings.reports_schema_name or reports_schema_of(warehouse.schema_name),
    )


# ---------------------------------------------------------------------------------------------------- the assets


def source_key(source: str) -> dg.AssetKey:
    """The asset a source of the package stands for: its table, or the view itself when the table backs several."""
    table = SOURCE_TABLES[source]
    if list(SOURCE_TABLES.values()).count(table) == 1:
        return dg.AssetKey([KEY_PREFIX, table])
    return dg.AssetKey([VIEW_PREFIX, source])


def shared_view_specs() -> list[dg.AssetSpec]:
    """The views that share a table (see :data:`VIEW_PREFIX`), as external assets downstream of that table."""
    return [
        dg.AssetSpec(
            source_key(source),
            deps=[dg.AssetKey([KEY_PREFIX, table])],
            group_name=WAREHOUSE_GROUP,
            description=f"View {source} of the Fivetran-compatible schema, over the warehouse table {table}.",
        )
        for source, table in SOURCE_TABLES.items()
        if source_key(source).path[0] == VIEW_PREFIX
    ]


COLUMN_SCHEMA = "dagster/column_schema"
DOCUMENTED_COLUMNS = "dbt/documented_columns"


class ReportsTranslator(DagsterDbtTranslator):
    """The package's sources are the warehouse tables behind the Fivetran views (:func:`source_key`); a model's key is
    its name (``linkedin_ads__campaign_report``: no prefix that a schema setting would change); all in :data:`GROUP`."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source" and dbt_resource_props["name"] in SOURCE_TABLES:
            return source_key(dbt_resource_props["name"])
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return dg.AssetKey([dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        """dagster-dbt's metadata, with the columns the package documents under ``dbt/documented_columns``:
        ``dagster/column_schema`` is what the warehouse tables declare, exactly (the package's docs list some columns,
        not every one a report has)."""
        metadata = dict(super().get_metadata(dbt_resource_props))
        if COLUMN_SCHEMA in metadata:
            metadata[DOCUMENTED_COLUMNS] = metadata.pop(COLUMN_SCHEMA)
        return metadata


def build_reports_assets(project: DbtProject) -> dg.AssetsDefinition:
    """The dbt models of ``project`` as one multi-asset; ``dbt build`` runs the selected models and their tests."""

    @dbt_assets(manifest=project.manifest_path, project=project, dagster_dbt_translator=ReportsTranslator(), name=GROUP)
    def fivetran_reports(context: dg.AssetExecutionContext, dbt: ReportsDbtResource):
        yield from dbt.cli(["build"], context=context).stream()

    return fivetran_reports


# ---------------------------------------------------------------------------------------------------- checks

DAILY = ("own", "date", "cast(date_day as date)")
MONTHLY = ("fivetran", "cast(month || '-01' as date)", "date_month")
PERIOD_SOURCES: dict[str, tuple[str, str, str, str]] = {
    "linkedin_ads__account_report": ("campaign_daily_metrics", *DAILY),
    "linkedin_ads__campaign_group_report": ("campaign_daily_metrics", *DAILY),
    "linkedin_ads__campaign_report": ("campaign_daily_metrics", *DAILY),
    "linkedin_ads__creative_report": ("creative_daily_metrics", *DAILY),
    "linkedin_ads__monthly_campaign_country_report": ("monthly_ad_analytics_by_member_country", *MONTHLY),
    "linkedin_ads__monthly_campaign_region_report": ("monthly_ad_analytics_by_member_region", *MONTHLY),
    "linkedin_ads__conversion_report": ("campaign_conversion_daily_metrics", *DAILY),
}
"""Report -> (source table, its schema: the project's own or the Fivetran views, the period in the source, the period
in the report). ``linkedin_ads__url_report`` is left out: it keeps only creatives with a landing page (text and
spotlight ads; a sponsored post's link is the post's), and an account may have none."""

TOTALS: dict[str, tuple[str, str]] = {
    "linkedin_ads__campaign_report": ("campaign_daily_metrics", "campaign_id"),
    "linkedin_ads__creative_report": ("creative_daily_metrics", "creative_id"),
}
"""Report -> (the daily table its totals per entity and day must equal, the entity's id column)."""

HAS_ROWS = "has_rows_for_every_source_period"
TOTALS_EQUAL = "totals_equal_daily_metrics"


def _qualified(schema: str, table: str) -> str:
    return f"{quote(schema)}.{quote(table)}"


def period_sql(report: str, own_schema: str, fivetran_schema: str, reports_schema: str) -> str:
    """One row: the report's rows, the source's periods (days or months) and those missing from the report."""
    table, where, source_period, report_period = PERIOD_SOURCES[report]
    source = _qualified(own_schema if where == "own" else fivetran_schema, table)
    target = _qualified(reports_schema, report)
    return f"""
        select
            (select count(*) from {target}) as report_rows,
            (select count(distinct {source_period}) from {source}) as source_periods,
            (select count(*) from (
                select {source_period} as period from {source}
                except
                select {report_period} from {target}
            ) as missing) as missing_periods
    """


def totals_sql(report: str, own_schema: str, reports_schema: str) -> str:
    """One row: the (entity, day) pairs of the report and the daily table, and those whose clicks, impressions,
    cost (``cost_in_usd``) or conversion value differ, or that only one side has. The conversion value is compared
    as the package computes it (``cast(... as float)``, no tolerance); the others as stored, exactly."""
    table, id_column = TOTALS[report]
    metrics = ("clicks", "impressions", "cost", "conversion_value")
    differs = " or ".join(f"r.{m} is distinct from d.{m}" for m in metrics)
    return f"""
        with r as (
            select {id_column} as id, cast(date_day as date) as day, sum(clicks) as clicks,
                sum(impressions) as impressions, sum(cost) as cost,
                sum(conversion_value_in_local_currency) as conversion_value
            from {_qualified(reports_schema, report)}
            group by 1, 2
        ),
        d as (
            select {id_column} as id, date as day, clicks, impressions, cost_in_usd as cost,
                cast(coalesce(conversion_value_in_local_currency, 0) as float) as conversion_value
            from {_qualified(own_schema, table)}
        )
        select count(*) as pairs,
            coalesce(sum(case when r.id is null or d.id is null or {differs} then 1 else 0 end), 0) as differing
        from r full outer join d on r.id = d.id and r.day = d.day
    """


def _has_rows(row: Mapping[str, Any], report: str) -> dg.AssetCheckResult:
    rows, periods, missing = (int(row[name]) for name in ("report_rows", "source_periods", "missing_periods"))
    table = PERIOD_SOURCES[report][0]
    passed = missing == 0 and (periods == 0 or rows > 0)
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey([report]),
        check_name=HAS_ROWS,
        passed=passed,
        description=None if passed else f"{missing} of the {periods} periods of {table} are missing from {report}",
        metadata={"report_rows": rows, "source_periods": periods, "missing_periods": missing, "source": table},
    )


def _totals_equal(row: Mapping[str, Any], report: str) -> dg.AssetCheckResult:
    pairs, differing = int(row["pairs"]), int(row["differing"])
    table = TOTALS[report][0]
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey([report]),
        check_name=TOTALS_EQUAL,
        passed=differing == 0,
        description=None if differing == 0 else f"{differing} of {pairs} (id, day) pairs differ from {table}",
        metadata={"pairs": pairs, "differing_pairs": differing, "compared_with": table},
    )


def _report_check_specs() -> list[dg.AssetCheckSpec]:
    has_rows = "Rows for every day or month of its source table (a missing view reads as an empty relation)."
    totals = "Clicks, impressions, cost and conversion value per entity and day equal the daily table's, exactly."
    return [dg.AssetCheckSpec(HAS_ROWS, asset=dg.AssetKey([r]), description=has_rows) for r in PERIOD_SOURCES] + [
        dg.AssetCheckSpec(TOTALS_EQUAL, asset=dg.AssetKey([r]), description=totals) for r in TOTALS
    ]


@dg.multi_asset_check(specs=_report_check_specs(), name="fivetran_report_checks", can_subset=True)
def report_checks(context: dg.AssetCheckExecutionContext, dbt: ReportsDbtResource) -> Iterator[dg.AssetCheckResult]:
    """The reports against the warehouse they were built from (ERROR severity: a failure is a wrong report)."""
    own, fivetran, reports = dbt.warehouse.schema_name, dbt.fivetran_schema, dbt.reports_schema
    with dbt.warehouse.open() as warehouse:
        for key in sorted(context.selected_asset_check_keys, key=lambda k: (k.asset_key.path, k.name)):
            report = key.asset_key.path[-1]
            has_rows = key.name == HAS_ROWS
            sql = period_sql(report, own, fivetran, reports) if has_rows else totals_sql(report, own, reports)
            try:
                row = warehouse.query(sql).iloc[0]
            except Exception as exc:  # noqa: BLE001 - a missing table or view; each backend raises its own class
                yield _unanswered(key, exc)
                continue
            yield _has_rows(row, report) if has_rows else _totals_equal(row, report)


def _unanswered(key: dg.AssetCheckKey, exc: Exception) -> dg.AssetCheckResult:
    """A failed check whose query could not run (a report or a Fivetran view missing): the reason, in one line."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return dg.AssetCheckResult(
        asset_key=key.asset_key,
        check_name=key.name,
        passed=False,
        description=f"could not query the warehouse: {reason}",
        metadata={"error": dg.MetadataValue.text(f"{type(exc).__name__}: {reason}")},
    )


REPORTS = (
    "linkedin_ads__account_report",
    "linkedin_ads__campaign_group_report",
    "linkedin_ads__campaign_report",
    "linkedin_ads__creative_report",
    "linkedin_ads__url_report",
    "linkedin_ads__monthly_campaign_country_report",
    "linkedin_ads__monthly_campaign_region_report",
    "linkedin_ads__conversion_report",
)
"""The package's final models (v1.2.0), and the project's conversion report beside them."""


def report_row_counts(warehouse: WarehouseResource, reports_schema: str) -> dict[str, int | None]:
    """Rows of each report in the warehouse (``None``: the report does not exist)."""
    counts: dict[str, int | None] = {}
    with warehouse.open() as opened:
        for report in REPORTS:
            try:
                frame = opened.query(f"select count(*) as n from {_qualified(reports_schema, report)}")
            except Exception:  # noqa: BLE001 - a missing table; each backend raises its own class
                counts[report] = None
            else:
                counts[report] = int(frame.iloc[0]["n"])
    return counts
