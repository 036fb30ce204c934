"""Fivetran's dbt package fivetran/linkedin: its own integration tests, the dbt assets in the code location, and the
reports built by Dagster from a simulated sync (PostgreSQL).

The packages come from LINKEDIN_ASSETS_DBT_PACKAGES_DIR, else the shared offline copy (see :func:`packages_dir`).
"""

import datetime as dt
import json
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pandas as pd
import psycopg
import pytest

from linkedin_assets.defs.assets.dbt_models import (
    GROUP,
    HAS_ROWS,
    PACKAGES,
    PERIOD_SOURCES,
    REPORTS,
    TOTALS,
    TOTALS_EQUAL,
    dbt_executable,
    period_sql,
    postgres_env,
    report_checks,
    totals_sql,
)
from linkedin_assets.defs.io_managers.warehouse import WarehouseResource
from linkedin_assets.settings import load_settings
from linkedin_assets_tests.ground_truth import sync_in_process

pytestmark = pytest.mark.postgres

REPO_ROOT = Path(__file__).resolve().parents[1]
YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
SEEDS, MODELS, TESTS = 9, 25, 29
CONVERSION_REPORT_TESTS = 4
"""dbt/models/conversions/sources.yml: three not_null tests and the key's uniqueness."""
"""What the package's integration tests hold (its README: 9 seeds, 25 models, 29 tests pass on PostgreSQL)."""
REPORTS_JOB = "linkedin_reports"


def packages_dir() -> Path:
    """The folder holding linkedin/, fivetran_utils/ and dbt_utils/: the setting, else the shared copy beside the
    repository or at /work/shared (as the Makefile and .ci/run look for it)."""
    configured = os.environ.get("LINKEDIN_ASSETS_DBT_PACKAGES_DIR", "").strip()
    candidates = (
        [configured] if configured else [str(REPO_ROOT.parent / "shared/external/dbt"), "/work/shared/external/dbt"]
    )
    for candidate in candidates:
        if all((Path(candidate) / name / "dbt_project.yml").is_file() for name in PACKAGES):
            return Path(candidate).resolve()
    raise AssertionError(f"no dbt packages folder ({', '.join(candidates)}): set LINKEDIN_ASSETS_DBT_PACKAGES_DIR")


# ---------------------------------------------------------------------------------------------------- (a)


def _integration_profile(profiles: Path, pg_url: str, schema: str) -> None:
    """profiles.yml with the profile the integration tests name, on the test session's database (no password: the
    test server trusts local connections; a URL's password would go through the environment, as in production)."""
    parts = urlsplit(pg_url)
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(
        "integration_tests:\n  target: pg\n  outputs:\n    pg:\n      type: postgres\n"
        f"      host: {parts.hostname}\n      port: {parts.port or 5432}\n      user: {parts.username or 'postgres'}\n"
        "      password: \"{{ env_var('DBT_ENV_SECRET_PASSWORD', '') }}\"\n"
        f"      dbname: {parts.path.lstrip('/')}\n      schema: {schema}\n      threads: 2\n"
    )


