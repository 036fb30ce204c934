"""Daily campaign and creative metrics, partitioned by day.

A run over a range of days fetches the whole range at once and always reaches back ``lookback_days`` before the
range's end, because LinkedIn revises recent conversions and spend: those days are rewritten too. Each asset is a
graph (see :mod:`linkedin_assets.defs.assets.common`): its accounts are split into shards, each shard plans only its own
accounts (so the requests stay at the plans' lower bound) and streams its rows, window by window, into its own
transaction.
"""

import datetime as dt
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
    metric_columns,
    shard_ops,
    whole_numbers,
)
from linkedin_assets.defs.io_managers.warehouse import WarehouseResource
from linkedin_assets.defs.partitions import DECLARED_DAILY
from linkedin_assets.defs.resources import LinkedInResource, SyncSettings
from linkedin_assets.linkedin.catalogue import DAILY_METRICS
from linkedin_assets.linkedin.fields import snake_case
from linkedin_assets.linkedin.models import AnalyticsWindow
from linkedin_assets.linkedin.plan import (
    ActivitySpan,
    campaign_span,
    creative_rows_per_day,
    creative_span,
    merge_plans,
    plan_daily,
    rows_per_day,
)
from linkedin_assets.warehouse import Warehouse, WarehouseBatch

CAMPAIGN_DAILY_KEY = dg.AssetKey([KEY_PREFIX, "campaign_daily_metrics"])
METRIC_COLUMNS = {name: snake_case(name) for name in DAILY_METRICS}
"""Every column of the daily tables; a metric a sync does not ask for is NULL."""


