"""The warehouse against the real PostgreSQL server and an embedded DuckDB file: one test body, both backends."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import psycopg
import pytest

from linkedin_assets.linkedin.catalogue import DAILY_METRICS, DECIMAL_METRICS
from linkedin_assets.linkedin.fields import snake_case
from linkedin_assets.warehouse import (
    HISTORY,
    TABLES,
    WRITES,
    Warehouse,
    WarehouseError,
    backends,
    fivetran_schema_of,
    metric_columns,
    open_warehouse,
)
from linkedin_assets.warehouse.backends import _plain_column, _typed_column

SYSTEM = ["_synced_at", "_dagster_run_id"]


@dataclass(frozen=True)
class Target:
    """Where a test's warehouse lives; ``open()`` gives another, independent connection to it."""

    database_url: str | None
    schema: str
    duckdb_path: Path

    def open(self) -> Warehouse:
        return open_warehouse(self.database_url, self.schema, self.duckdb_path)

    def execute(self, sql: str) -> None:
        """Run DDL behind the warehouse's back (as an operator would)."""
        if self.database_url:
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                conn.execute(sql)
        else:
            with duckdb.connect(str(self.duckdb_path)) as conn:
                conn.execute(sql)


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "duckdb"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "postgres":
        return Target(request.getfixturevalue("pg_url"), request.getfixturevalue("pg_schema"), tmp_path / "w.duckdb")
    return Target(None, "linkedin_ads", tmp_path / "data" / "warehouse.duckdb")


@pytest.fixture
def wh(target: Target) -> Iterator[Warehouse]:
    with target.open() as warehouse:
        warehouse.ensure_schema()
        yield warehouse


def campaigns(*rows: tuple[int, int, str]) -> pd.DataFrame:
    """Campaign rows ``(id, account_id, name)``."""
    return pd.DataFrame(rows, columns=["id", "account_id", "name"])


def daily(*rows: tuple[int, str, int, int]) -> pd.DataFrame:
    """Campaign-day rows ``(campaign_id, ISO date, account_id, impressions)``."""
    frame = pd.DataFrame(rows, columns=["campaign_id", "date", "account_id", "impressions"])
    frame["date"] = [date.fromisoformat(day) for day in frame["date"]]
    return frame


def data(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=SYSTEM).reset_index(drop=True)


def test_specs_follow_the_metric_catalogue() -> None:
    columns = {c.name: c.type for c in TABLES["campaign_daily_metrics"].columns}
    assert metric_columns("campaign_daily_metrics") == [snake_case(m) for m in DAILY_METRICS]
    assert {columns[snake_case(m)] for m in DAILY_METRICS if m in DECIMAL_METRICS} == {"numeric"}
    assert columns["impressions"] == "bigint"
    for spec in TABLES.values():
        assert set(SYSTEM) <= set(spec.column_names)
        assert set(spec.primary_key) <= set(spec.column_names)
        assert spec.scope_column is None or spec.scope_column in spec.column_names


def test_ensure_schema_creates_every_table_with_its_columns(wh: Warehouse) -> None:
    found = wh.query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %(schema)s",
        {"schema": wh.schema},
    )
    assert {name: set(group["column_name"]) for name, group in found.groupby("table_name")} == {
        spec.name: set(spec.column_names) for spec in (*TABLES.values(), *HISTORY.values(), WRITES)
    }


def test_a_warehouse_of_the_previous_release_gets_the_write_records_on_first_use(wh: Warehouse, target: Target) -> None:
    """The release before the write records had no ``_writes`` table: opening its warehouse adds it, keeps every
    row, and the next write is recorded in the same transaction as its rows."""
    wh.write("campaigns", campaigns((1, 10, "a")), account_ids=[10], date_range=None, run_id="r1")
    wh.close()
    target.execute(f"DROP TABLE {wh.qualified(WRITES.name)}")

    with target.open() as again:
        again.ensure_schema()
        assert list(again.read("campaigns")["name"]) == ["a"]
        again.write("campaigns", campaigns((2, 10, "b")), account_ids=[10], date_range=None, run_id="r2", step_key="s")
        [record] = again.write_records("campaigns", ["r1", "r2"])
    assert (record.run_id, record.step_key, record.account_ids, record.result.inserted) == ("r2", "s", (10,), 1)
    assert record.result.removed_or_deleted == 1, "campaign 1 is no longer listed for account 10"


def test_ensure_schema_restores_a_dropped_column_and_keeps_rows(wh: Warehouse, target: Target) -> None:
    wh.write("campaigns", campaigns((1, 10, "a")), account_ids=[10], date_range=None, run_id="r1")
    wh.close()
    target.execute(f"ALTER TABLE {wh.qualified('campaigns')} DROP COLUMN targeting_criteria")

    with target.open() as again:
        again.ensure_schema()
        again.ensure_schema()
        frame = campaigns((2, 10, "b")).assign(targeting_criteria=[{"include": {"and": []}}])
        again.write("campaigns", frame, account_ids=[], date_range=None, run_id="r2")
        rows = again.read("campaigns")
    assert list(rows["name"]) == ["a", "b"]
    assert list(rows["targeting_criteria"]) == [None, {"include": {"and": []}}]