def _dbt(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[str, dict]:
    done = subprocess.run([dbt_executable(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"dbt {' '.join(args)}:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    results = cwd / "target" / "run_results.json"
    return done.stdout, json.loads(results.read_text()) if args[0] != "deps" else {}


def _statuses(run_results: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in run_results["results"]:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return counts


def test_the_packages_own_integration_tests_pass_on_postgres(pg_url, tmp_path):
    """The package's integration tests, unchanged, on its seeds: every seed, model and test passes."""
    copy = tmp_path / "dbt"
    shutil.copytree(packages_dir(), copy)
    project = copy / "linkedin" / "integration_tests"
    _integration_profile(tmp_path / "profiles", pg_url, f"li_it_{os.getpid()}")
    env = {**os.environ, "DBT_PROFILES_DIR": str(tmp_path / "profiles"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.update(_password_env(pg_url))
    _dbt(["deps"], project, env)
    started = dt.datetime.now()
    counts = {}
    for step, expected in (("seed", SEEDS), ("run", MODELS), ("test", TESTS)):
        _, results = _dbt([step], project, env)
        counts[step] = _statuses(results)
        assert counts[step] == {"pass" if step == "test" else "success": expected}, (step, counts[step])
    seconds = (dt.datetime.now() - started).total_seconds()
    print(f"dbt seed + run + test of the package's integration tests: {seconds:.1f} s, {counts}")


def _password_env(pg_url: str) -> dict[str, str]:
    password = postgres_env(pg_url)["DBT_ENV_SECRET_LINKEDIN_ASSETS_PASSWORD"]
    return {"DBT_ENV_SECRET_PASSWORD": password} if password else {}


# ---------------------------------------------------------------------------------------------------- (b)


def _defs() -> dg.Definitions:
    from linkedin_assets.definitions import build_definitions
    from linkedin_assets.settings import load_settings

    return build_definitions(load_settings({}))


def _ancestors(graph, key: dg.AssetKey) -> set[dg.AssetKey]:
    seen: set[dg.AssetKey] = set()
    todo = [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def test_the_code_location_holds_the_reports_with_lineage_from_the_warehouse_tables():
    defs = _defs()
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    ancestors = _ancestors(graph, dg.AssetKey(["linkedin_ads__campaign_report"]))
    for table in ("linkedin_marketing_api", "campaign_daily_metrics", "campaigns", "campaign_groups", "accounts"):
        assert dg.AssetKey(["linkedin_ads", table]) in ancestors, sorted(ancestors)
    monthly = _ancestors(graph, dg.AssetKey(["linkedin_ads__monthly_campaign_country_report"]))
    assert {dg.AssetKey(["linkedin_ads", "demographic_values"]), dg.AssetKey(["linkedin_ads", "campaigns"])} <= monthly
    assert any(key.path[-1] in ("demographic_metrics", "campaign_demographic_metrics") for key in monthly), monthly
    for name in REPORTS:
        assert graph.get(dg.AssetKey([name])).group_name == GROUP


def test_the_dbt_tests_and_the_report_checks_are_asset_checks_of_the_reports_job():
    defs = _defs()
    graph = defs.resolve_asset_graph()
    job = defs.resolve_job_def(REPORTS_JOB)
    selected = job.asset_layer.selected_asset_keys
    assert set(REPORTS) <= {key.to_user_string() for key in selected}
    assert dg.AssetKey(["linkedin_ads", "campaign_daily_metrics"]) not in selected
    names = {(key.asset_key.path[-1], key.name) for asset in selected for key in graph.get(asset).check_keys}
    assert ("linkedin_ads__campaign_report", "not_null_linkedin_ads__campaign_report_campaign_id") in names
    dbt_tests = [name for _, name in names if name not in (HAS_ROWS, TOTALS_EQUAL)]
    assert len(dbt_tests) == TESTS + CONVERSION_REPORT_TESTS, sorted(dbt_tests)
    assert {(r, HAS_ROWS) for r in PERIOD_SOURCES} | {(r, TOTALS_EQUAL) for r in TOTALS} <= names


def _check_results(warehouse: WarehouseResource, reports: str) -> dict[str, dg.AssetCheckResult]:
    from linkedin_assets.defs.assets.dbt_models import _has_rows, _totals_equal

    report = "linkedin_ads__campaign_report"
    with warehouse.open() as opened:
        has_rows = _has_rows(opened.query(period_sql(report, "linkedin_ads", "unused", reports)).iloc[0], report)
        totals = _totals_equal(opened.query(totals_sql(report, "linkedin_ads", reports)).iloc[0], report)
    return {HAS_ROWS: has_rows, TOTALS_EQUAL: totals}


def test_the_report_checks_fail_on_a_missing_day_and_on_one_cent(tmp_path):
    """The project's checks catch what dbt build lets through: a day the report lacks, a cost one cent off."""
    import duckdb

    path = str(tmp_path / "warehouse.duckdb")
    with WarehouseResource(duckdb_path=path).open():
        pass  # the warehouse's tables
    con = duckdb.connect(path)
    con.execute(
        "insert into linkedin_ads.campaign_daily_metrics (campaign_id, date, account_id, clicks, impressions, "
        "cost_in_usd, conversion_value_in_local_currency) values "
        "(7, '2025-03-01', 1, 3, 100, 12.34, 5.5), (7, '2025-03-02', 1, 4, 120, 0.10, null)"
    )
    con.execute("create schema r")
    con.execute(
        "create table r.linkedin_ads__campaign_report as select 7 as campaign_id, timestamp '2025-03-01' as date_day, "
        "3 as clicks, 100 as impressions, cast(12.35 as decimal(38, 18)) as cost, "
        "cast(5.5 as double) as conversion_value_in_local_currency"
    )
    con.close()
    warehouse = WarehouseResource(duckdb_path=str(path))
    results = _check_results(warehouse, "r")
    assert not results[HAS_ROWS].passed and results[HAS_ROWS].metadata["missing_periods"].value == 1
    assert not results[TOTALS_EQUAL].passed and results[TOTALS_EQUAL].metadata["differing_pairs"].value == 2
    con = duckdb.connect(path)
    con.execute("update r.linkedin_ads__campaign_report set cost = 12.34")
    con.execute("insert into r.linkedin_ads__campaign_report values (7, timestamp '2025-03-02', 4, 120, 0.10, 0)")
    con.close()
    results = _check_results(warehouse, "r")
    assert results[HAS_ROWS].passed and results[TOTALS_EQUAL].passed, results
    assert {spec.key.name for spec in report_checks.check_specs} == {HAS_ROWS, TOTALS_EQUAL}


# ---------------------------------------------------------------------------------------------------- (c)


def _frame(pg_url: str, sql: str) -> pd.DataFrame:
    with psycopg.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])


def _report_totals(pg_url: str, reports: str, report: str, id_column: str) -> pd.DataFrame:
    return _frame(
        pg_url,
        f"""select {id_column} as id, cast(date_day as date) as day, sum(clicks) as clicks,
                sum(impressions) as impressions, sum(cost) as cost,
                sum(conversion_value_in_local_currency) as conversion_value
            from "{reports}"."{report}" group by 1, 2 order by 1, 2""",
    )


def _daily_totals(pg_url: str, schema: str, table: str, id_column: str) -> pd.DataFrame:
    """The daily table as the report should repeat it: cost is cost_in_usd; the conversion value is the numeric
    value as the package casts it (``float``): the same double, so it is compared exactly too."""
    return _frame(
        pg_url,
        f"""select {id_column} as id, date as day, clicks, impressions, cost_in_usd as cost,
                cast(coalesce(conversion_value_in_local_currency, 0) as float) as conversion_value
            from "{schema}"."{table}" order by 1, 2""",
    )


def _assert_totals_equal(pg_url: str, schema: str, reports: str) -> None:
    for report, (table, id_column) in TOTALS.items():
        got, want = _report_totals(pg_url, reports, report, id_column), _daily_totals(pg_url, schema, table, id_column)
        assert len(want) > 0, table
        assert got[["id", "day"]].values.tolist() == want[["id", "day"]].values.tolist(), report
        for column in ("clicks", "impressions", "cost", "conversion_value"):
            mismatched = got[column].tolist() != want[column].tolist()
            assert not mismatched, (report, column, _first_difference(got, want, column))
        assert all(isinstance(v, Decimal) for v in got["cost"].dropna()), "cost must stay numeric"


def _assert_monthly_geo_equal(pg_url: str, schema: str, reports: str) -> None:
    """The monthly country and region reports hold exactly the campaign-level demographic rows of their pivot: per
    campaign and month, the same number of values and the same clicks, impressions and cost in USD."""
    for geo, pivot in (("country", "MEMBER_COUNTRY_V2"), ("region", "MEMBER_REGION_V2")):
        got = _frame(
            pg_url,
            f"select campaign_id, date_month as month, count(*) as n, sum(clicks) as clicks, "
            f"sum(impressions) as impressions, sum(cost) as cost "
            f'from "{reports}"."linkedin_ads__monthly_campaign_{geo}_report" group by 1, 2 order by 1, 2',
        )
        want = _frame(
            pg_url,
            f"select entity_id as campaign_id, month, count(*) as n, sum(clicks) as clicks, "
            f'sum(impressions) as impressions, sum(cost_in_usd) as cost from "{schema}".demographic_metrics '
            f"where level = 'campaign' and pivot = '{pivot}' group by 1, 2 order by 1, 2",
        )
        assert len(want) > 0, pivot
        got["month"] = [pd.Timestamp(m).date() for m in got["month"]]
        want["month"] = [pd.Timestamp(m).date() for m in want["month"]]
        assert got.values.tolist() == want.values.tolist(), geo


def _assert_conversion_report_equal(pg_url: str, schema: str, reports: str) -> None:
    """The conversion report holds every per-rule campaign row, each with its rule's and campaign's names."""
    columns = "date_day, campaign_id, conversion_id, external_website_conversions, conversion_value_in_local_currency"
    got = _frame(pg_url, f'select {columns} from "{reports}"."linkedin_ads__conversion_report" order by 1, 2, 3')
    want = _frame(
        pg_url,
        f"select date as date_day, campaign_id, conversion_id, external_website_conversions, "
        f'conversion_value_in_local_currency from "{schema}".campaign_conversion_daily_metrics order by 1, 2, 3',
    )
    assert len(want) > 0 and got.values.tolist() == want.values.tolist()
    names = _frame(
        pg_url,
        f'select count(*) as n from "{reports}".linkedin_ads__conversion_report '
        "where conversion_name is null or conversion_type is null or campaign_name is null or account_name is null",
    )
    assert names.iloc[0]["n"] == 0


def _first_difference(got: pd.DataFrame, want: pd.DataFrame, column: str) -> object:
    for (i, a), (_, b) in zip(got.iterrows(), want.iterrows(), strict=True):
        if a[column] != b[column]:
            return i, a.to_dict(), b.to_dict()
    return None


def _assert_horizontal_sum_conversion_value(pg_url: str, reports: str) -> None:
    """The package's horizontal_sum_conversion_value test, over numeric sums (exact): every level adds up the same."""
    totals = {
        level: _frame(
            pg_url,
            f'select sum(cast(conversion_value_in_local_currency as numeric)) as v from "{reports}".'
            f'"linkedin_ads__{level}_report"',
        ).iloc[0]["v"]
        for level in ("creative", "campaign", "campaign_group", "account")
    }
    assert len(set(totals.values())) == 1 and totals["creative"] > 0, totals
    with_url = _frame(
        pg_url,
        f"""select sum(cast(c.conversion_value_in_local_currency as numeric)) as v
            from "{reports}"."linkedin_ads__creative_report" c
            join "{reports}"."linkedin_ads__url_report" u on c.creative_id = u.creative_id and c.date_day = u.date_day""",
    ).iloc[0]["v"]
    url_total = _frame(
        pg_url,
        f'select sum(cast(conversion_value_in_local_currency as numeric)) as v from "{reports}"."linkedin_ads__url_report"',
    ).iloc[0]["v"]
    assert with_url == url_total or (with_url is None and url_total is None), (with_url, url_total)


def _materialize_reports(sim, pg_url: str, schema: str, tmp_path: Path) -> dg.ExecuteInProcessResult:
    """The reports job of the project's definitions on the synced warehouse, as a sync's last stage runs it."""
    from linkedin_assets.cli.sync import run_stage
    from linkedin_assets.definitions import build_definitions, build_resources
    from linkedin_assets_tests.ground_truth import sim_settings

    settings = sim_settings(sim, tmp_path)
    warehouse = WarehouseResource(database_url=pg_url, schema_name=schema)
    defs = build_definitions(settings, build_resources(settings, warehouse=warehouse, snapshot_dir=str(tmp_path)))
    with dg.DagsterInstance.ephemeral() as instance:
        return run_stage(defs, instance, REPORTS_JOB, {})


def _dbt_failures(result: dg.ExecuteInProcessResult) -> list[str]:
    evaluations = result.get_asset_check_evaluations()
    return [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations if not e.passed]


def test_a_synced_warehouse_fills_every_report_with_the_daily_tables_totals(
    simulator, pg_url, pg_schema, tmp_path, monkeypatch
):
    """Sync the simulator into PostgreSQL, then materialize the dbt assets through Dagster: zero dbt failures, every
    report non-empty, the campaign and creative reports' totals per day equal to the daily tables, the conversion
    value adding up the same at every level, and the monthly country and region reports equal to the campaign-level
    demographic rows."""
    reports = f"{pg_schema}_reports"
    start = YESTERDAY - dt.timedelta(days=13)
    try:
        sync = sync_in_process(simulator, pg_url, pg_schema, tmp_path, start, YESTERDAY)
        assert [r.success for r in sync.results] == [True, True]
        result = _materialize_reports(simulator, pg_url, pg_schema, tmp_path)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) == TESTS + CONVERSION_REPORT_TESTS + len(PERIOD_SOURCES) + len(TOTALS)
        assert _dbt_failures(result) == []
        counts = {r: _frame(pg_url, f'select count(*) as n from "{reports}"."{r}"').iloc[0]["n"] for r in REPORTS}
        assert all(counts[r] > 0 for r in REPORTS if r != "linkedin_ads__url_report"), counts
        # the URL report holds the creatives with a landing page (text and spotlight ads) that delivered
        paged = _frame(pg_url, f'select count(distinct c.id) as n from "{pg_schema}".creatives c join "{pg_schema}"'
                       ".creative_daily_metrics m on m.creative_id = c.id where c.text_ad_landing_page is not null "
                       "or c.spotlight_landing_page is not null").iloc[0]["n"]  # fmt: skip
        assert (counts["linkedin_ads__url_report"] > 0) == (paged > 0), (counts, paged)
        _assert_totals_equal(pg_url, pg_schema, reports)
        _assert_horizontal_sum_conversion_value(pg_url, reports)
        _assert_monthly_geo_equal(pg_url, pg_schema, reports)
        _assert_conversion_report_equal(pg_url, pg_schema, reports)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for schema in (reports, f"{reports}_staging"):
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_the_report_settings_default_to_the_fivetran_names():
    settings = load_settings({})
    assert (settings.fivetran_schema, settings.reports_schema) == ("linkedin_ads_fivetran", "linkedin_ads_reports")
    assert settings.dbt_project_dir is None and settings.dbt_packages_dir is None
    other = load_settings({"LINKEDIN_ASSETS_SCHEMA": "ads"})
    assert (other.fivetran_schema, other.reports_schema) == ("ads_fivetran", "ads_reports")
