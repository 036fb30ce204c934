"""Daily campaign and creative metrics, partitioned by day.

A run over a range of days fetches the whole range at once, account by account (the client plans the fewest
requests), and always reaches back ``lookback_days`` before the range's end, because LinkedIn revises recent
conversions and spend: those days are rewritten too.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence

import dagster as dg
import pandas as pd

from linkedin_assets.assets.common import API_ASSET, active_account_ids, fetch, rows_frame
from linkedin_assets.assets.entities import campaigns
from linkedin_assets.io_managers.warehouse import WarehouseResource
from linkedin_assets.linkedin.fields import DEFAULT_METRICS
from linkedin_assets.linkedin.models import AnalyticsRow, urn_id
from linkedin_assets.linkedin.plan import (
    ActivitySpan,
    AnalyticsPlan,
    calendar_day,
    campaign_span,
    creative_span,
    merge_plans,
    plan_daily,
)
from linkedin_assets.partitions import daily_partitions
from linkedin_assets.resources import LinkedInResource, SyncSettings
from linkedin_assets.warehouse import WarehouseBatch

DAILY_METRICS_ASSET = {
    **API_ASSET,
    "partitions_def": daily_partitions,
    "backfill_policy": dg.BackfillPolicy.single_run(),
}


def fetch_window(context: dg.AssetExecutionContext, lookback_days: int) -> tuple[dt.date, dt.date]:
    """The days a run fetches: its partitions, extended back to ``lookback_days`` before their end."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date() - dt.timedelta(days=1)
    first_partition = dt.date.fromisoformat(daily_partitions.get_first_partition_key())
    start = max(first_partition, min(start, end - dt.timedelta(days=max(lookback_days, 1) - 1)))
    return start, end


def run_plan(
    context: dg.AssetExecutionContext, linkedin: LinkedInResource, plan: AnalyticsPlan, what: str
) -> list[AnalyticsRow]:
    context.log.info(
        f"Planned {plan.request_count} analytics request(s) for {what}:\n{plan.describe() or 'nothing to ask'}"
    )
    context.add_output_metadata({"linkedin/planned_requests": plan.request_count})
    if not plan.queries:
        return []
    return fetch(context, linkedin, lambda client: client.run_analytics(plan))


def metrics_rows(rows: Iterable[AnalyticsRow], key: str) -> list[dict]:
    """Analytics rows -> table rows keyed by ``key`` (``campaign_id`` or ``creative_id``) and ``date``."""
    return [{key: urn_id(row.pivot_value), "date": row.start, **row.metric_columns()} for row in rows]


def _summary(context: dg.AssetExecutionContext, frame: pd.DataFrame, start: dt.date, end: dt.date) -> None:
    context.log.info(f"Fetched {len(frame)} daily row(s) for {start}..{end}")
    context.add_output_metadata(
        {
            "fetched_range": f"{start}..{end}",
            "impressions": int(frame["impressions"].fillna(0).sum()) if "impressions" in frame else 0,
            "clicks": int(frame["clicks"].fillna(0).sum()) if "clicks" in frame else 0,
        }
    )


@dg.asset(**DAILY_METRICS_ASSET)
def campaign_daily_metrics(
    context: dg.AssetExecutionContext,
    linkedin: LinkedInResource,
    settings: SyncSettings,
    accounts: pd.DataFrame,
    campaigns: pd.DataFrame,
) -> WarehouseBatch:
    """Daily metrics per campaign (``DEFAULT_METRICS``): one account-level request per field chunk and window.

    Campaigns whose run schedule misses the window cost nothing.
    """
    start, end = fetch_window(context, settings.lookback_days)
    account_ids = active_account_ids(accounts, linkedin)
    spans: dict[int, list[ActivitySpan]] = defaultdict(list)
    for row in campaigns.to_dict("records"):
        spans[int(row["account_id"])].append(campaign_span(row))
    plan = merge_plans(
        *(
            plan_daily(f"urn:li:sponsoredAccount:{a}", "CAMPAIGN", spans.get(a, []), start, end, DEFAULT_METRICS)
            for a in account_ids
        )
    )
    rows = metrics_rows(run_plan(context, linkedin, plan, "campaign daily metrics"), "campaign_id")
    account_of = (
        dict(zip(campaigns["id"].astype(int), campaigns["account_id"].astype(int), strict=True))
        if len(campaigns)
        else {}
    )
    frame = rows_frame({**r, "account_id": account_of.get(r["campaign_id"])} for r in rows)
    _summary(context, frame, start, end)
    return WarehouseBatch(frame, account_ids=tuple(account_ids), date_range=(start, end))