def fetch_window(context: dg.OpExecutionContext, lookback_days: int, start_date: dt.date) -> tuple[dt.date, dt.date]:
    """The days a run fetches: its partitions, extended back to ``lookback_days`` before their end (never before
    ``start_date``, the first partition)."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date() - dt.timedelta(days=1)
    first_partition = start_date
    start = max(first_partition, min(start, end - dt.timedelta(days=max(lookback_days, 1) - 1)))
    return start, end


def longest_attribution_window(wh: Warehouse) -> int:
    """The longest post-click window (days) of the enabled conversion rules LinkedIn still lists (0: none)."""
    found = wh.query(
        f"SELECT MAX(post_click_attribution_window_size) AS days FROM {wh.qualified('conversions')} "
        "WHERE enabled AND removed_at IS NULL"
    )
    days = found["days"].iloc[0] if len(found) else None
    return int(days) if days is not None and days == days else 0


def daily_window(context: dg.OpExecutionContext, settings: SyncSettings, wh: Warehouse) -> tuple[dt.date, dt.date]:
    """The days a daily metric run fetches: its partitions and the lookback, which reaches at least the longest
    post-click window of the enabled conversion rules (LinkedIn attributes conversions to a click that long after
    it, so a 90-day rule revises 90 days)."""
    lookback = max(settings.lookback_days, longest_attribution_window(wh))
    return fetch_window(context, lookback, dt.date.fromisoformat(settings.start_date))


def metrics_frame(window: AnalyticsWindow, key: str, owners: Mapping[int, Mapping[str, int | None]]) -> pd.DataFrame:
    """One window's analytics rows -> table rows keyed by ``key`` (``campaign_id``/``creative_id``) and ``date``,
    with the owner columns (``account_id``, for creatives also ``campaign_id``) from ``owners``.

    ``account_id`` is the account the window was requested for (its ``accounts`` facet), so a row of a creative or
    campaign the entity listing no longer returns still lands with its account; ``owners`` supply the rest (and the
    account only for a request that was not made per account).

    Built from the window's columns (no dict or object per row); the ids and owners are looked up once per entity of
    the window. Whole numbers are int64 (beside a ``None``: nullable Int64, exact), money Decimal objects.
    """
    ids = window.pivot_ids()
    columns: dict[str, Any] = {key: whole_numbers(ids), "date": window.starts}
    columns.update(metric_columns(window, METRIC_COLUMNS))
    owner_columns = {c for owner in owners.values() for c in owner} or {"account_id"}
    entities = set(ids)
    requested_for = window.account_id
    for column in sorted(owner_columns):
        if column == "account_id" and requested_for is not None:
            columns[column] = whole_numbers([requested_for] * len(ids))
            continue
        of = {i: owners.get(i, {}).get(column) for i in entities}
        columns[column] = whole_numbers(list(map(of.__getitem__, ids)))
    return pd.DataFrame(columns)


def materialized_days(instance: dg.DagsterInstance, key: dg.AssetKey, start: dt.date, end: dt.date) -> set[dt.date]:
    """Days in ``[start, end]`` whose partition of ``key`` has been materialized (its rows are authoritative)."""
    keys = instance.get_materialized_partitions(key)
    return {d for d in (dt.date.fromisoformat(k) for k in keys) if start <= d <= end}


def campaign_days(wh: Warehouse, account_ids: Sequence[int], start: dt.date, end: dt.date) -> pd.DataFrame:
    """``account_id, campaign_id, date`` of the campaign rows of ``account_ids`` in ``[start, end]`` (three columns,
    not the metrics: the plans only need to know which campaign had a row on which day)."""
    if not account_ids:
        return pd.DataFrame(columns=["account_id", "campaign_id", "date"])
    scope = ", ".join(str(int(a)) for a in account_ids)
    return wh.query(
        f"SELECT account_id, campaign_id, date FROM {wh.qualified('campaign_daily_metrics')} "
        f"WHERE account_id IN ({scope}) AND date BETWEEN %(start)s AND %(end)s",
        {"start": start, "end": end},
    )


def _by_account(frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
    if frame.empty:
        return {}
    return {int(account_id): part for account_id, part in frame.groupby("account_id")}


def _sync_campaigns(
    context: dg.OpExecutionContext,
    shard: Shard,
    linkedin: LinkedInResource,
    settings: SyncSettings,
    warehouse: WarehouseResource,
) -> WarehouseBatch:
    """Campaign rows of the shard: one account-level request per field chunk and window.

    Campaigns whose run schedule misses the window cost nothing. Where earlier campaign rows of an account are in
    the warehouse for days already materialized, the plan's window estimate counts them (plus a margin) instead of
    the schedules' worst case.
    """
    start, end = shard.start, shard.end
    with warehouse.open() as wh:
        campaigns = wh.read("campaigns", account_ids=shard.account_ids)
        earlier = _by_account(campaign_days(wh, shard.account_ids, start, end))
    known_days = materialized_days(context.instance, CAMPAIGN_DAILY_KEY, start, end)
    spans: dict[int, list[ActivitySpan]] = defaultdict(list)
    for row in campaigns.to_dict("records"):
        spans[int(row["account_id"])].append(campaign_span(row))
    parts = []
    for account_id in shard.account_ids:
        rows = earlier.get(account_id)
        # An account without a single earlier row in the range was not synced there (or is new): unknown, not zero.
        known = rows_per_day(rows["date"], known_days) if rows is not None and known_days else None
        parts.append(
            plan_daily(
                f"urn:li:sponsoredAccount:{account_id}",
                "CAMPAIGN",
                spans.get(account_id, []),
                start,
                end,
                settings.daily_metrics,
                known_rows_per_day=known,
            )
        )
    owners = {int(i): {"account_id": int(a)} for i, a in zip(campaigns["id"], campaigns["account_id"], strict=True)}
    return analytics_batch(
        context.log,
        linkedin,
        merge_plans(*parts),
        lambda window: metrics_frame(window, "campaign_id", owners),
        what=f"campaign daily metrics of {len(shard.account_ids)} account(s), {start}..{end}",
        account_ids=shard.account_ids,
        date_range=(start, end),
    )


def _sync_creatives(
    context: dg.OpExecutionContext,
    shard: Shard,
    linkedin: LinkedInResource,
    settings: SyncSettings,
    warehouse: WarehouseResource,
) -> WarehouseBatch:
    """Creative rows of the shard.

    A creative can only deliver on days its campaign delivered: on days whose campaign metrics are materialized
    (this run's campaign step has just written them), the plan counts the creatives of the campaigns with a row that
    day, so windows are as wide as the cap allows.
    """
    start, end = shard.start, shard.end
    with warehouse.open() as wh:
        campaigns = wh.read("campaigns", account_ids=shard.account_ids)
        creatives = wh.read("creatives", account_ids=shard.account_ids)
        delivered = _by_account(campaign_days(wh, shard.account_ids, start, end))
    known_days = materialized_days(context.instance, CAMPAIGN_DAILY_KEY, start, end)
    schedules = {int(row["id"]): campaign_span(row) for row in campaigns.to_dict("records")}
    creative_spans: dict[int, list[tuple[int, ActivitySpan]]] = defaultdict(list)
    for row in creatives.to_dict("records"):
        campaign_id = int(row["campaign_id"])
        creative_spans[int(row["account_id"])].append((campaign_id, creative_span(row, schedules.get(campaign_id))))
    parts = []
    for account_id in shard.account_ids:
        pairs = creative_spans.get(account_id, [])
        rows = delivered.get(account_id)
        known = None
        if known_days:
            days = zip(rows["campaign_id"], rows["date"], strict=True) if rows is not None else ()
            known = creative_rows_per_day(pairs, days, known_days)
        parts.append(
            plan_daily(
                f"urn:li:sponsoredAccount:{account_id}",
                "CREATIVE",
                [span for _, span in pairs],
                start,
                end,
                settings.daily_metrics,
                known_rows_per_day=known,
            )
        )
    owners = {
        int(i): {"account_id": int(a), "campaign_id": int(c)}
        for i, a, c in zip(creatives["id"], creatives["account_id"], creatives["campaign_id"], strict=True)
    }
    return analytics_batch(
        context.log,
        linkedin,
        merge_plans(*parts),
        lambda window: metrics_frame(window, "creative_id", owners),
        what=f"creative daily metrics of {len(shard.account_ids)} account(s), {start}..{end}",
        account_ids=shard.account_ids,
        date_range=(start, end),
    )


_campaign_ops = shard_ops(
    "campaign_daily_metrics", upstream=["accounts", "campaigns"], window=daily_window, sync=_sync_campaigns
)
_creative_ops = shard_ops(
    "creative_daily_metrics",
    upstream=["accounts", "campaigns", "creatives", "campaign_daily_metrics"],
    window=daily_window,
    sync=_sync_creatives,
)


def _upstream(*names: str) -> dict[str, dg.AssetIn]:
    return {name: dg.AssetIn(key=[KEY_PREFIX, name], dagster_type=dg.Nothing) for name in names}


@dg.graph_asset(**METRIC_GRAPH_ASSET, partitions_def=DECLARED_DAILY, ins=_upstream("accounts", "campaigns"))
def campaign_daily_metrics(accounts, campaigns):
    """Daily metrics per campaign (``LINKEDIN_ASSETS_METRICS``, by default Fivetran's 60 and four more): one
    account-level request per field chunk and window.

    Campaigns whose run schedule misses the window cost nothing.
    """
    return _campaign_ops.compose(accounts=accounts, campaigns=campaigns)


@dg.graph_asset(
    **METRIC_GRAPH_ASSET,
    partitions_def=DECLARED_DAILY,
    ins=_upstream("accounts", "campaigns", "creatives", "campaign_daily_metrics"),
)
def creative_daily_metrics(accounts, campaigns, creatives, campaign_daily_metrics):
    """Daily metrics per creative (the same metrics as the campaign rows).

    A creative can only deliver on days its campaign delivered: the plan counts, on days whose campaign metrics are
    materialized, only the creatives of campaigns that delivered, so fewer windows (often none) are needed.
    """
    return _creative_ops.compose(
        accounts=accounts, campaigns=campaigns, creatives=creatives, campaign_daily_metrics=campaign_daily_metrics
    )
