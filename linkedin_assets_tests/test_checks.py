"""The asset checks on warehouse data written here, in real Dagster runs, on PostgreSQL and on DuckDB.

Stand-in assets with the keys of the metric assets write prepared rows through the real warehouse IO manager (so the
rows carry the run id and the materialization carries the metadata the checks scope by); the real checks and the
real snapshot asset judge them. LinkedIn's legitimate oddities land, warn and reach the snapshot; the project's own
inconsistencies fail their blocking check and stop what comes downstream.
"""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from linkedin_assets.defs import checks
from linkedin_assets.defs.assets.snapshot import snapshot
from linkedin_assets.defs.io_managers.snapshot_json import SnapshotJsonIOManager
from linkedin_assets.defs.io_managers.warehouse import WarehouseIOManager, WarehouseResource, run_lineage
from linkedin_assets.defs.partitions import daily_partitions as daily_partitions_from
from linkedin_assets.defs.partitions import last_complete_day, month_key, partition_tags
from linkedin_assets.defs.partitions import monthly_partitions as monthly_partitions_from
from linkedin_assets.defs.resources import SyncSettings
from linkedin_assets.linkedin.fields import MEMBER_PIVOTS
from linkedin_assets.settings import Settings
from linkedin_assets.snapshot.schema import Snapshot
from linkedin_assets.warehouse import WarehouseBatch

UTC = dt.UTC
CAMPAIGN = checks.key_of(checks.CAMPAIGN_DAILY)
CREATIVE = checks.key_of(checks.CREATIVE_DAILY)
DEMOGRAPHIC = checks.key_of(checks.DEMOGRAPHICS)
YESTERDAY = last_complete_day()
daily_partitions = daily_partitions_from(Settings().start_date)
monthly_partitions = monthly_partitions_from(Settings().start_date)
DAYS = [YESTERDAY - dt.timedelta(days=2), YESTERDAY - dt.timedelta(days=1), YESTERDAY]
D1, D2, D3 = DAYS

ACCOUNTS = {501: "Acme", 502: "Globex | EU"}
CAMPAIGNS = {11: 501, 12: 501, 21: 502}  # campaign -> account
CREATIVES = {111: 11, 112: 11, 121: 12, 211: 21}  # creative -> campaign
SHARE = {111: (600, 6, "7.00"), 112: (400, 4, "5.34"), 121: (1000, 10, "12.34"), 211: (1000, 10, "12.34")}
"""Each creative's impressions, clicks and cost per day; the campaigns' days are the sums (1000, 10, 12.34)."""
DUST = Decimal("-2E-18")


# ------------------------------------------------------------------------------------------------- the data


class Data:
    """The rows the stand-in assets write; tests change them to make an oddity or a project-side break."""

    def __init__(self) -> None:
        self.campaign_days = pd.DataFrame(
            [
                {
                    "campaign_id": c,
                    "date": d,
                    "account_id": a,
                    "impressions": 1000,
                    "clicks": 10,
                    "cost_in_local_currency": Decimal("12.34"),
                    "cost_in_usd": Decimal("12.34"),
                }
                for c, a in CAMPAIGNS.items()
                for d in DAYS
            ]
        )
        self.creative_days = pd.DataFrame(
            [
                {
                    "creative_id": cr,
                    "date": d,
                    "account_id": CAMPAIGNS[c],
                    "campaign_id": c,
                    "impressions": SHARE[cr][0],
                    "clicks": SHARE[cr][1],
                    "cost_in_local_currency": Decimal(SHARE[cr][2]),
                    "cost_in_usd": Decimal(SHARE[cr][2]),
                }
                for cr, c in CREATIVES.items()
                for d in DAYS
            ]
        )
        self.account_ids: tuple[int, ...] = tuple(ACCOUNTS)
        self.date_range: tuple[dt.date, dt.date] | None = None
        """``None``: the run's partitions."""

    def add_oddities(self) -> None:
        """What LinkedIn legitimately sends: clicks above impressions on one campaign-day, one creative-day that
        takes its campaign's creatives past the campaign, and a zero cost sent as floating-point dust."""
        c, cr = self.campaign_days, self.creative_days
        c.loc[(c.campaign_id == 12) & (c.date == D2), "clicks"] = 1200
        cr.loc[(cr.creative_id == 111) & (cr.date == D3), "impressions"] = 700
        cr.loc[(cr.creative_id == 112) & (cr.date == D1), ["cost_in_local_currency", "cost_in_usd"]] = DUST

    def demographic_rows(self) -> pd.DataFrame:
        """Account-level rows covering every account-month's impressions fully, for every pivot."""
        per_month = self.campaign_days.assign(month=[d.replace(day=1) for d in self.campaign_days.date])
        totals = per_month.groupby(["account_id", "month"])["impressions"].sum()
        return pd.DataFrame(
            [
                {
                    "level": "account",
                    "entity_id": a,
                    "account_id": a,
                    "pivot": p,
                    "value": f"urn:li:{p.lower()}:1",
                    "month": m,
                    "impressions": int(n),
                }
                for (a, m), n in totals.items()
                for p in MEMBER_PIVOTS
            ]
        )


