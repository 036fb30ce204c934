"""Issue 7, "stream, don't hoard": a long range written through many small frames stays bounded by one frame.

The stream is a generator that records, at every moment it is asked for a frame, how many of its frames were produced
but not yet staged (``on_frame_staged`` is the warehouse's public hook) and whether the frame it produced before is
still alive anywhere. On PostgreSQL the writer's own session is also watched from another connection: between two
frames it sits idle inside one open transaction right after a ``COPY``.
"""

from __future__ import annotations

import gc
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from unittest.mock import patch

import dagster as dg
import pandas as pd
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkedin_assets.defs.assets.common import AnalyticsStream
from linkedin_assets.defs.io_managers import WarehouseIOManager, WarehouseResource
from linkedin_assets.defs.resources import LinkedInResource
from linkedin_assets.linkedin.plan import AnalyticsPlan, AnalyticsQuery
from linkedin_assets.warehouse import Warehouse, WarehouseBatch, backends, open_warehouse

FIRST = date(2025, 1, 1)
WEEKS = 52
CAMPAIGNS = 30
ACCOUNTS = (10, 20, 30)
APP = "linkedin_assets_stream_test"


def week(number: int) -> pd.DataFrame:
    """Campaign-days of one week: 30 campaigns x 7 days, money as exact Decimals."""
    days = [FIRST + timedelta(days=7 * number + offset) for offset in range(7)]
    rows = [
        {
            "campaign_id": campaign,
            "date": day,
            "account_id": ACCOUNTS[campaign % len(ACCOUNTS)],
            "impressions": 1000 * number + campaign,
            "clicks": campaign % 7,
            "cost_in_usd": Decimal(f"{number}.{campaign:02d}1234567") * (-1) ** campaign,
        }
        for campaign in range(1, CAMPAIGNS + 1)
        for day in days
    ]
    return pd.DataFrame(rows)


@dataclass
class Producer:
    """A generator of weekly frames that watches how the warehouse consumes it."""

    staged: list[int] = field(default_factory=list)
    produced: int = 0
    max_in_flight: int = 0
    previous_alive: list[bool] = field(default_factory=list)
    sessions: list[tuple[str, str, object]] = field(default_factory=list)
    watch: psycopg.Connection | None = None

    def frames(self) -> Iterator[pd.DataFrame]:
        previous: weakref.ref[pd.DataFrame] | None = None
        for number in range(WEEKS):
            if previous is not None:
                self.previous_alive.append(previous() is not None)
            self.max_in_flight = max(self.max_in_flight, self.produced - len(self.staged))
            if self.watch is not None and number:
                self.sessions.append(self._writer_session())
            frame = week(number)
            previous = weakref.ref(frame)
            self.produced += 1
            yield frame
            del frame

    def _writer_session(self) -> tuple[str, str, object]:
        assert self.watch is not None
        row = self.watch.execute(
            "SELECT state, query, xact_start FROM pg_stat_activity WHERE application_name = %s", (APP,)
        ).fetchone()
        assert row is not None
        return row


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "duckdb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Warehouse, str | None]]:
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
        tagged = f"{url}?application_name={APP}"
        with open_warehouse(tagged, request.getfixturevalue("pg_schema")) as warehouse:
            warehouse.ensure_schema()
            yield warehouse, url
    else:
        with open_warehouse(None, duckdb_path=tmp_path / "warehouse.duckdb") as warehouse:
            warehouse.ensure_schema()
            yield warehouse, None


