"""Audience demographics for the eight MEMBER_* pivots, partitioned by month, and the names of their values.

LinkedIn keeps demographics for two years and reports only the top values with at least three events, so the
rows are approximate and need not add up to the campaign totals.
"""

import datetime as dt
import re

import dagster as dg
import pandas as pd

from linkedin_assets.assets.common import API_ASSET, active_account_ids, fetch, markdown_list, rows_frame
from linkedin_assets.assets.metrics import campaign_daily_metrics, run_plan
from linkedin_assets.io_managers.warehouse import WarehouseResource
from linkedin_assets.linkedin.fields import DEMOGRAPHIC_METRICS, MEMBER_PIVOTS
from linkedin_assets.linkedin.models import urn_id
from linkedin_assets.linkedin.plan import AnalyticsQuery, calendar_day, merge_plans, plan_monthly
from linkedin_assets.partitions import monthly_partitions
from linkedin_assets.resources import LinkedInResource, SyncSettings
from linkedin_assets.warehouse import WarehouseBatch

RETENTION_MONTHS = 24


def _months_of(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    window = context.partition_time_window
    return window.start.date(), (window.end - dt.timedelta(days=1)).date().replace(day=1)


def _retention_start(today: dt.date) -> dt.date:
    year, month = divmod(today.year * 12 + today.month - 1 - RETENTION_MONTHS, 12)
    return dt.date(year, month + 1, 1)


@dg.asset(
    **API_ASSET,
    partitions_def=monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        dg.AssetDep(
            campaign_daily_metrics,
            partition_mapping=dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True),
        )
    ],
)
def demographic_metrics(
    context: dg.AssetExecutionContext,
    linkedin: LinkedInResource,
    settings: SyncSettings,
    warehouse: WarehouseResource,
    accounts: pd.DataFrame,
) -> WarehouseBatch:
    """Monthly metrics per MEMBER_* value, per account (default) or per delivering campaign.

    Account level asks once per account and pivot for the whole month range. Campaign level asks per pivot only
    for the campaigns whose daily metrics show delivery in the months (``q=statistics`` refuses MEMBER_* pivots, so
    every campaign costs its own requests).
    """
    first, last = _months_of(context)
    oldest = _retention_start(dt.datetime.now(dt.UTC).date())
    if last < oldest:
        context.log.info(f"{first}..{last} is older than LinkedIn's {RETENTION_MONTHS}-month demographic retention")
    first = max(first, oldest)
    account_ids = active_account_ids(accounts, linkedin)
    queries: list[AnalyticsQuery] = []
    owners: dict[str, int] = {}
    if first <= last and settings.demographics_level == "account":
        for account_id in account_ids:
            urn = f"urn:li:sponsoredAccount:{account_id}"
            owners[urn] = account_id
            for pivot in MEMBER_PIVOTS:
                queries += plan_monthly("accounts", [urn], pivot, first, last, DEMOGRAPHIC_METRICS)
    elif first <= last:
        month_end = (pd.Timestamp(last) + pd.offsets.MonthEnd(0)).date()
        with warehouse.open() as wh:
            delivered = wh.read("campaign_daily_metrics", where_date_range=(first, month_end), account_ids=account_ids)
        by_campaign = delivered.groupby("campaign_id")["date"].agg(["min", "max"]) if len(delivered) else pd.DataFrame()
        context.log.info(f"{len(by_campaign)} campaign(s) delivered in {first:%Y-%m}..{last:%Y-%m}")
        for campaign_id, row in by_campaign.iterrows():
            urn = f"urn:li:sponsoredCampaign:{int(campaign_id)}"
            owners[urn] = int(campaign_id)
            for pivot in MEMBER_PIVOTS:
                queries += plan_monthly(
                    "campaigns",
                    [urn],
                    pivot,
                    calendar_day(row["min"]).replace(day=1),
                    calendar_day(row["max"]).replace(day=1),
                    DEMOGRAPHIC_METRICS,
                )
    rows = run_plan(context, linkedin, merge_plans(queries), "demographics")
    level = settings.demographics_level
    records = [
        {
            "level": level,
            "entity_id": urn_id(row.facet_urns[0]),
            "account_id": urn_id(row.facet_urns[0]) if level == "account" else None,
            "pivot": row.pivot,
            "value": row.pivot_value,
            "month": row.start.replace(day=1),
            **row.metric_columns(),
        }
        for row in rows
    ]
    frame = rows_frame(records)
    if level == "campaign" and len(frame):
        with warehouse.open() as wh:
            campaigns = wh.read("campaigns")
        frame["account_id"] = frame["entity_id"].map(dict(zip(campaigns["id"], campaigns["account_id"], strict=True)))
    context.log.info(f"Fetched {len(frame)} demographic row(s) for {first:%Y-%m}..{last:%Y-%m} ({level} level)")
    if len(frame):
        context.add_output_metadata({"rows per pivot": markdown_list("pivot", frame["pivot"].value_counts().to_dict())})
    month_end = (pd.Timestamp(last) + pd.offsets.MonthEnd(0)).date()
    return WarehouseBatch(frame, account_ids=tuple(account_ids), date_range=(first, month_end))


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