def stand_ins(data: Data) -> list[dg.AssetsDefinition]:
    """Assets with the keys of the real ones (same partitions, same IO manager) that write ``data``."""

    def batch(frame: pd.DataFrame) -> WarehouseBatch:
        return WarehouseBatch(frame, account_ids=tuple(ACCOUNTS))

    @dg.asset(key=["linkedin_ads", "accounts"], io_manager_key="warehouse_io")
    def accounts() -> WarehouseBatch:
        return batch(pd.DataFrame([{"id": a, "name": n, "currency": "USD"} for a, n in ACCOUNTS.items()]))

    @dg.asset(key=["linkedin_ads", "campaigns"], io_manager_key="warehouse_io", deps=[accounts])
    def campaigns() -> WarehouseBatch:
        return batch(pd.DataFrame([{"id": c, "account_id": a, "name": f"campaign {c}"} for c, a in CAMPAIGNS.items()]))

    @dg.asset(key=["linkedin_ads", "creatives"], io_manager_key="warehouse_io", deps=[campaigns])
    def creatives() -> WarehouseBatch:
        return batch(
            pd.DataFrame(
                [
                    {
                        "id": cr,
                        "account_id": CAMPAIGNS[c],
                        "campaign_id": c,
                        "name": f"creative {cr}",
                        "name_source": "test",
                    }
                    for cr, c in CREATIVES.items()
                ]
            )
        )

    def in_run(context: dg.AssetExecutionContext, frame: pd.DataFrame) -> WarehouseBatch:
        window = context.partition_time_window
        days = frame[(frame.date >= window.start.date()) & (frame.date < window.end.date())]
        return WarehouseBatch(days.reset_index(drop=True), account_ids=data.account_ids, date_range=data.date_range)

    daily = {"partitions_def": daily_partitions, "io_manager_key": "warehouse_io", "backfill_policy": None}

    @dg.asset(key=CAMPAIGN, deps=[campaigns], **daily)
    def campaign_daily_metrics(context: dg.AssetExecutionContext) -> WarehouseBatch:
        return in_run(context, data.campaign_days)

    @dg.asset(key=CREATIVE, deps=[creatives, campaign_daily_metrics], **daily)
    def creative_daily_metrics(context: dg.AssetExecutionContext) -> WarehouseBatch:
        return in_run(context, data.creative_days)

    @dg.asset(partitions_def=daily_partitions, deps=[creative_daily_metrics])
    def after_creatives() -> None:
        """What comes downstream of the metrics in the same run."""

    @dg.asset(key=DEMOGRAPHIC, partitions_def=monthly_partitions, io_manager_key="warehouse_io")
    def demographic_metrics(context: dg.AssetExecutionContext) -> WarehouseBatch:
        window = context.partition_time_window
        rows = data.demographic_rows()
        rows = rows[(rows.month >= window.start.date()) & (rows.month < window.end.date())].reset_index(drop=True)
        return WarehouseBatch(rows, account_ids=data.account_ids)

    @dg.asset(key=["linkedin_ads", "campaign_groups"], io_manager_key="warehouse_io")
    def campaign_groups() -> WarehouseBatch:
        return batch(pd.DataFrame(columns=["id", "account_id", "name"]))

    @dg.asset(key=["linkedin_ads", "demographic_values"], io_manager_key="warehouse_io")
    def demographic_values() -> WarehouseBatch:
        return batch(pd.DataFrame(columns=["value", "pivot", "name"]))

    return [
        accounts,
        campaigns,
        creatives,
        campaign_daily_metrics,
        creative_daily_metrics,
        after_creatives,
        demographic_metrics,
        campaign_groups,
        demographic_values,
    ]