def test_a_year_in_weekly_frames_is_staged_frame_by_frame(backend: tuple[Warehouse, str | None]) -> None:
    warehouse, pg_url = backend
    producer = Producer()
    warehouse.on_frame_staged = lambda table, rows: producer.staged.append(rows)
    last = FIRST + timedelta(days=7 * WEEKS - 1)
    if pg_url is not None:
        producer.watch = psycopg.connect(pg_url, autocommit=True)
    try:
        result = warehouse.write(
            "campaign_daily_metrics",
            producer.frames(),
            account_ids=ACCOUNTS,
            date_range=(FIRST, last),
            run_id="stream",
        )
    finally:
        if producer.watch is not None:
            producer.watch.close()

    rows_per_week = CAMPAIGNS * 7
    assert producer.staged == [rows_per_week] * WEEKS, "one staging load per frame, as it arrived"
    assert producer.max_in_flight == 0, "the next frame is asked for only after the previous one was staged"
    assert producer.previous_alive == [False] * (WEEKS - 1), "a staged frame is freed before the next is made"
    assert (result.rows, result.inserted, result.frames) == (rows_per_week * WEEKS, rows_per_week * WEEKS, WEEKS)
    if pg_url is not None:
        states = {state for state, _, _ in producer.sessions}
        queries = {query.split(" ", 1)[0] for _, query, _ in producer.sessions}
        transactions = {started for _, _, started in producer.sessions}
        assert (states, queries, len(transactions)) == ({"idle in transaction"}, {"COPY"}, 1)

    stored = warehouse.read("campaign_daily_metrics")
    expected = pd.concat([week(n) for n in range(WEEKS)]).sort_values(["campaign_id", "date"], ignore_index=True)
    got = stored[list(expected.columns)]
    assert got["campaign_id"].tolist() == expected["campaign_id"].tolist()
    assert got["date"].tolist() == expected["date"].tolist()
    assert got["account_id"].tolist() == expected["account_id"].tolist()
    assert got["impressions"].tolist() == expected["impressions"].tolist()
    assert got["clicks"].tolist() == expected["clicks"].tolist()
    assert got["cost_in_usd"].tolist() == expected["cost_in_usd"].tolist()
    assert stored["likes"].isna().all(), "columns no frame carried are NULL"


def test_the_io_manager_streams_without_holding_frames(tmp_path: Path) -> None:
    """The same bound through a Dagster run: the IO manager's preview keeps a copy of the first rows, not frames."""
    producer = Producer()

    @dg.asset(key_prefix="linkedin_ads", name="campaign_daily_metrics", io_manager_key="warehouse_io")
    def year() -> WarehouseBatch:
        metadata: dict[str, int] = {}

        def frames() -> Iterator[pd.DataFrame]:
            for frame in producer.frames():
                metadata["windows"] = metadata.get("windows", 0) + 1
                yield frame
                del frame

        return WarehouseBatch(frames(), ACCOUNTS, (FIRST, FIRST + timedelta(days=7 * WEEKS - 1)), metadata)

    resource = WarehouseResource(duckdb_path=str(tmp_path / "warehouse.duckdb"))
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [year],
            resources={"warehouse_io": WarehouseIOManager(warehouse=resource), "io_manager": dg.InMemoryIOManager()},
            instance=instance,
        )
    [event] = result.get_asset_materialization_events()
    metadata = {name: value.value for name, value in event.materialization.metadata.items()}
    assert producer.previous_alive == [False] * (WEEKS - 1)
    assert (metadata["frames"], metadata["windows"], metadata["dagster/row_count"]) == (WEEKS, WEEKS, WEEKS * 210)
    assert "| 1 | 2025-01-01 | 20 | 1 | 1 |" in metadata["preview"]


_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
_ROW = st.fixed_dictionaries(
    {
        "campaign_group_id": st.none() | st.integers(-(2**63), 2**63 - 1),
        "name": st.none() | _TEXT,
        "daily_budget_amount": st.none()
        | st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**20), max_value=10**20, places=8)
        | st.sampled_from([Decimal("-2E-18"), Decimal("12345678901234567890.123456789012345678"), Decimal("1E+30")]),
        "test": st.none() | st.booleans(),
        "created_time": st.none() | st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
        "serving_statuses": st.none() | st.lists(_TEXT, max_size=3),
    }
)


