"""Declared metric tables as assets: the per-rule conversion tables and users' custom reports.

Each :class:`~linkedin_assets.warehouse.schema.MetricTable` becomes a graph-backed, partitioned asset like the
built-in metric assets (:mod:`.common`: shards of accounts, a plan per account at its lower bound, rows streamed
into the warehouse IO manager, a record of each write): DAILY tables are partitioned by day and join the daily
sync, MONTHLY and YEARLY ones by month and join the monthly sync (a YEARLY table's monthly run refreshes the year
to date).
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd

from linkedin_assets.defs.assets.common import (
    KEY_PREFIX,
    METRIC_GRAPH_ASSET,
    Shard,
    analytics_batch,
    delivering_campaigns,
    metric_columns,
    shard_ops,
    whole_numbers,
)
from linkedin_assets.defs.assets.metrics import daily_window
from linkedin_assets.defs.io_managers.warehouse import WarehouseResource
from linkedin_assets.defs.partitions import DECLARED_DAILY, DECLARED_MONTHLY
from linkedin_assets.defs.resources import LinkedInResource, SyncSettings
from linkedin_assets.linkedin.catalogue import served
from linkedin_assets.linkedin.fields import MEMBER_PIVOTS, snake_case
from linkedin_assets.linkedin.models import AnalyticsWindow, urn_id
from linkedin_assets.linkedin.plan import (
    ActivitySpan,
    AnalyticsQuery,
    bucket_counts,
    buckets,
    entity_spans,
    merge_plans,
    plan_report,
)
from linkedin_assets.warehouse import Warehouse, WarehouseBatch
from linkedin_assets.warehouse.schema import ID_PIVOTS, MetricTable, pivot_column

DAILY_REPORTS = "linkedin_ads_daily_reports"
"""Asset group of the declared daily metric tables (per-rule conversions, daily custom reports): the daily sync's."""
MONTHLY_REPORTS = "linkedin_ads_monthly_reports"
"""Asset group of the declared monthly and yearly metric tables: the monthly sync's."""
VALUES_PER_ENTITY = {"IMPRESSION_DEVICE_TYPE": 5, "SERVING_LOCATION": 3, "PLACEMENT_NAME": 10, "CARD_INDEX": 10}
"""Rows a pivot multiplies an entity's by (an estimate; a response that reaches the cap is split and asked again)."""
MEMBER_VALUES = 300
"""Values a MEMBER_* pivot reports per facet and bucket (the same estimate as the demographics')."""


def _delivery_table(table: MetricTable) -> str | None:
    """The daily table whose rows say which entities of ``table``'s finest entity pivot delivered on which day (a
    daily table at account level is planned from it: days and accounts without delivery cost nothing)."""
    if table.granularity != "DAILY" or table.facet != "account":
        return None
    if "CREATIVE" in table.pivots:
        return "creative_daily_metrics"
    return "campaign_daily_metrics" if "CAMPAIGN" in table.pivots else None


def _upstream(table: MetricTable) -> list[str]:
    names = ["accounts", "campaigns"]
    names += ["creatives"] if "CREATIVE" in table.pivots else []
    names += ["conversions"] if "CONVERSION" in table.pivots else []
    delivery = _delivery_table(table) or ("campaign_daily_metrics" if table.facet == "campaign" else None)
    return names + ([delivery] if delivery else [])


def _window(table: MetricTable):
    """The days a run of ``table`` fetches: a daily table's partitions and lookback; a monthly one's months; a
    yearly one's years (to date)."""
    if table.granularity == "DAILY":
        return daily_window

    def window(context: dg.OpExecutionContext, settings: SyncSettings, wh: Warehouse) -> tuple[dt.date, dt.date]:
        partitions = context.partition_time_window
        first, last = partitions.start.date(), (partitions.end - dt.timedelta(days=1)).date()
        if table.granularity == "YEARLY":
            first, last = first.replace(month=1, day=1), last.replace(month=12, day=31)
        return first, min(last, dt.datetime.now(dt.UTC).date())

    return window


