"""The JSON snapshot, built from what the warehouse holds so the two never disagree.

It publishes LinkedIn's rows as they are, with a ``warnings`` entry for each row a check on LinkedIn's numbers flags
(``checks.RULES``). It refuses only when the project's own tables disagree: a metric row of an unknown campaign or
creative in the window would silently fall out of the nested document.

The document is built and written one account at a time (a ``SnapshotStream`` that the snapshot IO manager writes
as it is produced): on ``large`` (10 accounts, 90 days: 180,000 campaign-days and 720,000 creative-days) holding the
whole document as frames, dicts and models peaked at 2.4-2.6 GiB; one account's part is a tenth of that.
"""

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
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
    SnapshotStream,
    SnapshotWarning,
    SnapshotWindow,
)

METRIC_COLUMNS = [snake_case(m) for m in DEFAULT_METRICS]
DEMOGRAPHIC_COLUMNS = [snake_case(m) for m in DEMOGRAPHIC_METRICS]
ADDITIVE = [c for c in METRIC_COLUMNS if c != "approximate_member_reach"]
READ_DAYS = 15  # daily rows are read 15 days at a time: 12,000 creative-days of a large account per read


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
def snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: SyncSettings) -> SnapshotStream:
    """The nested snapshot document for the last ``snapshot_days`` days, validated account by account as the IO
    manager writes it."""
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
    metadata: dict[str, Any] = {}

    def parts() -> Iterator[AccountSnapshot]:
        # The stream's own connection: opened when the IO manager starts writing, closed when it stops.
        with warehouse.open() as wh:
            summaries: list[AccountSummary] = []
            yield from iter_account_snapshots(wh, start, end, warnings, summaries.append)
        metadata.update(snapshot_metadata(start, end, summaries, len(warnings)))
        context.log.info(
            f"Snapshot {start}..{end}: {len(summaries)} account(s), {metadata['campaigns']} campaign(s), "
            f"{metadata['creatives']} creative(s), {len(warnings)} warning(s)"
        )

    return SnapshotStream(snapshot_header(start, end, context.run.run_id, warnings), parts(), metadata)


CENT = Decimal("0.01")


@dataclass(frozen=True)
class AccountSummary:
    """One account's line of the snapshot's Markdown summary (kept after its part of the document is gone)."""

    id: int
    name: str | None
    currency: str | None
    campaigns: int
    creatives: int
    impressions: int
    clicks: int
    spend: Decimal
    warnings: int


def summarize_account(account: AccountSnapshot, warned: Mapping[tuple[str, int], int]) -> AccountSummary:
    """Totals of one account's part over the window; ``warned``: warnings per (entity, entity id)."""
    totals = [c.totals for c in account.campaigns]
    keys = [("account", account.id)]
    for c in account.campaigns:
        keys.append(("campaign", c.id))
        keys.extend(("creative", creative.id) for creative in c.creatives)
    return AccountSummary(
        id=account.id,
        name=account.name,
        currency=account.currency,
        campaigns=len(account.campaigns),
        creatives=sum(len(c.creatives) for c in account.campaigns),
        impressions=sum(t.impressions or 0 for t in totals),
        clicks=sum(t.clicks or 0 for t in totals),
        spend=sum((t.cost_in_local_currency or Decimal(0) for t in totals), Decimal(0)),
        warnings=sum(warned.get(key, 0) for key in set(keys)),
    )


