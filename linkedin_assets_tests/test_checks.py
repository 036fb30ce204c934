"""The asset checks on a synced warehouse: all pass on good data, each fails on the data it guards against, and the
snapshot refuses to publish while an integrity rule fails."""

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from linkedin_assets import checks
from linkedin_assets.assets.metrics import campaign_daily_metrics, creative_daily_metrics
from linkedin_assets.assets.snapshot import snapshot
from linkedin_assets.io_managers.warehouse import WarehouseResource
from linkedin_assets.warehouse.backends import DEFAULT_SCHEMA
from linkedin_assets_tests.test_assets import definitions, history, point_at, sync

CAMPAIGN = campaign_daily_metrics.key
CREATIVE = creative_daily_metrics.key
UTC = dt.UTC


@pytest.fixture(scope="module")
def synced(simulator, tmp_path_factory):
    """One sync of the shared small simulator into DuckDB, and the instance that recorded it."""
    tmp_path = tmp_path_factory.mktemp("checks_synced")
    with pytest.MonkeyPatch.context() as monkeypatch:
        point_at(monkeypatch, simulator, tmp_path)
        warehouse = WarehouseResource(duckdb_path=str(tmp_path / "warehouse.duckdb"))
        with dg.DagsterInstance.ephemeral() as instance:
            assert all(r.success for r in sync(definitions(warehouse, tmp_path), instance, *history(simulator)))
            yield tmp_path, instance


class Warehouse:
    """A private copy of the synced warehouse and snapshots, with the code location pointed at it."""

    def __init__(self, synced_dir: Path, instance: dg.DagsterInstance, tmp_path: Path) -> None:
        shutil.copy(synced_dir / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
        shutil.copytree(synced_dir / "snapshots", tmp_path / "snapshots")
        self.path = tmp_path / "warehouse.duckdb"
        self.latest = tmp_path / "snapshots" / "latest.json"
        self.instance = instance
        self.defs = definitions(WarehouseResource(duckdb_path=str(self.path)), tmp_path)

    def sql(self, statement: str) -> None:
        with duckdb.connect(str(self.path)) as conn:
            conn.execute(f"SET schema = '{DEFAULT_SCHEMA}'")
            conn.execute(statement)

    def run_checks(self) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
        result = dg.materialize(
            [*self.defs.assets, *self.defs.asset_checks],
            selection=dg.AssetSelection.all_asset_checks(),
            resources=self.defs.resources,
            instance=self.instance,
            raise_on_error=False,
        )
        return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}

    def publish_snapshot(self) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            self.defs.assets,
            selection=dg.AssetSelection.assets(snapshot),
            resources=self.defs.resources,
            instance=self.instance,
            raise_on_error=False,
        )


@pytest.fixture
def warehouse(synced, tmp_path) -> Warehouse:
    return Warehouse(*synced, tmp_path)


def failed(evaluations: dict[tuple[str, str], dg.AssetCheckEvaluation]) -> dict[tuple[str, str], int | None]:
    """The failed checks and their violation counts."""
    return {
        key: (e.metadata["violations"].value if "violations" in e.metadata else None)
        for key, e in evaluations.items()
        if not e.passed
    }


def test_every_check_passes_on_synced_data(warehouse):
    evaluations = warehouse.run_checks()
    expected = {(spec.asset_key.path[-1], spec.name) for c in warehouse.defs.asset_checks for spec in c.check_specs}
    assert set(evaluations) == expected
    assert failed(evaluations) == {}
    assert evaluations[("demographic_metrics", "demographic_coverage")].metadata["account_months"].value > 0