# ------------------------------------------------------------------------------------------------- harness


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request, tmp_path) -> WarehouseResource:
    if request.param == "duckdb":
        return WarehouseResource(duckdb_path=str(tmp_path / "warehouse.duckdb"))
    return WarehouseResource(
        database_url=request.getfixturevalue("pg_url"), schema_name=request.getfixturevalue("pg_schema")
    )


class Project:
    """The stand-ins, the real checks and the real snapshot asset on one warehouse and one Dagster instance."""

    def __init__(self, warehouse: WarehouseResource, instance: dg.DagsterInstance, tmp_path: Path) -> None:
        self.warehouse = warehouse
        self.instance = instance
        self.data = Data()
        self.snapshots = tmp_path / "snapshots"
        self.resources = {
            "warehouse": warehouse,
            "warehouse_io": WarehouseIOManager(warehouse=warehouse),
            "settings": SyncSettings.of(Settings()),
            "snapshot_io": SnapshotJsonIOManager(base_dir=str(self.snapshots)),
        }

    def run(self, selection, tags: dict[str, str] | None = None) -> dg.ExecuteInProcessResult:
        assets = [*stand_ins(self.data), snapshot]
        return dg.materialize(
            [*assets, *checks.asset_checks],
            selection=selection,
            resources=self.resources,
            instance=self.instance,
            tags=tags,
            raise_on_error=False,
        )

    def sync_days(self, first: dt.date = D1, last: dt.date = D3) -> dg.ExecuteInProcessResult:
        """The daily run: entities, the two metric assets over ``first..last``, their checks, and what follows."""
        keys = ["accounts", "campaigns", "creatives", "campaign_daily_metrics", "creative_daily_metrics"]
        selection = dg.AssetSelection.assets(*(["linkedin_ads", k] for k in keys), "after_creatives")
        return self.run(selection, partition_tags(first.isoformat(), last.isoformat()))

    def sync_months(self) -> dg.ExecuteInProcessResult:
        """The monthly run: demographics, their checks, and the snapshot."""
        selection = dg.AssetSelection.assets(
            DEMOGRAPHIC, ["linkedin_ads", "campaign_groups"], ["linkedin_ads", "demographic_values"], snapshot
        )
        return self.run(selection, partition_tags(month_key(D1), month_key(D3)))

    def run_checks(self) -> dg.ExecuteInProcessResult:
        """A checks-only run (what the UI's "Execute checks" does): each judges its asset's latest write."""
        return self.run(dg.AssetSelection.all_asset_checks())

    def sql(self, statement: str) -> None:
        """Change the tables behind the project's back (what a bug, or a process outside Dagster, would do)."""
        with self.warehouse.open() as wh:
            statement = statement.replace("{schema}", wh.schema)
        if self.warehouse.database_url:
            import psycopg

            with psycopg.connect(self.warehouse.database_url, autocommit=True) as conn:
                conn.execute(statement)
        else:
            with duckdb.connect(self.warehouse.duckdb_path) as conn:
                conn.execute(statement)

    def count(self, table: str) -> int:
        with self.warehouse.open() as wh:
            return len(wh.read(table))


@pytest.fixture
def project(warehouse, tmp_path):
    with dg.DagsterInstance.ephemeral() as instance:
        yield Project(warehouse, instance, tmp_path)


def evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def failed(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], tuple[str, int | None]]:
    """The failed checks: their severity and violation count."""
    return {
        key: (e.severity.value, e.metadata["violations"].value if "violations" in e.metadata else None)
        for key, e in evaluations(result).items()
        if not e.passed
    }


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}


def check_specs() -> dict[tuple[str, str], bool]:
    return {(s.asset_key.path[-1], s.name): s.blocking for c in checks.asset_checks for s in c.check_specs}


# ------------------------------------------------------------------------------------------------- tests