@dg.asset(**DAILY_METRICS_ASSET, deps=[campaign_daily_metrics, campaigns])
def creative_daily_metrics(
    context: dg.AssetExecutionContext,
    linkedin: LinkedInResource,
    settings: SyncSettings,
    warehouse: WarehouseResource,
    accounts: pd.DataFrame,
    creatives: pd.DataFrame,
) -> WarehouseBatch:
    """Daily metrics per creative (``DEFAULT_METRICS``).

    A creative can only deliver on days its campaign delivered: on days whose campaign metrics are materialized,
    the plan counts only those days, so fewer windows (often none) are needed.
    """
    start, end = fetch_window(context, settings.lookback_days)
    account_ids = active_account_ids(accounts, linkedin)
    with warehouse.open() as wh:
        campaign_rows = wh.read("campaign_daily_metrics", where_date_range=(start, end))
        campaign_table = wh.read("campaigns")
    known_days = _materialized_days(context, campaign_daily_metrics.key, start, end)
    delivered = _delivery_days(campaign_rows)
    schedules = {int(row["id"]): campaign_span(row) for row in campaign_table.to_dict("records")}
    spans: dict[int, list[ActivitySpan]] = defaultdict(list)
    for row in creatives.to_dict("records"):
        span = creative_span(row, schedules.get(int(row["campaign_id"])))
        # on days whose campaign metrics are known, a creative delivers only where its campaign did
        days = [
            d
            for d in _span_days(span, start, end)
            if d not in known_days or d in delivered.get(int(row["campaign_id"]), ())
        ]
        spans[int(row["account_id"])].extend(ActivitySpan(span.urn, a, b) for a, b in _runs(days))
    plan = merge_plans(
        *(
            plan_daily(f"urn:li:sponsoredAccount:{a}", "CREATIVE", spans.get(a, []), start, end, DEFAULT_METRICS)
            for a in account_ids
        )
    )
    rows = metrics_rows(run_plan(context, linkedin, plan, "creative daily metrics"), "creative_id")
    owners = {int(r.id): (int(r.account_id), int(r.campaign_id)) for r in creatives.itertuples()}
    frame = rows_frame(
        {
            **r,
            "account_id": owners.get(r["creative_id"], (None, None))[0],
            "campaign_id": owners.get(r["creative_id"], (None, None))[1],
        }
        for r in rows
    )
    _summary(context, frame, start, end)
    return WarehouseBatch(frame, account_ids=tuple(account_ids), date_range=(start, end))


def _materialized_days(
    context: dg.AssetExecutionContext, key: dg.AssetKey, start: dt.date, end: dt.date
) -> set[dt.date]:
    """Days in ``[start, end]`` whose partition of ``key`` has been materialized (its rows are authoritative)."""
    keys = context.instance.get_materialized_partitions(key)
    return {d for d in (dt.date.fromisoformat(k) for k in keys) if start <= d <= end}


def _delivery_days(campaign_rows: pd.DataFrame) -> dict[int, set[dt.date]]:
    days: dict[int, set[dt.date]] = defaultdict(set)
    for campaign_id, day in zip(campaign_rows.get("campaign_id", []), campaign_rows.get("date", []), strict=True):
        days[int(campaign_id)].add(calendar_day(day))
    return days


def _span_days(span: ActivitySpan, start: dt.date, end: dt.date) -> list[dt.date]:
    first, last = max(start, span.start or start), min(end, span.end or end)
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _runs(days: Sequence[dt.date]) -> Iterable[tuple[dt.date, dt.date]]:
    """Consecutive days -> (first, last) runs."""
    run_start = previous = None
    for day in days:
        if previous is None or (day - previous).days > 1:
            if run_start is not None:
                yield run_start, previous
            run_start = day
        previous = day
    if run_start is not None:
        yield run_start, previous
