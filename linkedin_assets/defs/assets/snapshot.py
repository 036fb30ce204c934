"""The JSON snapshot, built from what the warehouse holds so the two never disagree.

It publishes LinkedIn's rows as they are, with a ``warnings`` entry for each row a check on LinkedIn's numbers flags
(``checks.RULES``). Rows of campaigns or creatives the entity listing no longer returns have no place in the nested
document (it nests metrics under their entity); they are in ``warnings`` (``rows_of_known_entities``) with their
impressions, clicks and cost, so nothing LinkedIn reported is dropped silently.

The document is built and written one account at a time (a ``SnapshotStream`` that the snapshot IO manager writes
as it is produced): on ``large`` (10 accounts, 90 days: 180,000 campaign-days and 720,000 creative-days) holding the
whole document as frames, dicts and models peaked at 2.4-2.6 GiB; one account's part is a tenth of that.
"""

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import dagster as dg
import numpy as np
from pydantic import ValidationError

from linkedin_assets.defs.assets.common import GROUP, KEY_PREFIX
from linkedin_assets.defs.assets.demographics import demographic_metrics, demographic_values
from linkedin_assets.defs.assets.entities import accounts, campaign_groups, campaigns, conversions, creatives
from linkedin_assets.defs.assets.metrics import campaign_daily_metrics, creative_daily_metrics
from linkedin_assets.defs.checks import CAMPAIGN_DAILY, CREATIVE_DAILY, snapshot_warnings
from linkedin_assets.defs.io_managers.warehouse import WarehouseResource
from linkedin_assets.defs.partitions import last_complete_day
from linkedin_assets.defs.resources import SyncSettings
from linkedin_assets.linkedin.catalogue import CONVERSION_METRICS, DAILY_METRICS, DEMOGRAPHIC_METRICS
from linkedin_assets.linkedin.fields import snake_case
from linkedin_assets.snapshot.schema import (
    DAILY_ROWS,
    DEMOGRAPHIC_ROWS,
    AccountJson,
    AccountSnapshot,
    Snapshot,
    SnapshotRowError,
    SnapshotStream,
    SnapshotWarning,
    SnapshotWindow,
    account_json,
)

METRIC_COLUMNS = [snake_case(m) for m in DAILY_METRICS]
DEMOGRAPHIC_COLUMNS = [snake_case(m) for m in DEMOGRAPHIC_METRICS]
ADDITIVE = [c for c in METRIC_COLUMNS if c != "approximate_member_reach"]
ACCOUNT_FIELDS = ("id", "name", "currency", "status", "removed_at")
CAMPAIGN_FIELDS = (
    "id",
    "name",
    "status",
    "campaign_group_id",
    "type",
    "objective_type",
    "cost_type",
    "run_schedule_start",
    "run_schedule_end",
    "removed_at",
)
CREATIVE_FIELDS = ("id", "campaign_id", "name", "name_source", "intended_status", "content_reference", "removed_at")
"""The columns of the entity tables the document carries (``removed_at``: as ``removed``)."""
ROWS_PER_READ = 20_000
"""Daily rows are read as many days at a time as keep a read under this many rows (one day per entity a day): a
large account's 800 creatives 25 days at a time, its 200 campaigns or a medium account's creatives in one read. A
read has a fixed cost beside its rows, and one read of a whole large account's creative-days was the build's biggest
transient (benchmarks/README.md, the snapshot's figures)."""


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
        conversions,
        dg.AssetDep(campaign_daily_metrics, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(
            dg.AssetKey([KEY_PREFIX, "campaign_conversion_daily_metrics"]), partition_mapping=dg.AllPartitionMapping()
        ),
        dg.AssetDep(creative_daily_metrics, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(demographic_metrics, partition_mapping=dg.AllPartitionMapping()),
        demographic_values,
    ],
)
def snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: SyncSettings) -> SnapshotStream:
    """The nested snapshot document for the last ``snapshot_days`` days, validated account by account as the IO
    manager writes it."""
    end = last_complete_day()
    start = end - dt.timedelta(days=settings.snapshot_days - 1)
    with warehouse.open() as wh:
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
    """Totals of one account's part over the window (its daily rows are not needed: an outline will do);
    ``warned``: warnings per (entity, entity id)."""
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


