"""The JSON snapshot, built from what the warehouse holds so the two never disagree.

It publishes LinkedIn's rows as they are, with a ``warnings`` entry for each row a check on LinkedIn's numbers flags
(``checks.RULES``). It refuses only when the project's own tables disagree: a metric row of an unknown campaign or
creative in the window would silently fall out of the nested document.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import dagster as dg
import pandas as pd

from linkedin_assets.assets.common import GROUP, KEY_PREFIX
from linkedin_assets.assets.demographics import demographic_metrics, demographic_values
from linkedin_assets.assets.entities import accounts, campaign_groups, campaigns, creatives
from linkedin_assets.assets.metrics import campaign_daily_metrics, creative_daily_metrics
from linkedin_assets.checks import CAMPAIGN_DAILY, CREATIVE_DAILY, Scope, orphan_rows, snapshot_warnings
from linkedin_assets.io_managers.warehouse import WarehouseResource
from linkedin_assets.linkedin.fields import DEFAULT_METRICS, DEMOGRAPHIC_METRICS, snake_case
from linkedin_assets.linkedin.plan import calendar_day
from linkedin_assets.partitions import daily_partitions
from linkedin_assets.resources import SyncSettings
from linkedin_assets.snapshot_schema import (
    AccountSnapshot,
    CampaignSnapshot,
    CreativeSnapshot,
    DailyMetrics,
    DemographicRow,
    Metrics,
    Snapshot,
    SnapshotWarning,
    SnapshotWindow,
)

METRIC_COLUMNS = [snake_case(m) for m in DEFAULT_METRICS]
DEMOGRAPHIC_COLUMNS = [snake_case(m) for m in DEMOGRAPHIC_METRICS]
ADDITIVE = [c for c in METRIC_COLUMNS if c != "approximate_member_reach"]


@dg.asset(
    key_prefix=[KEY_PREFIX],
    group_name=GROUP,
    io_manager_key="snapshot_io",
    kinds={"json"},
    deps=[
        accounts,
        campaign_groups,
        campaigns,
        creatives,
        dg.AssetDep(campaign_daily_metrics, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(creative_daily_metrics, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(demographic_metrics, partition_mapping=dg.AllPartitionMapping()),
        demographic_values,
    ],
)
def snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: SyncSettings) -> Snapshot:
    """The nested snapshot document for the last ``snapshot_days`` days, validated before it is written."""
    end = dt.date.fromisoformat(daily_partitions.get_last_partition_key() or dt.date.today().isoformat())
    start = end - dt.timedelta(days=settings.snapshot_days - 1)
    with warehouse.open() as wh:
        orphans = {
            t: f for t in (CAMPAIGN_DAILY, CREATIVE_DAILY) if not (f := orphan_rows(wh, t, Scope(start, end))).passed
        }
        if orphans:
            raise dg.Failure(
                description="Not publishing a snapshot that would drop metric rows of unknown campaigns or creatives: "
                + "; ".join(f"{table}: {finding.count} row(s)" for table, finding in orphans.items()),
                metadata={table: dg.MetadataValue.json(finding.sample) for table, finding in orphans.items()},
            )
        warnings = snapshot_warnings(wh, start, end, settings.demographics_level)
        document = build_snapshot(wh, start, end, context.run.run_id, warnings)
    n_campaigns = sum(len(a.campaigns) for a in document.accounts)
    n_creatives = sum(len(c.creatives) for a in document.accounts for c in a.campaigns)
    context.log.info(
        f"Snapshot {start}..{end}: {len(document.accounts)} account(s), {n_campaigns} campaign(s), "
        f"{n_creatives} creative(s), {len(warnings)} warning(s)"
    )
    context.add_output_metadata(
        {
            "window": f"{start}..{end}",
            "accounts": len(document.accounts),
            "campaigns": n_campaigns,
            "creatives": n_creatives,
            "warnings": len(warnings),
            "summary": dg.MetadataValue.md(summary_markdown(document)),
        }
    )
    return document


CENT = Decimal("0.01")


def summary_markdown(document: Snapshot) -> str:
    """One line per account over the window: campaigns, creatives, impressions, clicks, spend, warnings."""
    owner = {}
    for a in document.accounts:
        owner[("account", a.id)] = a.id
        for c in a.campaigns:
            owner[("campaign", c.id)] = a.id
            owner.update({("creative", creative.id): a.id for creative in c.creatives})
    warned: dict[int | None, int] = defaultdict(int)
    for w in document.warnings:
        warned[owner.get((w.entity, w.entity_id))] += 1
    lines = [
        f"**{document.window.start} to {document.window.end}** (spend rounded to cents; exact in the JSON)",
        "",
        "| account | campaigns | creatives | impressions | clicks | spend | warnings |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for a in document.accounts:
        totals = [c.totals for c in a.campaigns]
        impressions = sum(t.impressions or 0 for t in totals)
        clicks = sum(t.clicks or 0 for t in totals)
        spend = sum((t.cost_in_local_currency or Decimal(0) for t in totals), Decimal(0))
        name = (a.name or "").replace("|", "\\|")
        lines.append(
            f"| {a.id} {name} | {len(a.campaigns)} | {sum(len(c.creatives) for c in a.campaigns)} | "
            f"{impressions:,} | {clicks:,} | {spend.quantize(CENT):,f} {a.currency or ''} | {warned[a.id]} |"
        )
    return "\n".join(lines)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of Python values, ``None`` for every kind of missing value."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _daily_metrics(wh: Any, table: str, key: str, start: dt.date, end: dt.date) -> dict[int, list[DailyMetrics]]:
    """Daily rows of ``table`` in ``[start, end]`` by entity id, in date order."""
    days = defaultdict(list)
    for r in _records(wh.read(table, where_date_range=(start, end))):
        days[r[key]].append(DailyMetrics(date=calendar_day(r["date"]), **{c: r.get(c) for c in METRIC_COLUMNS}))
    return {entity: sorted(rows, key=lambda m: m.date) for entity, rows in days.items()}


def build_snapshot(
    wh: Any, start: dt.date, end: dt.date, run_id: str | None, warnings: list[SnapshotWarning]
) -> Snapshot:
    """Read the warehouse tables and nest them; raises ``pydantic.ValidationError`` on anything malformed."""
    account_rows = _records(wh.read("accounts"))
    group_names = {r["id"]: r["name"] for r in _records(wh.read("campaign_groups"))}
    campaign_rows = _records(wh.read("campaigns"))
    creative_rows = _records(wh.read("creatives"))
    campaign_days = _daily_metrics(wh, "campaign_daily_metrics", "campaign_id", start, end)
    creative_days = _daily_metrics(wh, "creative_daily_metrics", "creative_id", start, end)
    names = {r["value"]: r["name"] for r in _records(wh.read("demographic_values"))}
    demographics = defaultdict(list)
    for r in _records(wh.read("demographic_metrics", where_date_range=(start.replace(day=1), end))):
        demographics[r["account_id"]].append(
            DemographicRow(
                level=r["level"],
                entity_id=r["entity_id"],
                pivot=r["pivot"],
                value=r["value"],
                name=names.get(r["value"]),
                month=calendar_day(r["month"]),
                **{c: r.get(c) for c in DEMOGRAPHIC_COLUMNS},
            )
        )
    creatives_of = defaultdict(list)
    for r in sorted(creative_rows, key=lambda r: r["id"]):
        creatives_of[r["campaign_id"]].append(
            CreativeSnapshot(
                id=r["id"],
                name=r["name"],
                name_source=r["name_source"],
                intended_status=r["intended_status"],
                content_reference=r["content_reference"],
                removed=r["removed_at"] is not None,
                daily_metrics=creative_days.get(r["id"], []),
            )
        )
    campaigns_of = defaultdict(list)
    for r in sorted(campaign_rows, key=lambda r: r["id"]):
        days = campaign_days.get(r["id"], [])
        campaigns_of[r["account_id"]].append(
            CampaignSnapshot(
                id=r["id"],
                name=r["name"],
                status=r["status"],
                campaign_group_id=r["campaign_group_id"],
                campaign_group_name=group_names.get(r["campaign_group_id"]),
                type=r["type"],
                objective_type=r["objective_type"],
                cost_type=r["cost_type"],
                run_schedule_start=r["run_schedule_start"],
                run_schedule_end=r["run_schedule_end"],
                removed=r["removed_at"] is not None,
                totals=Metrics(**{c: _total(days, c) for c in ADDITIVE}),
                daily_metrics=days,
                creatives=creatives_of.get(r["id"], []),
            )
        )
    return Snapshot(
        generated_at=dt.datetime.now(dt.UTC),
        dagster_run_id=run_id,
        window=SnapshotWindow(start=start, end=end),
        accounts=[
            AccountSnapshot(
                id=r["id"],
                name=r["name"],
                currency=r["currency"],
                status=r["status"],
                removed=r["removed_at"] is not None,
                campaigns=campaigns_of.get(r["id"], []),
                demographics=sorted(demographics.get(r["id"], []), key=lambda d: (d.month, d.pivot, d.value)),
            )
            for r in sorted(account_rows, key=lambda r: r["id"])
        ],
        warnings=warnings,
    )


def _total(days: list[DailyMetrics], column: str) -> Any:
    values = [getattr(d, column) for d in days if getattr(d, column) is not None]
    return sum(values) if values else None