def _rows_per_bucket(
    table: MetricTable, wh: Warehouse, shard: Shard, values: Mapping[int, int]
) -> dict[int, list[int]]:
    """Per account, the rows each bucket of the shard's range can have."""
    delivery = _delivery_table(table)
    if delivery is not None:  # the rows this run's daily table holds, per account and day
        key = "creative_id" if delivery.startswith("creative") else "campaign_id"
        scope = ", ".join(str(int(a)) for a in shard.account_ids)
        found = wh.query(
            f"SELECT account_id, date, COUNT({key}) AS n FROM {wh.qualified(delivery)} WHERE account_id IN ({scope}) "
            "AND date BETWEEN %(start)s AND %(end)s GROUP BY account_id, date",
            {"start": shard.start, "end": shard.end},
        )
        days = [first for first, _ in buckets("DAILY", shard.start, shard.end)]
        known = {(int(a), pd.Timestamp(d).date()): int(n) for a, d, n in found.itertuples(index=False)}
        return {a: [values[a] * known.get((a, day), 0) for day in days] for a in shard.account_ids}
    spans = _spans(table, wh, shard.account_ids)
    return {
        a: bucket_counts(spans.get(a, []), table.granularity, shard.start, shard.end, values[a])
        for a in shard.account_ids
    }


def _spans(table: MetricTable, wh: Warehouse, account_ids: Sequence[int]) -> dict[int, list[ActivitySpan]]:
    """Per account, the spans of the table's finest entity pivot (none: one row per bucket and value)."""
    if not {"CREATIVE", "CAMPAIGN", "CAMPAIGN_GROUP"} & set(table.pivots):
        return {}
    rows: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
    for row in wh.read("campaigns", account_ids=account_ids).to_dict("records"):
        rows[int(row["account_id"])][0].append(row)
    if "CREATIVE" in table.pivots:
        for row in wh.read("creatives", account_ids=account_ids).to_dict("records"):
            rows[int(row["account_id"])][1].append(row)
    pivot = "CREATIVE" if "CREATIVE" in table.pivots else "CAMPAIGN"
    return {account: entity_spans(campaigns, creatives)[pivot] for account, (campaigns, creatives) in rows.items()}


def _values_per_entity(table: MetricTable, wh: Warehouse, account_ids: Sequence[int]) -> dict[int, int]:
    """Per account, the rows each entity (and bucket) can have: conversion rules times the other pivots' values."""
    base = 1
    for pivot in table.pivots:
        base *= MEMBER_VALUES if pivot in MEMBER_PIVOTS else VALUES_PER_ENTITY.get(pivot, 1)
    if "CONVERSION" not in table.pivots:
        return {a: base for a in account_ids}
    rules = wh.read("conversions", account_ids=account_ids, columns=["account_id", "id"])
    per_account = rules.groupby("account_id").size().to_dict() if len(rules) else {}
    return {a: base * int(per_account.get(a, 0)) for a in account_ids}  # no rule: nothing to ask


def report_frame(
    window: AnalyticsWindow, table: MetricTable, names: Mapping[str, str], account_of: Mapping[int, int]
) -> pd.DataFrame:
    """One window's rows -> the table's rows: a column per pivot (ids as numbers), the bucket's first day, the
    account (the request's account facet, else the facet campaign's account), the metrics (``names``: LinkedIn's
    name -> column)."""
    columns: dict[str, Any] = {}
    rows = len(window)
    for i, pivot in enumerate(table.pivots):
        values = [pv[i] for pv in window.pivot_values]
        if pivot in ID_PIVOTS:
            ids = {value: urn_id(value) for value in set(values)}
            columns[pivot_column(pivot)] = whole_numbers(list(map(ids.__getitem__, values)))
        else:
            columns[pivot_column(pivot)] = values
    campaign = urn_id(window.facet_urns[0]) if table.facet == "campaign" else None
    if campaign is not None and "campaign_id" not in columns:
        columns["campaign_id"] = whole_numbers([campaign] * rows)
    firsts = {day: _bucket_start(table, day) for day in set(window.starts)}
    columns[table.bucket_column] = list(map(firsts.__getitem__, window.starts))
    if "account_id" not in columns:
        account = window.account_id if window.account_id is not None else account_of.get(campaign or 0)
        columns["account_id"] = whole_numbers([account] * rows)
    columns.update(metric_columns(window, names))
    return pd.DataFrame(columns)