def _records(wh: Any, table: str, fields: Sequence[str], account_id: int | None = None) -> list[dict[str, Any]]:
    """The rows of an entity table (of one account, if given) as dicts of ``fields``, ordered by id."""
    account_ids = None if account_id is None else [account_id]
    columns = wh.read_columns(table, account_ids=account_ids, columns=fields)
    return sorted((dict(zip(fields, row, strict=True)) for row in zip(*columns.values(), strict=True)), key=_id)


@dataclass
class _DailyRows:
    """One account's rows of a daily table: each entity's rows as JSON (comma-joined, date order) and, if asked
    for, its totals (``ADDITIVE`` columns: the sum of the values that are not ``None``, ``None`` if there are none)."""

    json: dict[int, bytes]
    totals: dict[int, dict[str, Any]]


def _daily_rows(
    wh: Any, table: str, key: str, start: dt.date, end: dt.date, account_id: int, *, entities: int, totals: bool
) -> _DailyRows:
    """Daily rows of one account in ``table`` in ``[start, end]`` by entity id, in date order, as JSON.

    Read ``ROWS_PER_READ // entities`` days at a time (``entities``: the account's campaigns or creatives). Each read
    is validated column by column and written row by row (``snapshot_schema.DAILY_ROWS``); only the rows' JSON
    outlives it. Totals add up the validated values in date order, read after read: the same fold as ``sum()`` over
    all the days (for ``Decimal`` the same roundings too)."""
    entity = key.removesuffix("_id")
    rows: defaultdict[int, list[str]] = defaultdict(list)
    sums: defaultdict[int, dict[str, Any]] = defaultdict(dict)
    days_per_read = max(1, ROWS_PER_READ // max(entities, 1))
    first = start
    while first <= end:
        last = min(first + dt.timedelta(days=days_per_read - 1), end)
        columns = wh.read_columns(
            table, where_date_range=(first, last), account_ids=[account_id], columns=(key, "date", *METRIC_COLUMNS)
        )
        first = last + dt.timedelta(days=1)
        if not columns[key]:
            continue
        ids = np.array(columns.pop(key), dtype=np.int64)  # a key column: never null
        columns = DAILY_ROWS.validate(
            columns, lambda i, ids=ids, dates=columns["date"]: f"{table}: {entity} {ids[i]}, {dates[i]}"
        )
        ids, columns = _in_key_order(ids, columns)
        texts = DAILY_ROWS.json_rows(columns)
        bounds = np.flatnonzero(np.diff(ids)) + 1
        runs = list(zip([0, *bounds.tolist()], [*bounds.tolist(), len(ids)], strict=True))
        for a, b in runs:
            rows[int(ids[a])].extend(texts[a:b])
        del texts
        if totals:
            for c in ADDITIVE:
                values = columns[c]
                has_none = None in values
                for a, b in runs:
                    part = [v for v in values[a:b] if v is not None] if has_none else values[a:b]
                    if part:
                        acc = sums[int(ids[a])]
                        acc[c] = sum(part, acc.get(c, 0))
        del columns
    return _DailyRows({e: ",".join(rows.pop(e)).encode() for e in list(rows)}, dict(sums))


def _in_key_order(ids: np.ndarray, columns: dict[str, list]) -> tuple[np.ndarray, dict[str, list]]:
    """The rows ordered by (entity id, date): as ``Warehouse.read`` returns them (ordered by primary key), else
    sorted so."""
    days = np.fromiter((d.toordinal() for d in columns["date"]), dtype=np.int64, count=len(ids))
    if len(ids) < 2 or bool(np.all((ids[1:] > ids[:-1]) | ((ids[1:] == ids[:-1]) & (days[1:] > days[:-1])))):
        return ids, columns
    order = np.lexsort((days, ids))
    return ids[order], {c: [values[i] for i in order.tolist()] for c, values in columns.items()}


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
) -> Iterator[AccountJson]:
    """Each account's part of the document, in account id order, read from the warehouse for that account alone.

    Only the small lookup tables (accounts, campaign group names, demographic value names) are read whole. A part
    is built after the previous one has been handed on, so at most one account's rows and JSON are alive here;
    raises ``SnapshotRowError`` on anything malformed. ``on_summary`` receives each part's ``AccountSummary``.
    """
    account_rows = _records(wh, "accounts", ACCOUNT_FIELDS)
    group_names = dict(zip(*wh.read_columns("campaign_groups", columns=("id", "name")).values(), strict=True))
    names = dict(zip(*wh.read_columns("demographic_values", columns=("value", "name")).values(), strict=True))
    warned = Counter((w.entity, w.entity_id) for w in warnings)
    for row in account_rows:
        part = build_account_snapshot(wh, row, start, end, group_names, names)
        if on_summary is not None:
            on_summary(summarize_account(part.outline, warned))
        yield part
        del part  # not kept while the next account is read