def summary_markdown(start: dt.date, end: dt.date, summaries: list[AccountSummary]) -> str:
    """One line per account over the window: campaigns, creatives, impressions, clicks, spend, warnings."""
    lines = [
        f"**{start} to {end}** (spend rounded to cents; exact in the JSON)",
        "",
        "| account | campaigns | creatives | impressions | clicks | spend | warnings |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for a in summaries:
        name = (a.name or "").replace("|", "\\|")
        lines.append(
            f"| {a.id} {name} | {a.campaigns} | {a.creatives} | {a.impressions:,} | {a.clicks:,} | "
            f"{a.spend.quantize(CENT):,f} {a.currency or ''} | {a.warnings} |"
        )
    return "\n".join(lines)


def snapshot_metadata(start: dt.date, end: dt.date, summaries: list[AccountSummary], warnings: int) -> dict[str, Any]:
    """The snapshot materialization's metadata: numbers the UI plots and the Markdown summary per account."""
    return {
        "window": f"{start}..{end}",
        "accounts": len(summaries),
        "campaigns": sum(a.campaigns for a in summaries),
        "creatives": sum(a.creatives for a in summaries),
        "warnings": warnings,
        "summary": dg.MetadataValue.md(summary_markdown(start, end, summaries)),
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of Python values, ``None`` for every kind of missing value."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _daily_metrics(
    wh: Any, table: str, key: str, start: dt.date, end: dt.date, account_id: int
) -> dict[int, list[DailyMetrics]]:
    """Daily rows of one account in ``table`` in ``[start, end]`` by entity id, in date order.

    Read ``READ_DAYS`` days at a time and column by column (no dict per row): on ``large`` one read of an account's
    72,000 creative-days (fetched rows, their frame, then dicts of ~40 columns) was the build's biggest transient,
    beside the models themselves."""
    days = defaultdict(list)
    first = start
    while first <= end:
        last = min(first + dt.timedelta(days=READ_DAYS - 1), end)
        frame = wh.read(table, where_date_range=(first, last), account_ids=[account_id])
        columns = [_values(frame[c]) for c in (key, "date", *METRIC_COLUMNS)]
        del frame
        for entity, date, *metrics in zip(*columns, strict=True):
            days[entity].append(
                DailyMetrics(date=calendar_day(date), **dict(zip(METRIC_COLUMNS, metrics, strict=True)))
            )
        del columns
        first = last + dt.timedelta(days=1)
    return {entity: sorted(rows, key=lambda m: m.date) for entity, rows in days.items()}


def _values(column: pd.Series) -> list[Any]:
    """A column as Python values, ``None`` for every kind of missing value (as ``_records`` gives them)."""
    return column.astype(object).where(column.notna(), None).tolist()


def snapshot_header(start: dt.date, end: dt.date, run_id: str | None, warnings: list[SnapshotWarning]) -> Snapshot:
    """The document without its accounts (they are streamed): schema version, time, run, window, warnings."""
    return Snapshot(
        generated_at=dt.datetime.now(dt.UTC),
        dagster_run_id=run_id,
        window=SnapshotWindow(start=start, end=end),
        accounts=[],
        warnings=warnings,
    )


def iter_account_snapshots(
    wh: Any,
    start: dt.date,
    end: dt.date,
    warnings: list[SnapshotWarning],
    on_summary: Callable[[AccountSummary], None] | None = None,
) -> Iterator[AccountSnapshot]:
    """Each account's part of the document, in account id order, read from the warehouse for that account alone.

    Only the small lookup tables (accounts, campaign group names, demographic value names) are read whole. A part
    is built after the previous one has been handed on, so at most one account's rows and models are alive here;
    raises ``pydantic.ValidationError`` on anything malformed. ``on_summary`` receives each part's ``AccountSummary``.
    """
    account_rows = sorted(_records(wh.read("accounts")), key=lambda r: r["id"])
    group_names = {r["id"]: r["name"] for r in _records(wh.read("campaign_groups"))}
    names = {r["value"]: r["name"] for r in _records(wh.read("demographic_values"))}
    warned = Counter((w.entity, w.entity_id) for w in warnings)
    for row in account_rows:
        part = build_account_snapshot(wh, row, start, end, group_names, names)
        if on_summary is not None:
            on_summary(summarize_account(part, warned))
        yield part
        del part  # not kept while the next account is read


def build_account_snapshot(
    wh: Any,
    account: dict[str, Any],
    start: dt.date,
    end: dt.date,
    group_names: Mapping[int, str | None],
    names: Mapping[str, str | None],
) -> AccountSnapshot:
    """One account nested: its campaigns (with totals and days), their creatives (with days), its demographics."""
    account_id = account["id"]
    campaign_days = _daily_metrics(wh, "campaign_daily_metrics", "campaign_id", start, end, account_id)
    creative_days = _daily_metrics(wh, "creative_daily_metrics", "creative_id", start, end, account_id)
    demographics = [
        DemographicRow(
            level=r["level"],
            entity_id=r["entity_id"],
            pivot=r["pivot"],
            value=r["value"],
            name=names.get(r["value"]),
            month=calendar_day(r["month"]),
            **{c: r.get(c) for c in DEMOGRAPHIC_COLUMNS},
        )
        for r in _records(
            wh.read("demographic_metrics", where_date_range=(start.replace(day=1), end), account_ids=[account_id])
        )
    ]
    creatives_of = defaultdict(list)
    for r in sorted(_records(wh.read("creatives", account_ids=[account_id])), key=lambda r: r["id"]):
        creatives_of[r["campaign_id"]].append(
            CreativeSnapshot(
                id=r["id"],
                name=r["name"],
                name_source=r["name_source"],
                intended_status=r["intended_status"],
                content_reference=r["content_reference"],
                removed=r["removed_at"] is not None,
                daily_metrics=creative_days.pop(r["id"], []),
            )
        )
    campaigns = []
    for r in sorted(_records(wh.read("campaigns", account_ids=[account_id])), key=lambda r: r["id"]):
        days = campaign_days.pop(r["id"], [])
        campaigns.append(
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
                creatives=creatives_of.pop(r["id"], []),
            )
        )
    return AccountSnapshot(
        id=account_id,
        name=account["name"],
        currency=account["currency"],
        status=account["status"],
        removed=account["removed_at"] is not None,
        campaigns=campaigns,
        demographics=sorted(demographics, key=lambda d: (d.month, d.pivot, d.value)),
    )


def _total(days: list[DailyMetrics], column: str) -> Any:
    values = [getattr(d, column) for d in days if getattr(d, column) is not None]
    return sum(values) if values else None