def test_only_the_project_side_checks_block():
    assert check_specs() == {
        ("campaign_daily_metrics", "clicks_within_impressions"): False,
        ("campaign_daily_metrics", "no_negative_spend"): False,
        ("campaign_daily_metrics", "yesterday_present"): False,
        ("creative_daily_metrics", "clicks_within_impressions"): False,
        ("creative_daily_metrics", "no_negative_spend"): False,
        ("creative_daily_metrics", "yesterday_present"): False,
        ("creative_daily_metrics", "creative_totals_within_campaign"): False,
        ("demographic_metrics", "demographic_coverage"): False,
        ("campaign_daily_metrics", "rows_of_known_entities"): False,
        ("creative_daily_metrics", "rows_of_known_entities"): False,
        ("campaign_daily_metrics", "rows_match_their_run"): True,
        ("creative_daily_metrics", "rows_match_their_run"): True,
        ("demographic_metrics", "rows_match_their_run"): True,
    }


def test_every_check_passes_on_good_data(project):
    daily, monthly = project.sync_days(), project.sync_months()
    assert daily.success and monthly.success
    judged = {**evaluations(daily), **evaluations(monthly)}
    assert set(judged) == set(check_specs())
    assert failed(daily) == {} and failed(monthly) == {}
    reconciled = judged[("campaign_daily_metrics", "rows_match_their_run")].metadata
    assert reconciled["rows_written"].value == reconciled["rows_with_run_id"].value == 9
    assert reconciled["run_id"].value == daily.run_id
    assert judged[("creative_daily_metrics", "rows_match_their_run")].metadata["rows_with_run_id"].value == 12
    document = Snapshot.model_validate_json((project.snapshots / "latest.json").read_text())
    assert document.warnings == []


def test_legitimate_oddities_land_warn_and_reach_the_snapshot(project):
    project.data.add_oddities()
    daily = project.sync_days()

    # every row landed and nothing downstream was skipped
    assert daily.success
    assert {"campaign_daily_metrics", "creative_daily_metrics", "after_creatives"} <= materialized(daily)
    assert (project.count("campaign_daily_metrics"), project.count("creative_daily_metrics")) == (9, 12)

    # the WARN checks fail with the right count, sample and rule; the dust is within the tolerance
    assert failed(daily) == {
        ("campaign_daily_metrics", "clicks_within_impressions"): ("WARN", 1),
        ("creative_daily_metrics", "creative_totals_within_campaign"): ("WARN", 1),
    }
    judged = evaluations(daily)
    clicks = judged[("campaign_daily_metrics", "clicks_within_impressions")].metadata
    assert clicks["sample"].value == [{"entity_id": 12, "day": D2.isoformat(), "clicks": 1200, "impressions": 1000}]
    assert clicks["rule"].value == "clicks <= impressions"
    assert clicks["scope"].value == f"{D1}..{D3}, 2 account(s)"
    totals = judged[("creative_daily_metrics", "creative_totals_within_campaign")].metadata
    assert totals["sample"].value == [
        {
            "entity_id": 11,
            "day": D3.isoformat(),
            "campaign_impressions": 1000,
            "creative_impressions": 1100,
            "campaign_clicks": 10,
            "creative_clicks": 10,
            "campaign_cost": "12.34",
            "creative_cost": "12.34",
        }
    ]
    spend = judged[("creative_daily_metrics", "no_negative_spend")]
    assert spend.passed and spend.metadata["tolerance"].value == "0.000001"

    # the monthly run publishes the snapshot with the warnings and LinkedIn's numbers as sent
    monthly = project.sync_months()
    assert monthly.success and "snapshot" in materialized(monthly)
    document = json.loads((project.snapshots / "latest.json").read_text())
    assert document["warnings"] == [
        {
            "check": "clicks_within_impressions",
            "asset": "campaign_daily_metrics",
            "entity": "campaign",
            "entity_id": 12,
            "day": D2.isoformat(),
            "numbers": {"clicks": 1200, "impressions": 1000},
        },
        {
            "check": "creative_totals_within_campaign",
            "asset": "creative_daily_metrics",
            "entity": "campaign",
            "entity_id": 11,
            "day": D3.isoformat(),
            "numbers": {
                "campaign_impressions": 1000,
                "creative_impressions": 1100,
                "campaign_clicks": 10,
                "creative_clicks": 10,
                "campaign_cost": "12.34",
                "creative_cost": "12.34",
            },
        },
    ]
    (account,) = [a for a in document["accounts"] if a["id"] == 501]
    creative = next(cr for c in account["campaigns"] for cr in c["creatives"] if cr["id"] == 112)
    day_one = next(d for d in creative["daily_metrics"] if d["date"] == D1.isoformat())
    assert day_one["cost_in_local_currency"] == "-0.000000000000000002"
    campaign = next(c for c in account["campaigns"] if c["id"] == 11)
    assert campaign["totals"]["cost_in_local_currency"] == "37.02"  # 3 x 12.34, trailing zeros dropped

    event = next(e for e in monthly.get_asset_materialization_events() if e.asset_key == snapshot.key)
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert (metadata["accounts"], metadata["campaigns"], metadata["warnings"]) == (2, 3, 2)
    assert metadata["summary"].splitlines()[2:] == [
        "| account | campaigns | creatives | impressions | clicks | spend | warnings |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        "| 501 Acme | 2 | 3 | 6,000 | 1,250 | 74.04 USD | 2 |",
        "| 502 Globex \\| EU | 1 | 1 | 3,000 | 30 | 37.02 USD | 0 |",
    ]