@pytest.mark.postgres
def test_ensure_schema_from_concurrent_processes_is_safe(pg_url: str, pg_schema: str) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def ensure() -> None:
        with open_warehouse(pg_url, pg_schema) as warehouse:
            barrier.wait()
            try:
                warehouse.ensure_schema()
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)

    threads = [threading.Thread(target=ensure) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with open_warehouse(pg_url, pg_schema) as warehouse:
        assert warehouse.read("campaigns").empty


def test_same_batch_twice_is_idempotent(wh: Warehouse) -> None:
    batch = campaigns((1, 10, "a"), (2, 10, "b"))
    first = wh.write("campaigns", batch, account_ids=[10], date_range=None, run_id="r1")
    after_first = wh.read("campaigns")
    second = wh.write("campaigns", batch, account_ids=[10], date_range=None, run_id="r2")
    after_second = wh.read("campaigns")

    assert (first.inserted, first.updated, first.removed_or_deleted, first.rows) == (2, 0, 0, 2)
    assert (second.inserted, second.updated, second.removed_or_deleted, second.rows) == (0, 2, 0, 2)
    pd.testing.assert_frame_equal(data(after_first), data(after_second))
    assert set(after_second["_dagster_run_id"]) == {"r2"}
    assert (after_second["_synced_at"] > after_first["_synced_at"]).all()


def test_missing_entity_is_marked_removed_and_cleared_when_back(wh: Warehouse) -> None:
    wh.write(
        "campaigns",
        campaigns((1, 10, "a"), (2, 10, "b"), (3, 20, "c")),
        account_ids=[10, 20],
        date_range=None,
        run_id="r1",
    )

    gone = wh.write("campaigns", campaigns((1, 10, "a")), account_ids=[10], date_range=None, run_id="r2")
    rows = wh.read("campaigns").set_index("id")
    assert gone.removed_or_deleted == 1
    assert rows["removed_at"].isna().to_dict() == {1: True, 2: False, 3: True}
    assert rows.loc[3, "_dagster_run_id"] == "r1", "account 20 was outside the scope"
    removed_at = rows.loc[2, "removed_at"]

    still_gone = wh.write("campaigns", campaigns((1, 10, "a")), account_ids=[10], date_range=None, run_id="r3")
    assert still_gone.removed_or_deleted == 0
    assert wh.read("campaigns").set_index("id").loc[2, "removed_at"] == removed_at

    wh.write("campaigns", campaigns((1, 10, "a"), (2, 10, "b")), account_ids=[10], date_range=None, run_id="r4")
    assert wh.read("campaigns")["removed_at"].isna().all()


def test_accounts_are_scoped_by_their_id(wh: Warehouse) -> None:
    accounts = pd.DataFrame({"id": [10, 20, 30], "name": ["x", "y", "z"]})
    wh.write("accounts", accounts, account_ids=[10, 20, 30], date_range=None, run_id="r1")
    result = wh.write("accounts", accounts.iloc[:1], account_ids=[10, 20], date_range=None, run_id="r2")
    rows = wh.read("accounts").set_index("id")
    assert result.removed_or_deleted == 1
    assert rows["removed_at"].notna().to_dict() == {10: False, 20: True, 30: False}


def test_fact_batch_replaces_its_range_for_its_accounts_only(wh: Warehouse) -> None:
    days = [f"2024-01-0{d}" for d in range(1, 6)]
    wh.write(
        "campaign_daily_metrics",
        daily(*[(1, day, 10, 100) for day in days], *[(2, day, 20, 200) for day in days]),
        account_ids=[10, 20],
        date_range=(date(2024, 1, 1), date(2024, 1, 5)),
        run_id="r1",
    )
    result = wh.write(
        "campaign_daily_metrics",
        daily((1, "2024-01-02", 10, 111)),
        account_ids=[10],
        date_range=(date(2024, 1, 2), date(2024, 1, 3)),
        run_id="r2",
    )
    rows = wh.read("campaign_daily_metrics")
    kept = {(r.campaign_id, r.date.isoformat(), r.impressions) for r in rows.itertuples()}

    assert (result.updated, result.removed_or_deleted) == (1, 1)
    assert kept == {(1, day, 100) for day in days if day not in ("2024-01-02", "2024-01-03")} | {
        (1, "2024-01-02", 111)
    } | {(2, day, 200) for day in days}


def test_an_account_that_failed_mid_stream_keeps_its_stored_rows(wh: Warehouse) -> None:
    """LinkedIn refused account 20 after part of its rows had streamed: the write drops what it had of 20, leaves
    20's stored rows (and entities) as they were, replaces account 10's range, and records why 20 was left out."""
    days = [f"2024-01-0{d}" for d in range(1, 6)]
    wh.write("campaign_daily_metrics", daily(*[(1, d, 10, 100) for d in days], *[(2, d, 20, 200) for d in days]),
             account_ids=[10, 20], date_range=(date(2024, 1, 1), date(2024, 1, 5)), run_id="r1")  # fmt: skip
    why = {"endpoint": "adAnalytics", "status": 403, "code": "ACCESS_DENIED", "message": "Not enough permissions"}
    failures: dict[int, dict] = {}

    def stream():
        yield daily((1, "2024-01-02", 10, 111), (2, "2024-01-02", 20, 999))
        failures[20] = why  # the producer learns of the refusal while the stream runs
        yield daily((1, "2024-01-03", 10, 112))

    result = wh.write(
        "campaign_daily_metrics", stream(), account_ids=[10, 20], date_range=(date(2024, 1, 2), date(2024, 1, 4)),
        run_id="r2", step_key="shard", failures=failures,
    )  # fmt: skip
    kept = {(r.campaign_id, r.date.isoformat(), r.impressions) for r in wh.read("campaign_daily_metrics").itertuples()}
    assert kept == {(1, "2024-01-01", 100), (1, "2024-01-02", 111), (1, "2024-01-03", 112), (1, "2024-01-05", 100)} | {
        (2, day, 200) for day in days
    }
    assert (result.rows, result.updated, result.removed_or_deleted) == (2, 2, 1)
    [record] = wh.write_records("campaign_daily_metrics", ["r2"])
    assert record.account_ids == (10,)
    assert record.failures == ({"account_id": 20, **why},)

    wh.write("campaigns", campaigns((1, 10, "a"), (2, 20, "b")), account_ids=[10, 20], date_range=None, run_id="r3")
    wh.write("campaigns", campaigns((1, 10, "a")), account_ids=[10, 20], date_range=None, run_id="r4",
             failures={20: why})  # fmt: skip
    assert wh.read("campaigns")["removed_at"].isna().all(), "the refused account's campaign is not marked removed"
    [latest] = wh.latest_writes(["campaigns"])
    assert latest.run_id == "r4" and [f["account_id"] for f in latest.failures] == [20]


def _versions(wh: Warehouse) -> list[tuple]:
    frame = wh.read("campaigns_history")
    return [
        (r.id, r.name, r.first_seen_run_id, r.last_seen_run_id, r.first_seen_at <= r.last_seen_at)
        for r in frame.sort_values(["id", "first_seen_at"]).itertuples()
    ]


def test_entity_history_keeps_one_version_per_change(wh: Warehouse) -> None:
    """An unchanged entity adds no version (its latest one is seen again); a change adds exactly one, whether or not
    LinkedIn's last-modified time moved; a change back is a version of its own; the current table keeps one row."""
    wh.write("campaigns", campaigns((1, 10, "a"), (2, 10, "b")), account_ids=[10], date_range=None, run_id="r1")
    wh.write("campaigns", campaigns((1, 10, "a"), (2, 10, "b")), account_ids=[10], date_range=None, run_id="r2")
    assert _versions(wh) == [(1, "a", "r1", "r2", True), (2, "b", "r1", "r2", True)]

    wh.write("campaigns", campaigns((1, 10, "a2"), (2, 10, "b")), account_ids=[10], date_range=None, run_id="r3")
    wh.write("campaigns", campaigns((1, 10, "a"), (2, 10, "b")), account_ids=[10], date_range=None, run_id="r4")
    assert _versions(wh) == [
        (1, "a", "r1", "r2", True),
        (1, "a2", "r3", "r3", True),
        (1, "a", "r4", "r4", True),
        (2, "b", "r1", "r4", True),
    ]
    [record] = wh.write_records("campaigns", ["r4"])
    assert record.figures["history_versions"] == 1
    assert len(wh.read("campaigns")) == 2

    # a write that fails half-way changes neither the campaigns nor their history
    def broken():
        yield campaigns((1, 10, "changed"), (2, 10, "changed"))
        raise RuntimeError("LinkedIn went away")

    before = _versions(wh)
    with pytest.raises(RuntimeError, match="went away"):
        wh.write("campaigns", broken(), account_ids=[10], date_range=None, run_id="r-broken")
    assert _versions(wh) == before and set(wh.read("campaigns")["name"]) == {"a", "b"}

    # a campaign LinkedIn stops listing keeps its versions; the current table marks it removed
    wh.write("campaigns", campaigns((2, 10, "b")), account_ids=[10], date_range=None, run_id="r5")
    assert len(_versions(wh)) == 4 and wh.read("campaigns").set_index("id")["removed_at"].notna().to_dict() == {
        1: True,
        2: False,
    }


def test_a_warehouse_without_history_starts_it_from_what_it_stored(wh: Warehouse, target: Target) -> None:
    """The release before the history tables (and the write records' failures): opening its warehouse creates them
    with each stored entity as its first version, and the next sync adds a version only for what changed."""
    wh.write("campaigns", campaigns((1, 10, "a"), (2, 10, "b")), account_ids=[10], date_range=None, run_id="r1")
    wh.close()
    target.execute(f"DROP TABLE {wh.qualified('campaigns_history')} CASCADE")
    target.execute(f"ALTER TABLE {wh.qualified(WRITES.name)} DROP COLUMN failures")

    with target.open() as again:
        again.ensure_schema()
        assert _versions(again) == [(1, "a", "r1", "r1", True), (2, "b", "r1", "r1", True)]
        [old] = again.write_records("campaigns", ["r1"])
        assert old.failures == () and old.result.inserted == 2, "the earlier release's records read as before"
        again.write("campaigns", campaigns((1, 10, "a"), (2, 10, "c")), account_ids=[10], date_range=None, run_id="r2")
        assert _versions(again) == [(1, "a", "r1", "r2", True), (2, "b", "r1", "r1", True), (2, "c", "r2", "r2", True)]


def test_an_earlier_release_gains_the_new_columns_views_and_tables_without_a_new_version(
    wh: Warehouse, target: Target
) -> None:
    """The release before the metric catalogue (36 metrics, no landing pages, no conversion tables, no Fivetran
    views): opening its warehouse adds the columns (NULL in stored rows), the tables and the views in place, keeps
    every stored row, and the next write of the same creatives adds no history version (the stored versions are
    rehashed with the new, NULL columns)."""
    if target.database_url is None:
        pytest.skip("DuckDB cannot drop a column ahead of a key column, so it cannot stand in for the old layout here")
    creative = {"id": [7], "urn": ["urn:li:sponsoredCreative:7"], "account_id": [10], "campaign_id": [1], "name": ["x"]}
    wh.write("creatives", pd.DataFrame(creative), account_ids=[10], date_range=None, run_id="r1")
    wh.write("campaign_daily_metrics", daily((1, "2025-01-02", 10, 5)), account_ids=[10], date_range=None, run_id="r1")
    wh.close()
    target.execute(f'DROP SCHEMA IF EXISTS "{fivetran_schema_of(target.schema)}" CASCADE')
    new_metrics = [c for c in metric_columns("campaign_daily_metrics") if c not in PREVIOUS_RELEASE_METRICS]
    for table, columns in (("creatives", LANDING_PAGES), ("creatives_history", LANDING_PAGES),
                           ("campaign_daily_metrics", new_metrics)):  # fmt: skip
        for column in columns:
            target.execute(f"ALTER TABLE {wh.qualified(table)} DROP COLUMN {column}")
    for table in ("conversions_history", "conversions", "campaign_conversion_daily_metrics"):
        target.execute(f"DROP TABLE {wh.qualified(table)} CASCADE")

    with target.open() as again:
        again.ensure_schema()
        stored = again.read("campaign_daily_metrics")
        assert stored["impressions"].tolist() == [5] and stored["viral_clicks"].isna().all()
        assert again.read("conversions").empty
        views = again.query(f"SELECT * FROM {fivetran_schema_of(target.schema)}.ad_analytics_by_campaign")
        assert views["impressions"].tolist() == [5] and views["campaign_id"].tolist() == [1]
        again.write("creatives", pd.DataFrame(creative), account_ids=[10], date_range=None, run_id="r2")
        history = again.read("creatives_history")
        assert history["last_seen_run_id"].tolist() == ["r2"] and history["first_seen_run_id"].tolist() == ["r1"]


PREVIOUS_RELEASE_METRICS = {
    "impressions", "clicks", "cost_in_local_currency", "cost_in_usd", "landing_page_clicks", "company_page_clicks",
    "total_engagements", "other_engagements", "likes", "comments", "shares", "follows", "reactions",
    "comment_likes", "action_clicks", "ad_unit_clicks", "text_url_clicks", "full_screen_plays",
    "external_website_conversions", "external_website_post_click_conversions",
    "external_website_post_view_conversions", "conversion_value_in_local_currency", "one_click_leads",
    "one_click_lead_form_opens", "qualified_leads", "opens", "sends", "video_starts", "video_views",
    "video_first_quartile_completions", "video_midpoint_completions", "video_third_quartile_completions",
    "video_completions", "card_clicks", "card_impressions", "approximate_member_reach",
}  # fmt: skip
LANDING_PAGES = ("text_ad_landing_page", "spotlight_landing_page")


def test_decimals_survive_exactly(wh: Warehouse) -> None:
    values = [Decimal("-2E-18"), "1234567.1234567", 0.1, Decimal("12345678901234567890.123456789012345678")]
    frame = daily(*[(i, "2024-01-01", 10, 1) for i in range(len(values))]).assign(cost_in_usd=values)
    wh.write("campaign_daily_metrics", frame, account_ids=[10], date_range=None, run_id="r1")
    stored = list(wh.read("campaign_daily_metrics")["cost_in_usd"])
    assert stored == [Decimal("-2E-18"), Decimal("1234567.1234567"), Decimal("0.1"), values[3]]
    assert all(isinstance(value, Decimal) for value in stored)


def test_nulls_missing_columns_and_json(wh: Warehouse) -> None:
    frame = pd.DataFrame(
        {
            "id": [1, 2],
            "account_id": [10, 10],
            "daily_budget_amount": [float("nan"), 5.5],
            "serving_statuses": [["RUNNABLE", "ACCOUNT_SERVING_HOLD"], None],
            "targeting_criteria": [{"include": {"and": [{"or": {"urn:li:adTargetingFacet:locations": ["x"]}}]}}, None],
            "created_time": pd.to_datetime([1_700_000_000_000, None], unit="ms", utc=True),
            "test": [True, None],
        }
    )
    wh.write("campaigns", frame, account_ids=[10], date_range=None, run_id="r1")
    rows = wh.read("campaigns")
    assert rows["daily_budget_amount"].tolist() == [None, Decimal("5.5")]
    assert rows["serving_statuses"].tolist() == [["RUNNABLE", "ACCOUNT_SERVING_HOLD"], None]
    assert rows["targeting_criteria"][0] == frame["targeting_criteria"][0]
    assert rows["created_time"][0] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert rows["created_time"].isna().tolist() == [False, True]
    assert rows["test"].tolist() == [True, pd.NA]
    assert rows["name"].isna().all() and rows["campaign_group_id"].isna().all()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (campaigns((1, 10, "a")).assign(bogus=1), "'bogus' for table 'campaigns'"),
        (campaigns((1, 10, "a")).assign(removed_at=None), "'removed_at' of table 'campaigns' are set by the warehouse"),
        (campaigns((1, 10, "a")).drop(columns="id"), "primary key column(s) 'id' missing"),
        (campaigns((1, 10, "a")).assign(created_time=datetime(2024, 1, 1)), "campaigns.created_time"),
        (campaigns((1, 10, "a")).assign(campaign_group_id=1.5), "campaigns.campaign_group_id"),
    ],
    ids=["unknown", "managed", "no-key", "naive-datetime", "fractional-id"],
)
def test_bad_batches_are_refused_with_the_table_and_column(wh: Warehouse, frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(WarehouseError) as caught:
        wh.write("campaigns", frame, account_ids=[10], date_range=None, run_id="r1")
    assert message in str(caught.value)
    assert wh.read("campaigns").empty


def test_a_failed_write_rolls_back_only_itself(wh: Warehouse) -> None:
    wh.write("campaigns", campaigns((1, 10, "a"), (2, 10, "b")), account_ids=[10], date_range=None, run_id="r1")
    before = wh.read("campaigns")

    bad = pd.DataFrame({"id": [1, None], "account_id": [10, 10], "name": ["renamed", "no key"]})
    with pytest.raises(WarehouseError, match=f"{wh.schema}.campaigns") as caught:
        wh.write("campaigns", bad, account_ids=[10], date_range=None, run_id="r2")
    assert isinstance(caught.value.__cause__, psycopg.Error | duckdb.Error)
    assert "\n" not in str(caught.value)

    pd.testing.assert_frame_equal(wh.read("campaigns"), before)
    after = wh.write("campaigns", campaigns((1, 10, "renamed")), account_ids=[], date_range=None, run_id="r3")
    assert after.updated == 1
    assert wh.read("campaigns")["name"].tolist() == ["renamed", "b"]


def test_read_filters_by_dates_and_accounts(wh: Warehouse) -> None:
    wh.write(
        "campaign_daily_metrics",
        daily((1, "2024-01-01", 10, 1), (1, "2024-01-02", 10, 2), (2, "2024-01-02", 20, 3), (1, "2024-01-03", 10, 4)),
        account_ids=[10, 20],
        date_range=None,
        run_id="r1",
    )
    in_range = wh.read("campaign_daily_metrics", where_date_range=(date(2024, 1, 2), date(2024, 1, 3)))
    for_account = wh.read(
        "campaign_daily_metrics", where_date_range=(date(2024, 1, 2), date(2024, 1, 3)), account_ids=[20]
    )
    assert in_range["impressions"].tolist() == [2, 4, 3]
    assert for_account["impressions"].tolist() == [3]
    some = wh.read("campaign_daily_metrics", account_ids=[10], columns=["date", "impressions"])
    assert list(some.columns) == ["date", "impressions"]
    pd.testing.assert_frame_equal(some, wh.read("campaign_daily_metrics", account_ids=[10])[["date", "impressions"]])
    with pytest.raises(KeyError, match="no column 'spend'"):
        wh.read("campaign_daily_metrics", columns=["spend"])
    assert wh.query(
        f"SELECT sum(impressions) AS total FROM {wh.qualified('campaign_daily_metrics')} WHERE account_id = %(a)s",
        {"a": 10},
    )["total"].tolist() == [7]


def _objects(frame: pd.DataFrame) -> dict[str, list]:
    """A frame's columns as the Python objects pandas gives back, ``None`` for every missing value."""
    return {name: frame[name].to_numpy(dtype=object, na_value=None).tolist() for name in frame.columns}


def test_read_columns_are_the_python_values_of_read(wh: Warehouse, target: Target) -> None:
    created = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "account_id": [10, 10, 10],
            "campaign_group_id": [None, 100, 101],
            "name": ["Zoë 🚀 | Brand", None, ""],
            "daily_budget_amount": [Decimal("-2E-18"), None, Decimal("12345678901234567890.123456789012345678")],
            "unit_cost_amount": [Decimal("1.50"), Decimal("0E-18"), Decimal(7)],
            "test": [True, None, False],
            "serving_statuses": [["RUNNABLE"], None, []],
            "targeting_criteria": [{"include": {"and": [{"or": {"a": ["x"]}}]}}, None, {}],
            "created_time": pd.Series([created] * 3).dt.tz_convert("Europe/Berlin"),
            "run_schedule_start": [created, None, created + timedelta(days=1)],
        }
    )
    wh.write("campaigns", frame, account_ids=[10], date_range=None, run_id="r1")
    wh.write(
        "campaign_daily_metrics",
        daily((1, "2024-01-02", 10, 2), (1, "2024-01-01", 10, 1), (2, "2024-01-01", 20, 3)).assign(
            cost_in_usd=[Decimal("1.2300"), None, Decimal("-5")]
        ),
        account_ids=[10, 20],
        date_range=None,
        run_id="r1",
    )
    if target.database_url:  # NUMERIC holds NaN (DuckDB's DECIMAL cannot): missing, as read has it
        target.execute(f"UPDATE {wh.qualified('campaigns')} SET unit_cost_amount = 'NaN' WHERE id = 2")

    reads = [
        ("campaigns", {}),
        ("campaigns", {"account_ids": [99], "columns": ["id", "created_time"]}),
        ("campaign_daily_metrics", {"where_date_range": (date(2024, 1, 1), date(2024, 1, 1))}),
        ("campaign_daily_metrics", {"account_ids": [10], "columns": ["date", "cost_in_usd", "campaign_id"]}),
    ]
    for table, kwargs in reads:
        read, values = wh.read(table, **kwargs), wh.read_columns(table, **kwargs)
        assert values == _objects(read)  # same columns, rows, order; a Timestamp equals its datetime
        assert list(values) == list(read.columns)
        kinds = {type(v) for column in values.values() for v in column}
        assert kinds <= {int, bool, Decimal, str, date, datetime, list, dict, type(None)}, kinds
    values = wh.read_columns("campaigns")
    assert values["unit_cost_amount"] == [Decimal("1.50"), None if target.database_url else Decimal(0), Decimal(7)]
    assert values["created_time"] == [created] * 3 and all(t.tzinfo is UTC for t in values["created_time"])
    assert values["run_schedule_start"] == [created, None, created + timedelta(days=1)]
    assert wh.read_columns("campaign_daily_metrics", account_ids=[10], columns=["date", "impressions"]) == {
        "date": [date(2024, 1, 1), date(2024, 1, 2)],
        "impressions": [1, 2],
    }
    assert wh.read_columns("campaigns", account_ids=[99], columns=["id", "name"]) == {"id": [], "name": []}
    with pytest.raises(KeyError, match="no column 'spend'"):
        wh.read_columns("campaign_daily_metrics", columns=["spend"])