def build_account_snapshot(
    wh: Any,
    account: dict[str, Any],
    start: dt.date,
    end: dt.date,
    group_names: Mapping[int, str | None],
    names: Mapping[str, str | None],
) -> AccountJson:
    """One account nested: its campaigns (with totals and days), their creatives (with days), its demographics.

    The daily rows are validated and written column by column (``_daily_rows``); everything else is validated as an
    ``AccountSnapshot`` outline (``daily_metrics`` empty) in one call, and the rows' JSON put into it. Raises
    ``SnapshotRowError`` naming the row and field of anything malformed."""
    account_id = account["id"]
    creative_rows = _records(wh, "creatives", CREATIVE_FIELDS, account_id)
    campaign_rows = _records(wh, "campaigns", CAMPAIGN_FIELDS, account_id)
    campaign_days = _daily_rows(
        wh, CAMPAIGN_DAILY, "campaign_id", start, end, account_id, entities=len(campaign_rows), totals=True
    )
    creative_days = _daily_rows(
        wh, CREATIVE_DAILY, "creative_id", start, end, account_id, entities=len(creative_rows), totals=False
    )
    creatives_of = defaultdict(list)
    for r in creative_rows:
        creatives_of[r["campaign_id"]].append(_creative_outline(r))
    campaigns = [
        {
            **_campaign_outline(r, group_names),
            "totals": {c: campaign_days.totals.get(r["id"], {}).get(c) for c in ADDITIVE},
            "creatives": creatives_of.pop(r["id"], []),
        }
        for r in campaign_rows
    ]
    outline = {
        "id": account_id,
        "name": account["name"],
        "currency": account["currency"],
        "status": account["status"],
        "removed": account["removed_at"] is not None,
        "campaigns": campaigns,
        "conversion_rules": _conversion_rules(wh, start, end, account_id),
        "demographics": [],
    }
    demographics = _demographics(wh, start, end, account_id, names)
    try:
        validated = AccountSnapshot.model_validate(outline)
    except ValidationError as exc:
        raise SnapshotRowError(_named_errors(exc, outline)) from exc
    return account_json(validated, campaign_days.json, creative_days.json, demographics)


RULE_FIELDS = ("id", "name", "type", "attribution_type", "post_click_attribution_window_size",
               "view_through_attribution_window_size", "enabled", "removed_at")  # fmt: skip
RULE_METRICS = [snake_case(m) for m in CONVERSION_METRICS]


def _conversion_rules(wh: Any, start: dt.date, end: dt.date, account_id: int) -> list[dict[str, Any]]:
    """The account's conversion rules, each with its per-rule totals over ``[start, end]`` (by campaign rows)."""
    sums = ", ".join(f"SUM({c}) AS {c}" for c in RULE_METRICS)
    totals = wh.query(
        f"SELECT conversion_id, {sums} FROM {wh.qualified('campaign_conversion_daily_metrics')} "
        "WHERE account_id = %(account)s AND date BETWEEN %(start)s AND %(end)s GROUP BY conversion_id",
        {"account": account_id, "start": start, "end": end},
    )
    by_rule = {int(row["conversion_id"]): row for row in totals.to_dict("records")}
    rules = []
    for r in _records(wh, "conversions", RULE_FIELDS, account_id):
        found = by_rule.get(r["id"], {})
        rule = {k: v for k, v in r.items() if k != "removed_at"}
        rule.update(removed=r["removed_at"] is not None, totals={c: _plain_total(found.get(c)) for c in RULE_METRICS})
        rules.append(rule)
    return rules