def test_checks_judge_only_the_range_the_run_wrote(project):
    project.data.add_oddities()
    assert project.sync_days().success
    again = project.sync_days(D3, D3)  # the oddity of D2 is outside this run's range
    assert again.success
    assert failed(again) == {("creative_daily_metrics", "creative_totals_within_campaign"): ("WARN", 1)}
    clicks = evaluations(again)[("campaign_daily_metrics", "clicks_within_impressions")].metadata
    assert clicks["scope"].value == f"{D3}..{D3}, 2 account(s)"
    reconciled = evaluations(again)[("creative_daily_metrics", "rows_match_their_run")].metadata
    assert reconciled["rows_written"].value == reconciled["rows_with_run_id"].value == 4


def test_negative_spend_beyond_the_dust_warns(project):
    c, cr = project.data.campaign_days, project.data.creative_days  # a refund booked as a negative cost
    c.loc[(c.campaign_id == 21) & (c.date == D1), "cost_in_local_currency"] = Decimal("-5")
    cr.loc[(cr.creative_id == 211) & (cr.date == D1), "cost_in_local_currency"] = Decimal("-5")
    daily = project.sync_days()
    assert daily.success and project.count("campaign_daily_metrics") == 9
    assert failed(daily) == {
        ("campaign_daily_metrics", "no_negative_spend"): ("WARN", 1),
        ("creative_daily_metrics", "no_negative_spend"): ("WARN", 1),
    }
    sample = evaluations(daily)[("campaign_daily_metrics", "no_negative_spend")].metadata["sample"].value
    assert sample == [{"entity_id": 21, "day": D1.isoformat(), "cost_in_local_currency": "-5", "cost_in_usd": "12.34"}]


def test_missing_demographics_warn(project):
    assert project.sync_days().success
    rows = project.data.demographic_rows

    def without_seniority() -> pd.DataFrame:
        frame = rows()
        return frame[frame["pivot"] != "MEMBER_SENIORITY"].reset_index(drop=True)

    project.data.demographic_rows = without_seniority
    monthly = project.sync_months()
    assert monthly.success and "snapshot" in materialized(monthly)
    months = len({month_key(d) for d in DAYS})
    assert failed(monthly) == {("demographic_metrics", "demographic_coverage"): ("WARN", 2 * months)}
    document = json.loads((project.snapshots / "latest.json").read_text())
    assert {(w["check"], w["entity"], w["entity_id"]) for w in document["warnings"]} == {
        ("demographic_coverage", "account", 501),
        ("demographic_coverage", "account", 502),
    }


def test_metric_rows_of_campaigns_the_listing_lacks_land_and_warn(project):
    """LinkedIn reports delivery of campaigns its listing no longer returns: the rows land, a WARN check names them,
    nothing downstream is held back, and the snapshot lists them in its warnings with their numbers."""
    orphan = project.data.campaign_days.iloc[[0]].assign(campaign_id=99)
    project.data.campaign_days = pd.concat([project.data.campaign_days, orphan], ignore_index=True)
    daily = project.sync_days()
    assert daily.success
    assert failed(daily) == {("campaign_daily_metrics", "rows_of_known_entities"): ("WARN", 1)}
    sample = evaluations(daily)[("campaign_daily_metrics", "rows_of_known_entities")].metadata["sample"].value
    assert [(s["entity_id"], s["day"], s["account_id"]) for s in sample] == [(99, D1.isoformat(), 501)]
    assert project.count("campaign_daily_metrics") == 10
    assert {"campaign_daily_metrics", "creative_daily_metrics", "after_creatives"} <= materialized(daily)
    monthly = project.sync_months()
    assert monthly.success and "snapshot" in materialized(monthly)
    document = json.loads((project.snapshots / "latest.json").read_text())
    warned = [w for w in document["warnings"] if w["check"] == "rows_of_known_entities"]
    assert [(w["entity"], w["entity_id"], w["day"]) for w in warned] == [("campaign", 99, D1.isoformat())]