@pytest.mark.parametrize(
    ("type_", "fetched"),
    [
        ("bigint", [1, None, -(2**62)]),
        ("double", [1.5, float("nan"), None, float("inf")]),
        ("numeric", [Decimal("1.50"), Decimal("NaN"), None, Decimal("-0E-18")]),
        ("boolean", [True, None, False]),
        ("text", ["a", None, ""]),
        ("date", [date(2024, 2, 29), None]),
        ("json", ['{"a": [1, null]}', None, [1], "NaN", '"text"']),
        (
            "timestamptz",
            [
                datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
                None,
                datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            ],
        ),
    ],
)
def test_a_plain_column_holds_what_the_frame_column_gives_back(type_: str, fetched: list) -> None:
    """Every column type, with every missing value a driver can return (NaN from PostgreSQL's double precision and
    NUMERIC; DuckDB's JSON as text): ``None`` where pandas has a missing value, else an equal value."""
    expected = pd.Series(_typed_column(type_, fetched)).to_numpy(dtype=object, na_value=None).tolist()
    plain = _plain_column(type_, list(fetched))
    assert plain == expected
    if type_ == "timestamptz":  # datetimes in UTC, where the frame holds equal Timestamps
        assert [None if t is None else (type(t), t.tzinfo) for t in plain] == [(datetime, UTC), None, (datetime, UTC)]
    else:
        assert [type(v) for v in plain] == [type(v) for v in expected]


