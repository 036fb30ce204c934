"""What a sync of the simulator must leave in a PostgreSQL warehouse schema, checked against its ground truth."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
from psycopg import sql

from linkedin_assets.simulator import SimulatorServer

DailyTotals = dict[tuple[int, dt.date], tuple[int, int, Decimal]]


def _id(value: int | str) -> int:
    """The number of an id or of a URN such as ``urn:li:sponsoredCreative:123``."""
    return int(str(value).rsplit(":", 1)[-1])


def _expected_campaign_days(sim: SimulatorServer) -> DailyTotals:
    """Impressions, clicks and cost per (campaign, day) over the simulator's whole history."""
    truth = sim.state.dataset.daily_metrics("CAMPAIGN")
    return {
        (_id(row.pivot_value), row.date): (int(row.impressions), int(row.clicks), Decimal(row.costInLocalCurrency))
        for row in truth.itertuples()
    }


def _warehouse_campaign_days(conn: psycopg.Connection, schema: str) -> DailyTotals:
    """The same sums, read from ``<schema>.campaign_daily_metrics``."""
    query = sql.SQL(
        "SELECT campaign_id, date, sum(impressions), sum(clicks), sum(cost_in_local_currency)"
        " FROM {}.campaign_daily_metrics GROUP BY campaign_id, date"
    ).format(sql.Identifier(schema))
    return {
        (campaign, day): (int(impressions), int(clicks), Decimal(cost))
        for campaign, day, impressions, clicks, cost in conn.execute(query)
    }


def _ids(conn: psycopg.Connection, schema: str, table: str) -> set[int]:
    query = sql.SQL("SELECT id FROM {}.{} WHERE removed_at IS NULL").format(
        sql.Identifier(schema), sql.Identifier(table)
    )
    return {row[0] for row in conn.execute(query)}


def assert_warehouse_matches(sim: SimulatorServer, warehouse_url: str, schema: str, written_by: str) -> None:
    """Daily campaign metrics equal the simulator's ground truth, every entity of the simulator is present, and
    every ``campaign_daily_metrics`` row was written by the run ``written_by`` (the one that synced last)."""
    dataset = sim.state.dataset
    with psycopg.connect(warehouse_url) as conn:
        assert _warehouse_campaign_days(conn, schema) == _expected_campaign_days(sim)
        for table, entities in (
            ("accounts", dataset.accounts),
            ("campaigns", dataset.campaigns),
            ("creatives", dataset.creatives),
        ):
            assert _ids(conn, schema, table) == {_id(entity["id"]) for entity in entities}, table
        writers = conn.execute(
            sql.SQL("SELECT DISTINCT _dagster_run_id FROM {}.campaign_daily_metrics").format(sql.Identifier(schema))
        ).fetchall()
        assert writers == [(written_by,)]