@pytest.mark.parametrize(
    "break_scope",
    [
        pytest.param(lambda data: setattr(data, "date_range", (D2, D3)), id="rows outside the replaced dates"),
        pytest.param(lambda data: setattr(data, "account_ids", (501,)), id="rows outside the replaced accounts"),
    ],
)
def test_a_write_whose_rows_exceed_its_scope_blocks(project, break_scope):
    break_scope(project.data)
    daily = project.sync_days()
    assert not daily.success
    assert set(failed(daily)) == {("campaign_daily_metrics", "rows_match_their_run")}
    reconciled = evaluations(daily)[("campaign_daily_metrics", "rows_match_their_run")].metadata
    assert reconciled["rows_written"].value == 9 and reconciled["rows_with_run_id"].value == 6
    assert not {"creative_daily_metrics", "after_creatives"} & materialized(daily)


def test_a_row_changed_after_its_run_fails_the_checks_only_run(project):
    daily = project.sync_days()
    assert daily.success
    project.sql(
        f"""UPDATE "{{schema}}".creative_daily_metrics SET _dagster_run_id = 'another run'
            WHERE creative_id = 121 AND date = DATE '{D2}'"""
    )
    again = project.run_checks()
    assert failed(again) == {("creative_daily_metrics", "rows_match_their_run"): ("ERROR", 1)}
    metadata = evaluations(again)[("creative_daily_metrics", "rows_match_their_run")].metadata
    assert metadata["run_id"].value == daily.run_id
    assert metadata["sample"].value == [
        {"entity_id": 121, "day": D2.isoformat(), "account_id": 501, "_dagster_run_id": "another run"}
    ]


def test_rows_of_a_re_executed_run_reconcile_with_the_run_chain(project):
    """A re-execution from failure skips the shard steps that succeeded: their rows keep the parent run's id."""
    daily = project.sync_days()
    assert daily.success
    parent = daily.run_id
    project.sql(  # account 502's shard failed in the parent run and was written by the re-execution
        """UPDATE "{schema}".creative_daily_metrics SET _dagster_run_id = 're-execution' WHERE account_id = 502"""
    )
    child = project.instance.add_run(
        dg.DagsterRun(job_name="linkedin_daily_sync", run_id="re-execution", parent_run_id=parent, root_run_id=parent)
    )
    assert run_lineage(project.instance, child.run_id) == (child.run_id, parent)
    written = checks.Scope(D1, D3, (501, 502), child.run_id, rows=12, earlier_run_ids=(parent,))
    with project.warehouse.open() as wh:
        foreign, own = checks.unreconciled_rows(wh, checks.CREATIVE_DAILY, written)
        assert (foreign.count, own) == (0, 12)
        # without the chain, the parent's rows would look foreign: the check would block every re-execution
        alone = checks.Scope(D1, D3, (501, 502), child.run_id, rows=12)
        foreign, own = checks.unreconciled_rows(wh, checks.CREATIVE_DAILY, alone)
        assert (foreign.count, own) == (9, 3)


# ------------------------------------------------------------------------------------------------- freshness


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
        result = checks.freshness_result(instance, CAMPAIGN, now, hour=9)
    assert result.passed is passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["yesterday"].value == "2026-03-09"


def test_freshness_judges_the_day_and_hour_in_utc():
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(CAMPAIGN, partition="2026-03-09"))
        # 01:00 in UTC+5 is 20:00 UTC the day before: yesterday is 2026-03-08, missing, and past the deadline
        result = checks.freshness_result(
            instance, CAMPAIGN, dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))), hour=9
        )
    assert result.metadata["yesterday"].value == "2026-03-08"
    assert not result.passed


def test_freshness_of_creative_metrics_is_its_own():
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(CAMPAIGN, partition="2026-03-09"))
        now = dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
        assert checks.freshness_result(instance, CAMPAIGN, now, hour=9).passed
        assert not checks.freshness_result(instance, CREATIVE, now, hour=9).passed
