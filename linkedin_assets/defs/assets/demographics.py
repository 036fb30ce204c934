"""Audience demographics for the eight MEMBER_* pivots, partitioned by month, and the names of their values.

LinkedIn keeps demographics for two years and reports only the top values with at least three events, so the
rows are approximate and need not add up to the campaign totals.
"""

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd

from linkedin_assets.defs.assets.common import (
    API_ASSET,
    KEY_PREFIX,
    METRIC_GRAPH_ASSET,
    Shard,
    analytics_batch,
    delivering_campaigns,
    fetch,
    metric_columns,
    rows_frame,
    shard_ops,
    whole_numbers,
)
from linkedin_assets.defs.io_managers.warehouse import WarehouseResource
from linkedin_assets.defs.partitions import DECLARED_MONTHLY
from linkedin_assets.defs.resources import LinkedInResource, SyncSettings
from linkedin_assets.linkedin.catalogue import DEMOGRAPHIC_METRICS
from linkedin_assets.linkedin.fields import MEMBER_PIVOTS, snake_case
from linkedin_assets.linkedin.models import AnalyticsWindow, urn_id
from linkedin_assets.linkedin.plan import AnalyticsQuery, calendar_day, merge_plans, plan_monthly
from linkedin_assets.warehouse import Warehouse, WarehouseBatch

RETENTION_MONTHS = 24
DEMOGRAPHIC_COLUMNS = {name: snake_case(name) for name in DEMOGRAPHIC_METRICS}


def _retention_start(today: dt.date) -> dt.date:
    year, month = divmod(today.year * 12 + today.month - 1 - RETENTION_MONTHS, 12)
    return dt.date(year, month + 1, 1)


def _months_of(context: dg.OpExecutionContext, settings: SyncSettings, wh: Warehouse) -> tuple[dt.date, dt.date]:
    """First days of the run's first and last month, the first no older than LinkedIn's retention."""
    window = context.partition_time_window
    first, last = window.start.date(), (window.end - dt.timedelta(days=1)).date().replace(day=1)
    oldest = _retention_start(dt.datetime.now(dt.UTC).date())
    if last < oldest:
        context.log.info(f"{first}..{last} is older than LinkedIn's {RETENTION_MONTHS}-month demographic retention")
    return max(first, oldest), last


def _month_end(month: dt.date) -> dt.date:
    return (pd.Timestamp(month) + pd.offsets.MonthEnd(0)).date()


def demographics_frame(window: AnalyticsWindow, account_of: Mapping[int, int]) -> pd.DataFrame:
    """One window's rows -> ``demographic_metrics`` rows; ``level`` is the facet's (an account or a campaign).

    Every row of a window has the window's facet and pivot; the columns are built from the window's columns.
    """
    rows = len(window)
    facet = window.facet_urns[0]
    entity_id = urn_id(facet)
    level = "campaign" if facet.startswith("urn:li:sponsoredCampaign:") else "account"
    months = {day: day.replace(day=1) for day in set(window.starts)}
    columns: dict[str, Any] = {
        "level": [level] * rows,
        "entity_id": whole_numbers([entity_id] * rows),
        "account_id": whole_numbers([entity_id if level == "account" else account_of.get(entity_id)] * rows),
        "pivot": [window.pivot] * rows,
        "value": window.first_pivot_values(),
        "month": list(map(months.__getitem__, window.starts)),
    }
    columns.update(metric_columns(window, DEMOGRAPHIC_COLUMNS))
    return pd.DataFrame(columns)


def _sync_demographics(
    context: dg.OpExecutionContext,
    shard: Shard,
    linkedin: LinkedInResource,
    settings: SyncSettings,
    warehouse: WarehouseResource,
) -> WarehouseBatch:
    """Monthly rows per MEMBER_* value of the shard's accounts and of their delivering campaigns.

    Account level (``demographics_level=account``, the default) asks every pivot once per account; the pivots of
    ``campaign_demographic_pivots`` (country and region: Fivetran's monthly reports are per campaign) are also
    asked per campaign, only for the campaigns whose daily rows show delivery in the months, one request per
    campaign and pivot for all its delivering months (``q=statistics`` refuses MEMBER_* pivots, so a campaign
    cannot share a request). ``demographics_level=campaign`` asks every pivot per campaign instead.
    """
    first, last = shard.start, shard.end
    month_end = _month_end(last)
    by_account = MEMBER_PIVOTS if settings.demographics_level == "account" else ()
    by_campaign = MEMBER_PIVOTS if settings.demographics_level == "campaign" else settings.campaign_demographic_pivots
    queries: list[AnalyticsQuery] = []
    account_of: dict[int, int] = {}
    if first <= last:
        for account_id in shard.account_ids:
            urn = f"urn:li:sponsoredAccount:{account_id}"
            for pivot in by_account:
                queries += plan_monthly("accounts", [urn], pivot, first, last, DEMOGRAPHIC_METRICS)
    if first <= last and by_campaign and shard.account_ids:
        with warehouse.open() as wh:
            delivered = delivering_campaigns(wh, shard.account_ids, shard.start, month_end)
        context.log.info(f"{len(delivered)} campaign(s) delivered in {first:%Y-%m}..{last:%Y-%m}")
        for row in delivered.to_dict("records"):
            campaign_id = int(row["campaign_id"])
            account_of[campaign_id] = int(row["account_id"])
            months = calendar_day(row["first_day"]).replace(day=1), calendar_day(row["last_day"]).replace(day=1)
            for pivot in by_campaign:
                urn = f"urn:li:sponsoredCampaign:{campaign_id}"
                queries += plan_monthly("campaigns", [urn], pivot, *months, DEMOGRAPHIC_METRICS)
    levels = f"{len(by_account)} pivot(s) per account, {len(by_campaign)} per delivering campaign"
    return analytics_batch(
        context.log,
        linkedin,
        merge_plans(queries),
        lambda window: demographics_frame(window, account_of),
        what=f"demographics ({levels}) of {len(shard.account_ids)} account(s), {first:%Y-%m}..{last:%Y-%m}",
        account_ids=shard.account_ids,
        date_range=(first, month_end),
    )