def test_open_warehouse_rejects_other_urls() -> None:
    with pytest.raises(WarehouseError, match="postgresql://"):
        open_warehouse("mysql://user:pw@host/db")


_HOLD_FILE = """
import sys, time
import duckdb
with duckdb.connect(sys.argv[1]):
    print("held", flush=True)
    time.sleep(1.0)
"""


def test_embedded_writer_waits_for_another_process_holding_the_file(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with open_warehouse(None, duckdb_path=path) as warehouse:
        warehouse.ensure_schema()
    # DuckDB refuses a second process outright; the warehouse must wait for the holder (1 s) instead of failing.
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_FILE, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with open_warehouse(None, duckdb_path=path) as warehouse:
            result = warehouse.write(
                "campaigns", campaigns((1, 10, "a")), account_ids=[10], date_range=None, run_id="r"
            )
    finally:
        holder.wait(timeout=30)
    assert result.inserted == 1


def test_an_empty_batch_empties_its_scope(wh: Warehouse) -> None:
    wh.write("campaigns", campaigns((1, 10, "a"), (2, 20, "b")), account_ids=[10, 20], date_range=None, run_id="r1")
    wh.write("campaign_daily_metrics", daily((1, "2024-01-01", 10, 5)), account_ids=[10], date_range=None, run_id="r1")

    removed = wh.write("campaigns", pd.DataFrame(), account_ids=[10], date_range=None, run_id="r2")
    deleted = wh.write(
        "campaign_daily_metrics",
        pd.DataFrame(),
        account_ids=[10],
        date_range=(date(2024, 1, 1), date(2024, 1, 1)),
        run_id="r2",
    )
    assert (removed.rows, removed.removed_or_deleted, deleted.removed_or_deleted) == (0, 1, 1)
    assert wh.read("campaigns")["removed_at"].notna().tolist() == [True, False]
    assert wh.read("campaign_daily_metrics").empty


def _seeded(wh: Warehouse) -> pd.DataFrame:
    wh.write(
        "campaign_daily_metrics",
        daily(*[(c, f"2024-01-0{d}", 10, 100 * c + d) for c in (1, 2) for d in (1, 2, 3)]),
        account_ids=[10],
        date_range=None,
        run_id="seed",
    )
    return wh.read("campaign_daily_metrics")


def test_a_stream_of_frames_writes_like_one_frame(wh: Warehouse) -> None:
    frames = [
        daily((1, "2024-01-01", 10, 1)),
        pd.DataFrame(),
        daily((2, "2024-01-01", 10, 2), (1, "2024-01-02", 10, 3)),
    ]
    result = wh.write(
        "campaign_daily_metrics",
        iter(frames),
        account_ids=[10],
        date_range=(date(2024, 1, 1), date(2024, 1, 2)),
        run_id="r1",
    )
    assert (result.rows, result.inserted, result.frames) == (3, 3, 2)
    rows = wh.read("campaign_daily_metrics")
    assert list(zip(rows["campaign_id"], rows["impressions"], strict=True)) == [(1, 1), (1, 3), (2, 2)]


def test_an_exception_from_the_stream_rolls_everything_back(wh: Warehouse) -> None:
    before = _seeded(wh)

    def frames() -> Iterator[pd.DataFrame]:
        yield daily((1, "2024-01-01", 10, 7))
        yield daily((3, "2024-01-01", 10, 7))
        raise RuntimeError("LinkedIn went away")

    with pytest.raises(RuntimeError, match="LinkedIn went away"):
        wh.write(
            "campaign_daily_metrics",
            frames(),
            account_ids=[10],
            date_range=(date(2024, 1, 1), date(2024, 1, 3)),
            run_id="r2",
        )
    pd.testing.assert_frame_equal(wh.read("campaign_daily_metrics"), before)
    assert wh.write("campaigns", campaigns((1, 10, "a")), account_ids=[10], date_range=None, run_id="r3").rows == 1


def test_a_refused_frame_closes_the_stream(wh: Warehouse) -> None:
    before = _seeded(wh)
    closed: list[bool] = []

    def frames() -> Iterator[pd.DataFrame]:
        try:
            yield daily((1, "2024-01-01", 10, 7))
            yield daily((1, "2024-01-02", 10, 7)).assign(bogus=1)
            yield daily((1, "2024-01-03", 10, 7))
        finally:
            closed.append(True)

    with pytest.raises(WarehouseError, match="'bogus' for table 'campaign_daily_metrics'"):
        wh.write("campaign_daily_metrics", frames(), account_ids=[10], date_range=None, run_id="r2")
    assert closed == [True], "a producer feeding the stream is told to stop"
    pd.testing.assert_frame_equal(wh.read("campaign_daily_metrics"), before)


def _terminate_the_copy(url: str, application: str, killed: list[int], stop: threading.Event) -> None:
    """Wait until the session named ``application`` is inside a COPY, then terminate its backend."""
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            row = conn.execute(
                "SELECT p.pid FROM pg_stat_progress_copy AS p JOIN pg_stat_activity AS a USING (pid) "
                "WHERE a.application_name = %s",
                (application,),
            ).fetchone()
            if row is not None:
                conn.execute("SELECT pg_terminate_backend(%s)", row)
                killed.append(row[0])
                return


@pytest.mark.postgres
def test_postgres_going_away_mid_copy_rolls_back_and_names_the_table(pg_url: str, pg_schema: str) -> None:
    password = "s3cret-pw"
    application = f"wh_kill_{pg_schema}"
    url = pg_url.replace("://postgres@", f"://postgres:{password}@", 1) + f"?application_name={application}"
    with open_warehouse(url, pg_schema) as wh:
        wh.ensure_schema()
        before = _seeded(wh)
        killed: list[int] = []
        stop = threading.Event()
        killer = threading.Thread(target=_terminate_the_copy, args=(pg_url, application, killed, stop))

        def frames() -> Iterator[pd.DataFrame]:
            # Frames until the backend is gone (the bound only keeps a broken test from running forever).
            for number in range(2_000):
                yield daily(*[(1000 * number + c, f"2024-01-0{d}", 10, c) for c in range(200) for d in (1, 2, 3)])

        killer.start()
        try:
            with pytest.raises(WarehouseError) as caught:
                wh.write(
                    "campaign_daily_metrics",
                    frames(),
                    account_ids=[10],
                    date_range=(date(2024, 1, 1), date(2024, 1, 3)),
                    run_id="killed",
                )
        finally:
            stop.set()
            killer.join()

    message = str(caught.value)
    assert killed, "the COPY was seen and its backend terminated"
    assert f"{pg_schema}.campaign_daily_metrics" in message and "connection lost" in message
    assert "\n" not in message and password not in message and "postgres:***@" in message
    with open_warehouse(pg_url, pg_schema) as again:
        pd.testing.assert_frame_equal(again.read("campaign_daily_metrics"), before)


def test_every_column_type_in_every_form_a_frame_carries(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small chunks, so one frame is converted in several (one chunk of a column has NULLs, another none).
    monkeypatch.setattr(backends, "CHUNK_ROWS", 5)
    n = 12
    extremes = {1: 2**63 - 1, 2: -(2**63), 3: 2**53 + 1}  # float64 would round the last one
    created = [datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC) + timedelta(days=i) for i in range(n)]
    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "account_id": [10] * n,
            "campaign_group_id": pd.array(
                [None if i % 5 == 0 else extremes.get(i, 100 + i) for i in range(n)], dtype="Int64"
            ),
            "name": ["", "Zoë 🚀 | Brand", "plain"] * 4,
            "status": pd.array(["ACTIVE", None, "PAUSED"] * 4, dtype="string"),
            "daily_budget_amount": [Decimal("-2E-18"), None, Decimal("12345678901234567890.123456789012345678")] * 4,
            "unit_cost_amount": [1, 250, 3] * 4,
            "total_budget_amount": [0.1, float("nan"), 2.5] * 4,
            "test": [True, False, None] * 4,
            "audience_expansion_enabled": np.array([True, False] * 6),
            "serving_statuses": [["RUNNABLE"], None, [], ["ACCOUNT_SERVING_HOLD", "Zoë"]] * 3,
            "created_time": pd.Series(created).dt.tz_convert("Europe/Berlin"),
            "last_modified_time": pd.Series([None if i % 4 == 0 else created[i] for i in range(n)], dtype=object),
            "run_schedule_start": [created[i].isoformat() for i in range(n)],
        }
    )
    wh.write("campaigns", frame, account_ids=[10], date_range=None, run_id="r1")
    rows = wh.read("campaigns")

    assert rows["id"].tolist() == list(range(1, n + 1))
    assert rows["campaign_group_id"].tolist() == [pd.NA if i % 5 == 0 else extremes.get(i, 100 + i) for i in range(n)]
    assert rows["name"].tolist() == frame["name"].tolist()
    assert rows["status"].tolist() == ["ACTIVE", pd.NA, "PAUSED"] * 4
    assert rows["daily_budget_amount"].tolist() == frame["daily_budget_amount"].tolist()
    assert rows["unit_cost_amount"].tolist() == [Decimal(1), Decimal(250), Decimal(3)] * 4
    assert rows["total_budget_amount"].tolist() == [Decimal("0.1"), None, Decimal("2.5")] * 4
    assert rows["test"].tolist() == [True, False, pd.NA] * 4
    assert rows["audience_expansion_enabled"].tolist() == [True, False] * 6
    assert rows["serving_statuses"].tolist() == frame["serving_statuses"].tolist()
    assert rows["created_time"].tolist() == created
    assert [None if pd.isna(t) else t for t in rows["last_modified_time"]] == [
        None if i % 4 == 0 else created[i] for i in range(n)
    ]
    assert rows["run_schedule_start"].tolist() == created