@pytest.fixture(scope="module")
def round_trip_schema(pg_url: str) -> Iterator[str]:
    """One schema for every hypothesis example (each empties the table first)."""
    schema = f"h_{uuid.uuid4().hex[:12]}"
    with open_warehouse(pg_url, schema) as warehouse:
        warehouse.ensure_schema()
    yield schema
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.postgres
@settings(max_examples=20, deadline=None)
@given(frames=st.lists(st.lists(_ROW, min_size=1, max_size=20), min_size=1, max_size=4))
def test_any_stream_of_rows_round_trips_through_the_binary_copy(
    pg_url: str, round_trip_schema: str, frames: list[list[dict[str, object]]]
) -> None:
    """Every value comes back exactly through the binary COPY: NULLs, int64's extremes, text of any unicode and
    width, exact decimals, instants, JSON; a frame converted in several chunks (one with NULLs, one without)."""
    batches, next_id = [], 1
    for rows in frames:
        # object columns, as built from Python values: pandas would pass ints beside a None through float64
        frame = pd.DataFrame({name: pd.Series([row[name] for row in rows], dtype=object) for name in rows[0]})
        frame.insert(0, "id", range(next_id, next_id + len(rows)))
        frame.insert(1, "account_id", 10)
        next_id += len(rows)
        batches.append(frame)
    with open_warehouse(pg_url, round_trip_schema) as warehouse, patch.object(backends, "CHUNK_ROWS", 7):
        warehouse.write("campaigns", iter(batches), account_ids=[10], date_range=None, run_id="h")
        stored = warehouse.read("campaigns")
        warehouse.write("campaigns", pd.DataFrame(), account_ids=[], date_range=None, run_id="h")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'TRUNCATE "{round_trip_schema}".campaigns')

    expected = [row for rows in frames for row in rows]
    assert len(stored) == len(expected)
    for (_, got), want in zip(stored.iterrows(), expected, strict=True):
        for name, value in want.items():
            assert (None if got[name] is pd.NA or got[name] is pd.NaT else got[name]) == value, (name, value)


class _Cycle:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_cycles_of_a_written_window_are_freed_while_the_collector_is_paused(simulator, tmp_path: Path) -> None:
    """On a backfill the producer keeps the cyclic collector paused while it decodes pages, i.e. most of the time:
    the cycles the writing thread makes for a window (frames, the write's objects) are freed once that window is
    written, not when the collector happens to run (on ``large`` they piled up to twice the peak memory)."""
    dataset = simulator.state.dataset
    account = f"urn:li:sponsoredAccount:{dataset.accounts[0]['id']}"
    days = [dataset.history_start + timedelta(days=i) for i in range(3)]
    plan = AnalyticsPlan(
        tuple(
            AnalyticsQuery("analytics", "CAMPAIGN", "DAILY", day, day, "accounts", (account,), ("impressions",))
            for day in days
        )
    )
    resource = LinkedInResource(
        api_base_url=simulator.api_base_url,
        oauth_base_url=simulator.oauth_base_url,
        client_id=simulator.client_id,
        client_secret=simulator.client_secret,
        access_token=simulator.access_token,
        refresh_token=simulator.refresh_token,
        token_store_path=str(tmp_path / "tokens.json"),
        max_concurrency=1,
    )
    cycles: list[weakref.ref[_Cycle]] = []

    def convert(window) -> pd.DataFrame:
        cycle = _Cycle()
        cycles.append(weakref.ref(cycle))
        return pd.DataFrame({"date": list(window.starts), "cycle": [cycle] * len(window)})

    freed = []
    gc.disable()  # as the producer's pause does, here for the whole stream
    try:
        stream = iter(AnalyticsStream(resource, plan, convert, queue_windows=1))
        # a consumer like the warehouse write: it lets go of a frame before it asks for the next
        while (frame := next(stream, None)) is not None:
            del frame
            freed.append([ref() is None for ref in cycles[:-1]])
    finally:
        gc.enable()
    assert len(cycles) == len(days)
    assert freed == [[True] * k for k in range(len(days))], "a written window's cycles outlived the next window"
    assert all(ref() is None for ref in cycles)