_demographic_ops = shard_ops(
    "demographic_metrics", upstream=["accounts", "campaign_daily_metrics"], window=_months_of, sync=_sync_demographics
)


@dg.graph_asset(
    **METRIC_GRAPH_ASSET,
    partitions_def=DECLARED_MONTHLY,
    ins={
        "accounts": dg.AssetIn(key=[KEY_PREFIX, "accounts"], dagster_type=dg.Nothing),
        "campaign_daily_metrics": dg.AssetIn(
            key=[KEY_PREFIX, "campaign_daily_metrics"],
            dagster_type=dg.Nothing,
            partition_mapping=dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True),
        ),
    },
)
def demographic_metrics(accounts, campaign_daily_metrics):
    """Monthly metrics per MEMBER_* value, per account and, for country and region, per delivering campaign.

    Account level asks once per account and pivot for the whole month range. Campaign level asks per pivot only
    for the campaigns whose daily metrics show delivery in the months (``q=statistics`` refuses MEMBER_* pivots, so
    every campaign costs its own requests).
    """
    return _demographic_ops.compose(accounts=accounts, campaign_daily_metrics=campaign_daily_metrics)


COMPANY_SIZE = re.compile(r"^SIZE_(\d+)(?:_TO_(\d+)|_OR_MORE)?$")
COMPANY_SIZE_LETTERS = {
    "A": "Self-employed",
    "B": "1-10 employees",
    "C": "11-50 employees",
    "D": "51-200 employees",
    "E": "201-500 employees",
    "F": "501-1,000 employees",
    "G": "1,001-5,000 employees",
    "H": "5,001-10,000 employees",
    "I": "10,001+ employees",
}


def local_name(value: str) -> str | None:
    """Names LinkedIn's company-size values, which are not targeting URNs (three spellings are in use)."""
    if match := COMPANY_SIZE.match(value):
        low, high = match.groups()
        if high:
            return f"{int(low):,}-{int(high):,} employees"
        return f"{int(low):,}+ employees" if value.endswith("_OR_MORE") else f"{int(low):,} employee"
    if value.startswith("urn:li:companySize:"):
        return COMPANY_SIZE_LETTERS.get(value.rsplit(":", 1)[-1])
    if match := re.match(r"^urn:li:staffCountRange:\((\d+),(\d+)\)$", value):
        return f"{int(match[1]):,}-{int(match[2]):,} employees"
    return None


def fallback_name(pivot: str, value: str) -> str:
    """A readable stand-in for a value LinkedIn could not name, e.g. ``Seniority 9``."""
    label = pivot.removeprefix("MEMBER_").removesuffix("_V2").replace("_", " ").capitalize()
    return f"{label} {value.rsplit(':', 1)[-1]}"


@dg.asset(**API_ASSET, deps=[demographic_metrics])
def demographic_values(
    context: dg.AssetExecutionContext, linkedin: LinkedInResource, warehouse: WarehouseResource
) -> WarehouseBatch:
    """Human-readable names of the demographic values (``adTargetingEntities?q=urns``), asked once per value."""
    with warehouse.open() as wh:
        seen = wh.query(
            f"SELECT DISTINCT m.pivot, m.value FROM {wh.qualified('demographic_metrics')} m "
            f"LEFT JOIN {wh.qualified('demographic_values')} v ON v.value = m.value "
            "WHERE v.value IS NULL OR NOT v.resolved ORDER BY m.pivot, m.value"
        )
    pairs = list(zip(seen.get("pivot", []), seen.get("value", []), strict=True))
    named = {value: name for _, value in pairs if (name := local_name(value))}
    urns = sorted({value for _, value in pairs if value not in named and value.startswith("urn:")})
    context.log.info(
        f"{len(pairs)} demographic value(s) without a name: {len(named)} named locally, {len(urns)} to ask LinkedIn"
    )
    resolved = fetch(context, linkedin, lambda client: client.targeting_entity_names(urns)) if urns else {}
    rows = [
        {
            "value": value,
            "pivot": pivot,
            "name": named.get(value) or resolved.get(value) or fallback_name(pivot, value),
            "facet_urn": None,
            "resolved": value in named or value in resolved,
        }
        for pivot, value in pairs
    ]
    context.add_output_metadata({"unresolved": sum(not r["resolved"] for r in rows)})
    return WarehouseBatch(rows_frame(rows), account_ids=())