def test_dates_in_every_form(wh: Warehouse) -> None:
    days = [date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)]
    forms = {
        1: days,
        2: [d.isoformat() for d in days],
        3: pd.to_datetime(days),
        4: pd.to_datetime(days).tz_localize("America/New_York"),
        5: [datetime(d.year, d.month, d.day, 23, 59) for d in days],
    }
    frames = [
        pd.DataFrame({"campaign_id": [c] * 3, "date": list(form), "account_id": [10] * 3, "impressions": [1, 2, 3]})
        for c, form in forms.items()
    ]
    wh.write("campaign_daily_metrics", iter(frames), account_ids=[10], date_range=None, run_id="r1")
    rows = wh.read("campaign_daily_metrics")
    assert rows["date"].tolist() == days * len(forms)


@pytest.mark.parametrize("error", [psycopg.OperationalError, duckdb.IOException])
def test_the_streams_own_database_errors_pass_through(wh: Warehouse, error: type[Exception]) -> None:
    before = _seeded(wh)

    def frames() -> Iterator[pd.DataFrame]:
        yield daily((1, "2024-01-01", 10, 7))
        raise error("the producer's own query failed")

    with pytest.raises(error, match="the producer's own query failed"):
        wh.write("campaign_daily_metrics", frames(), account_ids=[10], date_range=None, run_id="r2")
    pd.testing.assert_frame_equal(wh.read("campaign_daily_metrics"), before)