def _plain_total(value: Any) -> Any:
    """A SUM as the snapshot's models take it: ``None`` for no rows, Python ints for counts, Decimals as they are."""
    if value is None or value != value:
        return None
    return value if isinstance(value, Decimal) else int(value)


def _creative_outline(r: Mapping[str, Any]) -> dict[str, Any]:
    """A creative of the snapshot without its days (they are added as JSON)."""
    return {
        "id": r["id"],
        "name": r["name"],
        "name_source": r["name_source"],
        "intended_status": r["intended_status"],
        "content_reference": r["content_reference"],
        "removed": r["removed_at"] is not None,
        "daily_metrics": [],
    }


def _campaign_outline(r: Mapping[str, Any], group_names: Mapping[int, str | None]) -> dict[str, Any]:
    """A campaign of the snapshot without its days, totals and creatives."""
    return {
        "id": r["id"],
        "name": r["name"],
        "status": r["status"],
        "campaign_group_id": r["campaign_group_id"],
        "campaign_group_name": group_names.get(r["campaign_group_id"]),
        "type": r["type"],
        "objective_type": r["objective_type"],
        "cost_type": r["cost_type"],
        "run_schedule_start": r["run_schedule_start"],
        "run_schedule_end": r["run_schedule_end"],
        "removed": r["removed_at"] is not None,
        "daily_metrics": [],
    }


def _id(row: Mapping[str, Any]) -> Any:
    return row["id"]


DEMOGRAPHIC_KEYS = ("level", "entity_id", "pivot", "value", "month")


def _demographics(wh: Any, start: dt.date, end: dt.date, account_id: int, names: Mapping[str, str | None]) -> bytes:
    """The account's demographic rows of the months touching the window, by (month, pivot, value) (ties: in key
    order), validated and written as JSON (``snapshot_schema.DEMOGRAPHIC_ROWS``), comma-joined."""
    columns = wh.read_columns(
        "demographic_metrics",
        where_date_range=(start.replace(day=1), end),
        account_ids=[account_id],
        columns=(*DEMOGRAPHIC_KEYS, *DEMOGRAPHIC_COLUMNS),
    )
    columns["name"] = [names.get(v) for v in columns["value"]]

    def row_name(i: int) -> str:
        return "demographic_metrics: " + ", ".join(f"{k} {columns[k][i]}" for k in DEMOGRAPHIC_KEYS)

    columns = DEMOGRAPHIC_ROWS.validate(columns, row_name)
    month, pivot, value = columns["month"], columns["pivot"], columns["value"]
    order = sorted(range(len(month)), key=lambda i: (month[i], pivot[i], value[i]))
    texts = DEMOGRAPHIC_ROWS.json_rows(columns)
    return ",".join([texts[i] for i in order]).encode()


_LABELS = {"campaigns": "campaign", "creatives": "creative"}


def _named_errors(exc: ValidationError, outline: dict[str, Any]) -> str:
    """A ``ValidationError`` of an account's outline as one line per error (at most 5) naming the campaign or
    creative by id and the field (the outline holds no daily or demographic rows: those are validated as columns)."""
    lines = []
    for error in exc.errors()[:5]:
        where, node, loc = [f"account {outline['id']}"], outline, list(error["loc"])
        while len(loc) >= 2 and loc[0] in _LABELS and isinstance(loc[1], int):
            node = node[loc[0]][loc[1]]
            where.append(f"{_LABELS[loc.pop(0)]} {node.get('id')}")
            loc.pop(0)
        field = ".".join(map(str, loc)) or "(the row)"
        lines.append(f"{', '.join(where)}: field {field}: {error['msg']} (got {error.get('input')!r})")
    more = f" (and {exc.error_count() - len(lines)} more)" if exc.error_count() > len(lines) else ""
    return "; ".join(lines) + more