def _bucket_start(table: MetricTable, day: dt.date) -> dt.date:
    if table.granularity == "MONTHLY":
        return day.replace(day=1)
    return day.replace(month=1, day=1) if table.granularity == "YEARLY" else day


def _campaign_queries(table: MetricTable, wh: Warehouse, shard: Shard, metrics: tuple[str, ...]):
    """Per delivering campaign (daily rows in the range), one query per chunk and window of its delivering days."""
    delivered = delivering_campaigns(wh, shard.account_ids, shard.start, shard.end)
    queries: list[AnalyticsQuery] = []
    account_of: dict[int, int] = {}
    for row in delivered.to_dict("records"):
        campaign = int(row["campaign_id"])
        account_of[campaign] = int(row["account_id"])
        first = _bucket_start(table, pd.Timestamp(row["first_day"]).date())
        first = max(first, shard.start)
        rows = [MEMBER_VALUES] * len(buckets(table.granularity, first, shard.end))
        queries += plan_report("campaigns", [f"urn:li:sponsoredCampaign:{campaign}"], table.finder, table.pivot,
                               table.granularity, first, shard.end, metrics, rows)  # fmt: skip
    return queries, account_of


def _sync(
    table: MetricTable,
    context: dg.OpExecutionContext,
    shard: Shard,
    linkedin: LinkedInResource,
    settings: SyncSettings,
    warehouse: WarehouseResource,
) -> WarehouseBatch:
    """The shard's rows of ``table``: per account (or per delivering campaign), one request per field chunk and
    window; accounts (campaigns) with nothing that can report cost nothing."""
    metrics = served(table.metrics)
    queries: list[AnalyticsQuery] = []
    account_of: dict[int, int] = {}
    with warehouse.open() as wh:
        if table.facet == "campaign" and shard.account_ids:
            queries, account_of = _campaign_queries(table, wh, shard, metrics)
        elif shard.account_ids:
            values = _values_per_entity(table, wh, shard.account_ids)
            for account, rows in _rows_per_bucket(table, wh, shard, values).items():
                queries += plan_report("accounts", [f"urn:li:sponsoredAccount:{account}"], table.finder, table.pivot,
                                       table.granularity, shard.start, shard.end, metrics, rows)  # fmt: skip
    first = _bucket_start(table, shard.start)
    names = {metric: snake_case(metric) for metric in table.metrics}  # once, not per window
    return analytics_batch(
        context.log,
        linkedin,
        merge_plans(queries),
        lambda window: report_frame(window, table, names, account_of),
        what=f"{table.name} of {len(shard.account_ids)} account(s), {shard.start}..{shard.end}",
        account_ids=shard.account_ids,
        date_range=(first, shard.end),
    )


def _input(table: MetricTable, name: str) -> dg.AssetIn:
    """A ``Nothing`` input on ``linkedin_ads/<name>``; a monthly table reads the daily rows of its months."""
    mapping = None
    if name == "campaign_daily_metrics" and table.granularity != "DAILY":
        mapping = dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)
    return dg.AssetIn(key=[KEY_PREFIX, name], dagster_type=dg.Nothing, partition_mapping=mapping)


def report_asset(table: MetricTable) -> dg.AssetsDefinition:
    """The graph-backed, partitioned asset of a declared metric table (its key: ``linkedin_ads/<name>``)."""
    upstream = _upstream(table)
    ops = shard_ops(table.name, upstream=upstream, window=_window(table), sync=functools.partial(_sync, table))

    def compose(**inputs: Any) -> Any:
        return ops.compose(**inputs)

    compose.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in upstream]
    )
    compose.__name__ = table.name
    pivots = ", ".join(table.pivots)
    return dg.graph_asset(
        name=table.name,
        description=table.description or f"{table.granularity} {pivots} ({table.finder}), {len(table.metrics)} metrics",
        partitions_def=DECLARED_DAILY if table.granularity == "DAILY" else DECLARED_MONTHLY,
        ins={name: _input(table, name) for name in upstream},
        **{**METRIC_GRAPH_ASSET, "group_name": DAILY_REPORTS if table.granularity == "DAILY" else MONTHLY_REPORTS},
    )(compose)