CORRUPTIONS = {
    "clicks over impressions": (
        """UPDATE campaign_daily_metrics SET clicks = impressions + 1
           WHERE (campaign_id, date) IN (SELECT campaign_id, date FROM campaign_daily_metrics
                                         ORDER BY campaign_id, date LIMIT 2)""",
        {("campaign_daily_metrics", "clicks_within_impressions"): 2},
        "campaign_daily_metrics clicks <= impressions (2 violation(s))",
    ),
    "negative spend": (
        """UPDATE creative_daily_metrics SET cost_in_local_currency = CASE WHEN date = (SELECT MIN(date)
           FROM creative_daily_metrics) THEN -5 ELSE CAST('-2E-18' AS DECIMAL(38, 18)) END
           WHERE creative_id = (SELECT MIN(creative_id) FROM creative_daily_metrics)""",
        {("creative_daily_metrics", "no_negative_spend"): 1},
        "creative_daily_metrics no negative spend (1 violation(s))",
    ),
    "orphan metric row": (
        """INSERT INTO campaign_daily_metrics
           SELECT * REPLACE (999999999 AS campaign_id, 0 AS impressions, 0 AS clicks)
           FROM campaign_daily_metrics ORDER BY campaign_id, date LIMIT 1""",
        {("campaign_daily_metrics", "rows_of_known_entities"): 1},
        "campaign_daily_metrics rows of known campaigns (1 violation(s))",
    ),
    "creative impressions over the campaign's": (
        """UPDATE creative_daily_metrics cr SET impressions = c.impressions + 1
           FROM campaign_daily_metrics c
           WHERE c.campaign_id = cr.campaign_id AND c.date = cr.date
             AND (cr.creative_id, cr.date) = (SELECT (creative_id, date) FROM creative_daily_metrics
                                              ORDER BY creative_id, date LIMIT 1)""",
        {("creative_daily_metrics", "creative_totals_within_campaign"): 1},
        "creative totals within campaign totals (1 violation(s))",
    ),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_corrupted_data_fails_its_check_and_blocks_the_snapshot(warehouse, corruption):
    statement, expected, message = CORRUPTIONS[corruption]
    published = warehouse.latest.read_bytes()
    warehouse.sql(statement)

    assert failed(warehouse.run_checks()) == expected

    result = warehouse.publish_snapshot()
    assert not result.success
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert "Not publishing a snapshot of data that fails integrity checks" in error.message
    assert message in error.message
    assert warehouse.latest.read_bytes() == published


def test_spend_noise_alone_passes_and_publishes(warehouse):
    warehouse.sql(
        """UPDATE creative_daily_metrics SET cost_in_local_currency = CAST('-2E-18' AS DECIMAL(38, 18)),
                                             cost_in_usd = CAST('-2E-18' AS DECIMAL(38, 18))
           WHERE creative_id = (SELECT MIN(creative_id) FROM creative_daily_metrics)"""
    )
    assert failed(warehouse.run_checks()) == {}
    published = warehouse.latest.read_bytes()
    assert warehouse.publish_snapshot().success
    assert warehouse.latest.read_bytes() != published


@pytest.mark.parametrize(
    "deletion",
    [
        """DELETE FROM demographic_metrics WHERE "pivot" = 'MEMBER_SENIORITY'""",
        "DELETE FROM demographic_metrics WHERE account_id = (SELECT MIN(account_id) FROM campaign_daily_metrics)",
    ],
    ids=["a pivot", "an account"],
)
def test_demographic_coverage_warns_when_rows_are_missing(warehouse, deletion):
    warehouse.sql(deletion)
    evaluations = warehouse.run_checks()
    assert failed(evaluations) == {("demographic_metrics", "demographic_coverage"): None}
    coverage = evaluations[("demographic_metrics", "demographic_coverage")]
    assert coverage.severity == dg.AssetCheckSeverity.WARN
    assert coverage.metadata["low"].value


# ------------------------------------------------------------------------------------------------- freshness


@pytest.fixture
def deadline_9(monkeypatch):
    monkeypatch.setattr(checks, "FRESHNESS_HOUR", 9)


@pytest.mark.usefixtures("deadline_9")
@pytest.mark.parametrize(
    ("now", "present", "passed"),
    [
        (dt.datetime(2026, 3, 10, 8, 59, tzinfo=UTC), False, True),
        (dt.datetime(2026, 3, 10, 9, 0, tzinfo=UTC), False, False),
        (dt.datetime(2026, 3, 10, 23, 0, tzinfo=UTC), False, False),
        (dt.datetime(2026, 3, 10, 8, 0, tzinfo=UTC), True, True),
        (dt.datetime(2026, 3, 10, 9, 30, tzinfo=UTC), True, True),
    ],
)
def test_freshness_requires_yesterday_after_the_deadline_hour(now, present, passed):
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(CAMPAIGN, partition="2026-03-08"))
        if present:
            instance.report_runless_asset_event(dg.AssetMaterialization(CAMPAIGN, partition="2026-03-09"))
        result = checks.freshness_result(instance, CAMPAIGN, now)
    assert result.passed is passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["yesterday"].value == "2026-03-09"


@pytest.mark.usefixtures("deadline_9")
def test_freshness_judges_the_day_and_hour_in_utc():
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(CAMPAIGN, partition="2026-03-09"))
        # 01:00 in UTC+5 is 20:00 UTC the day before: yesterday is 2026-03-08, missing, and past the deadline
        result = checks.freshness_result(
            instance, CAMPAIGN, dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=5)))
        )
    assert result.metadata["yesterday"].value == "2026-03-08"
    assert not result.passed


def test_freshness_of_creative_metrics_is_its_own(deadline_9):
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(CAMPAIGN, partition="2026-03-09"))
        now = dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
        assert checks.freshness_result(instance, CAMPAIGN, now).passed
        assert not checks.freshness_result(instance, CREATIVE, now).passed
