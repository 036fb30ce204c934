"""adAnalytics over the generated facts: filter by facets and dates, bucket, pivot, aggregate, serialise.

Speed (``large`` is 1.8 million creative- and campaign-days): per account and pivot, the DAILY report of the
whole history is aggregated once into columnar numpy arrays sorted by day (:meth:`AccountMetrics.daily_table`),
so the common request (one account, a date window, DAILY) is two binary searches and a slice. Other requests
(MONTHLY/ALL/YEARLY, ``q=statistics``, facets finer than the pivot) aggregate the account's creative-day facts
with numpy. The JSON of the elements is written by one ``%`` template per response over column lists, not by
building a dict per element and encoding it.

The ground-truth frames for tests (:func:`ground_truth_daily`, :func:`ground_truth_demographics`) use this same
aggregation; :class:`~linkedin_assets.simulator.data.Dataset` documents the rules and exposes the raw facts for
an independent computation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from linkedin_assets.linkedin.catalogue import DECIMAL_METRICS, FLOAT_METRICS, NOT_ON_MEMBER_PIVOTS
from linkedin_assets.linkedin.fields import MEMBER_PIVOTS
from linkedin_assets.simulator.catalog import UNIVERSES
from linkedin_assets.simulator.metrics import (
    COST_METRICS,
    DEPRECATED_METRICS,
    GENERATED_METRICS,
    NON_ADDITIVE,
    format_money,
    group_rows,
    to_decimal,
)

if TYPE_CHECKING:
    from linkedin_assets.simulator.data import AccountData, Dataset

__all__ = [
    "AnalyticsQuery",
    "QueryResult",
    "aggregate_daily",
    "ground_truth_daily",
    "ground_truth_demographics",
    "member_shares",
    "run_query",
]

ID_COLUMN = {
    "ACCOUNT": "account_id",
    "CAMPAIGN_GROUP": "group_id",
    "CAMPAIGN": "campaign_id",
    "CREATIVE": "creative_id",
    "CONVERSION": "conversion_id",
    "IMPRESSION_DEVICE_TYPE": "device",
}
URN_PREFIX = {
    "ACCOUNT": "urn:li:sponsoredAccount:",
    "CAMPAIGN_GROUP": "urn:li:sponsoredCampaignGroup:",
    "CAMPAIGN": "urn:li:sponsoredCampaign:",
    "CREATIVE": "urn:li:sponsoredCreative:",
    "CONVERSION": "urn:lla:llaPartnerConversion:",
}
FACET_COLUMN = {
    "accounts": "account_id",
    "campaignGroups": "group_id",
    "campaigns": "campaign_id",
    "creatives": "creative_id",
}
# Columns a daily table of a pivot carries (the pivot's id and the coarser ids it determines, for facets).
_TABLE_KEYS = {
    "ACCOUNT": ("account_id",),
    "CAMPAIGN_GROUP": ("group_id", "account_id"),
    "CAMPAIGN": ("campaign_id", "group_id", "account_id", "ctype"),
    "CREATIVE": ("creative_id", "campaign_id", "group_id", "account_id", "ctype"),
}
_ADDITIVE = tuple(m for m in GENERATED_METRICS if m not in NON_ADDITIVE)
_DUST = tuple(f"dust_{m}" for m in COST_METRICS)
_MEMBER_METRICS = tuple(m for m in _ADDITIVE if m not in NOT_ON_MEMBER_PIVOTS)
REACH_MAX_DAYS = 92
_ZIPF = 1.15
_TOP_VALUES = 100
_MIN_MEMBER_IMPRESSIONS = 3
_PAGING = b'"paging":{"start":0,"count":10,"links":[]}'


@dataclass(frozen=True)
class AnalyticsQuery:
    """A validated adAnalytics request."""

    pivots: tuple[str, ...]
    granularity: str
    start: dt.date
    end: dt.date
    facets: dict[str, frozenset[int]]
    fields: tuple[str, ...]
    campaign_type: str | None = None


@dataclass(frozen=True)
class QueryResult:
    """An adAnalytics answer: the number of elements and the whole JSON body (``elements`` and ``paging``)."""

    elements: int
    body: bytes


# -- aggregation --------------------------------------------------------------------------------------------------


def _reduce(columns: dict[str, np.ndarray], keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Group rows by ``keys`` (output sorted by them, first key first): sums of the additive metrics and dust,
    reach = min(impressions, max(max part, int(sum of parts * 0.8)))."""
    if not len(columns[keys[0]]):
        return {name: np.zeros(0, dtype=np.int64) for name in (*keys, *_ADDITIVE, *_DUST, "approximateMemberReach")}
    out, order, starts = group_rows(columns, keys)
    for name in (*_ADDITIVE, *_DUST):
        out[name] = np.add.reduceat(columns[name][order].astype(np.int64), starts)
    reach = columns["approximateMemberReach"][order].astype(np.int64)
    largest, total = np.maximum.reduceat(reach, starts), np.add.reduceat(reach, starts)
    out["approximateMemberReach"] = np.minimum(out["impressions"], np.maximum(largest, (total * 0.8).astype(np.int64)))
    return out


def aggregate_daily(rows: dict[str, np.ndarray], pivot: str) -> dict[str, np.ndarray]:
    """One account's DAILY report of ``pivot`` over its whole history, columnar, sorted by (day, pivot id).

    Creative rows are the facts themselves; other pivots sum them plus the campaign-day corrections.
    """
    if pivot == "CREATIVE":
        keep = rows["creative_id"] != 0
        return (
            rows if keep.all() else {name: column[keep] for name, column in rows.items()}
        )  # no copy if no corrections
    table = _reduce(rows, ("day", *_TABLE_KEYS[pivot]))
    for name in _ADDITIVE:  # int32 where the sums fit: the tables of large stay about 10 MB per account
        if name not in COST_METRICS and table[name].max(initial=0) < 2**31 and table[name].min(initial=0) >= -(2**31):
            table[name] = table[name].astype(np.int32)
    return table


def _buckets(dataset: Dataset, day: np.ndarray, query: AnalyticsQuery) -> tuple[np.ndarray, np.ndarray]:
    """Bucket start and end (history-day indices, may lie outside the history) of each row's day."""
    if query.granularity == "DAILY":
        return day, day
    first = (query.start - dataset.history_start).days
    last = (query.end - dataset.history_start).days
    if query.granularity == "ALL":
        return np.full(len(day), first), np.full(len(day), last)
    origin = np.datetime64(dataset.history_start, "D")
    dates = origin + day.astype("timedelta64[D]")
    unit = "M" if query.granularity == "MONTHLY" else "Y"
    period = dates.astype(f"datetime64[{unit}]")
    start = (period.astype("datetime64[D]") - origin).astype(np.int64)
    end = ((period + 1).astype("datetime64[D]") - origin).astype(np.int64) - 1
    return np.maximum(start, first), np.minimum(end, last)


def _chosen_creatives(account: AccountData, query: AnalyticsQuery) -> np.ndarray | None:
    """The account's creatives the facets (ANDed across kinds) and the campaign type select; ``None``: all."""
    per_creative = {
        "account_id": None,
        "group_id": account.creative_group_ids,
        "campaign_id": account.creative_campaign_ids,
        "creative_id": account.creative_ids,
    }
    chosen = None
    for facet, ids in query.facets.items():
        column = FACET_COLUMN[facet]
        if column == "account_id":
            if account.id not in ids:
                return np.zeros(len(account.creative_ids), dtype=bool)
            continue
        mask = np.isin(per_creative[column], np.fromiter(ids, dtype=np.int64, count=len(ids)))
        chosen = mask if chosen is None else chosen & mask
    if query.campaign_type:
        mask = account.creative_campaign_types == query.campaign_type
        chosen = mask if chosen is None else chosen & mask
    return chosen


def _facet_mask(table: dict[str, np.ndarray], query: AnalyticsQuery) -> np.ndarray | None:
    mask = None
    for facet, ids in query.facets.items():
        column = FACET_COLUMN[facet]
        part = np.isin(table[column], np.fromiter(ids, dtype=np.int64, count=len(ids)))
        mask = part if mask is None else mask & part
    if query.campaign_type:
        from linkedin_assets.simulator.data import CAMPAIGN_TYPES

        part = table["ctype"] == CAMPAIGN_TYPES.index(query.campaign_type)
        mask = part if mask is None else mask & part
    return mask


def selected_rows(
    dataset: Dataset, rows: dict[str, np.ndarray], query: AnalyticsQuery, creative_facts: bool
) -> dict[str, np.ndarray] | None:
    """The rows of a columnar table sorted by ``day`` that ``query`` selects: its days and facets (and, with
    ``creative_facts``, only creative-day facts, not campaign-day corrections); ``None`` when there are none."""
    first = (query.start - dataset.history_start).days
    last = (query.end - dataset.history_start).days
    lo, hi = np.searchsorted(rows["day"], [first, last + 1])
    part = {name: column[lo:hi] for name, column in rows.items()}
    mask = part["creative_id"] != 0 if creative_facts else None
    facets = _facet_mask(part, query)
    mask = facets if mask is None else mask if facets is None else mask & facets
    if mask is not None:
        part = {name: column[mask] for name, column in part.items()}
    return part if len(part["day"]) else None


def _concat(parts: list[dict[str, np.ndarray]], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not parts:
        return {name: np.zeros(0, dtype=np.int64) for name in names}
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _entity_rows(dataset: Dataset, query: AnalyticsQuery) -> dict[str, np.ndarray]:
    """Aggregated rows of an entity-pivot query: id columns, ``b_start``/``b_end``, metrics and dust."""
    first = (query.start - dataset.history_start).days
    last = (query.end - dataset.history_start).days
    ids = tuple(dict.fromkeys(ID_COLUMN[p] for p in query.pivots))
    names = (*ids, "b_start", "b_end", *_ADDITIVE, *_DUST, "approximateMemberReach")
    if last < 0 or first >= dataset.days:
        return _concat([], names)
    table_columns = set(_TABLE_KEYS[query.pivots[0]])
    fast = (
        query.granularity == "DAILY"
        and len(query.pivots) == 1
        and {FACET_COLUMN[f] for f in query.facets} <= table_columns
        and (query.campaign_type is None or "ctype" in table_columns)
    )
    corrections = "CREATIVE" not in query.pivots and "creatives" not in query.facets
    parts = []
    for account in dataset.account_data:
        chosen = _chosen_creatives(account, query)
        if chosen is not None and not chosen.any():
            continue
        metrics = dataset.account_metrics(account)
        source = metrics.daily_table(query.pivots[0]) if fast else metrics.rows
        lo, hi = np.searchsorted(source["day"], [first, last + 1])
        part = {name: column[lo:hi] for name, column in source.items()}
        mask = _facet_mask(part, query)
        if not corrections and not fast:
            keep = part["creative_id"] != 0
            mask = keep if mask is None else mask & keep
        if mask is not None:
            part = {name: column[mask] for name, column in part.items()}
        if not len(part["day"]):
            continue
        if fast:
            part["b_start"] = part["b_end"] = part["day"]
        else:
            part["b_start"], part["b_end"] = _buckets(dataset, part["day"], query)
            part = _reduce(part, ("b_start", "b_end", *ids))
        parts.append({name: part[name] for name in names})
    return _concat(parts, names)


def _month_ordinal(dataset: Dataset, day: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of history-day indices."""
    dates = np.datetime64(dataset.history_start, "D") + day.astype("timedelta64[D]")
    return dates.astype("datetime64[M]").astype(np.int64)


def _shares(pivot: str) -> tuple[int, np.ndarray]:
    size = len(UNIVERSES[pivot].values)
    law = np.arange(1, size + 1, dtype=np.float64) ** -_ZIPF
    return size, law[:_TOP_VALUES] / law.sum()


def _ranked_values(seed: int, pivot: str, campaign_id: int, month_ordinal: int) -> np.ndarray:
    size, _ = _shares(pivot)
    rng = np.random.default_rng([seed, int(campaign_id), MEMBER_PIVOTS.index(pivot), int(month_ordinal) + 100_000])
    return rng.permutation(size)[: min(_TOP_VALUES, size)]


def member_shares(dataset: Dataset, pivot: str, campaign_id: int, month: dt.date) -> list[tuple[str, float]]:
    """See :meth:`Dataset.member_shares`."""
    if pivot not in MEMBER_PIVOTS:
        raise ValueError(f"{pivot} is not a MEMBER_* pivot")
    _, weights = _shares(pivot)
    ordinal = (month.year - 1970) * 12 + month.month - 1
    values = UNIVERSES[pivot].values
    ranked = _ranked_values(dataset.seed, pivot, campaign_id, ordinal)
    return [(values[v], float(w)) for v, w in zip(ranked.tolist(), weights.tolist(), strict=False)]


def _member_rows(dataset: Dataset, query: AnalyticsQuery, by_campaign: bool) -> dict[str, np.ndarray]:
    """Demographic rows: campaign-bucket totals of the creative facts (no corrections, no dust) spread over the
    top member values (floored), rows under 3 impressions dropped, then summed per value (and campaign)."""
    pivot = query.pivots[0]
    totals = _campaign_totals(dataset, query)
    size, weights = _shares(pivot)
    top = len(weights)
    k = len(totals["campaign_id"])
    months = _month_ordinal(dataset, totals["b_start"])
    pairs, codes = np.unique(np.stack([totals["campaign_id"], months], axis=1), axis=0, return_inverse=True)
    perms = np.array([_ranked_values(dataset.seed, pivot, c, m) for c, m in pairs.tolist()], dtype=np.int64).reshape(
        len(pairs), top
    )
    split = {
        "campaign_id": np.repeat(totals["campaign_id"], top),
        "b_start": np.repeat(totals["b_start"], top),
        "b_end": np.repeat(totals["b_end"], top),
        "value": perms[codes.reshape(-1)].reshape(k * top) if k else np.zeros(0, dtype=np.int64),
    }
    for metric in _MEMBER_METRICS:
        split[metric] = np.floor(totals[metric][:, None] * weights[None, :]).astype(np.int64).reshape(k * top)
    keep = split["impressions"] >= _MIN_MEMBER_IMPRESSIONS
    frame = pd.DataFrame({name: column[keep] for name, column in split.items()})
    keys = ["campaign_id", "value", "b_start", "b_end"] if by_campaign else ["value", "b_start", "b_end"]
    grouped = frame.groupby(keys, sort=True)[list(_MEMBER_METRICS)].sum().reset_index()
    return {name: grouped[name].to_numpy() for name in grouped.columns}


def _campaign_totals(dataset: Dataset, query: AnalyticsQuery) -> dict[str, np.ndarray]:
    """Per (campaign, bucket) sums of the creative facts the query selects (no corrections)."""
    first = (query.start - dataset.history_start).days
    last = (query.end - dataset.history_start).days
    names = ("campaign_id", "b_start", "b_end", *_ADDITIVE, *_DUST, "approximateMemberReach")
    if last < 0 or first >= dataset.days:
        return _concat([], names)
    parts = []
    for account in dataset.account_data:
        chosen = _chosen_creatives(account, query)
        if chosen is not None and not chosen.any():
            continue
        part = selected_rows(dataset, dataset.metric_rows(account), query, creative_facts=True)
        if part is None:
            continue
        part["b_start"], part["b_end"] = _buckets(dataset, part["day"], query)
        part = _reduce(part, ("b_start", "b_end", "campaign_id"))
        parts.append({name: part[name] for name in names})
    return _concat(parts, names)


# -- serialisation ------------------------------------------------------------------------------------------------


def _mix(columns: list[np.ndarray]) -> np.ndarray:
    """A deterministic pseudo-random 64-bit hash per row (LinkedIn promises no order; truncation must not follow
    the calendar)."""
    h = np.full(len(columns[0]), 0x243F6A8885A308D3, dtype=np.uint64)
    for column in columns:
        h ^= column.astype(np.int64).view(np.uint64)
        h *= np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(31)
    return h


def _date_ranges(dataset: Dataset, start: np.ndarray, end: np.ndarray) -> list[str]:
    """The ``dateRange`` JSON of each row, formatted once per distinct bucket (a window has a few dozen)."""
    key = start.astype(np.int64) * 2**24 + (end.astype(np.int64) - start)
    distinct, inverse = np.unique(key, return_inverse=True)
    texts = []
    for k in distinct.tolist():
        first = dataset.date_of(k // 2**24)
        last = dataset.date_of(k // 2**24 + k % 2**24)
        texts.append(
            f'{{"start":{{"year":{first.year},"month":{first.month},"day":{first.day}}},'
            f'"end":{{"year":{last.year},"month":{last.month},"day":{last.day}}}}}'
        )
    return np.asarray(texts, dtype=object)[inverse.reshape(-1)].tolist()


def _value_template(pivot: str) -> str:
    return '"%s"' if pivot == "IMPRESSION_DEVICE_TYPE" else f'"{URN_PREFIX[pivot]}%d"'


def _pivot_values(result: dict[str, np.ndarray], pivot: str, order: np.ndarray) -> list:
    """One pivot's values of the ordered rows: ids for URN pivots, names for ``IMPRESSION_DEVICE_TYPE``."""
    values = result[ID_COLUMN[pivot]][order]
    if pivot == "IMPRESSION_DEVICE_TYPE":
        from linkedin_assets.simulator.devices import DEVICE_TYPES

        return np.asarray(DEVICE_TYPES, dtype=object)[values].tolist()
    return values.tolist()


def _elements_json(
    dataset: Dataset, result: dict[str, np.ndarray], order: np.ndarray, fields: list[str], query: AnalyticsQuery
) -> bytes:
    """The elements, comma-separated, from one ``%`` template over column lists."""
    member = query.pivots[0] in MEMBER_PIVOTS
    parts: list[str] = []
    columns: list[list[object]] = []
    for f in fields:
        if f == "pivotValues":
            if member:
                values = np.asarray(UNIVERSES[query.pivots[0]].values, dtype=object)
                parts.append('"pivotValues":["%s"]')
                columns.append(values[result["value"][order]].tolist())
            else:
                parts.append('"pivotValues":[' + ",".join(_value_template(p) for p in query.pivots) + "]")
                columns.extend(_pivot_values(result, p, order) for p in query.pivots)
        elif f == "dateRange":
            parts.append('"dateRange":%s')
            columns.append(_date_ranges(dataset, result["b_start"][order], result["b_end"][order]))
        elif f in COST_METRICS and f in result:
            units = result[f][order].tolist()
            dust = result[f"dust_{f}"][order].tolist() if f"dust_{f}" in result else [0] * len(units)
            parts.append(f'"{f}":"%s"')
            columns.append([format_money(u, d) for u, d in zip(units, dust, strict=True)])
        elif f in result:
            parts.append(f'"{f}":%d')
            columns.append(result[f][order].tolist())
        elif f in DECIMAL_METRICS:
            parts.append(f'"{f}":"0.0"')
        else:
            parts.append(f'"{f}":' + ("0.0" if f in FLOAT_METRICS else "0"))
    template = "{" + ",".join(parts) + "}"
    if not columns:
        return ",".join([template] * len(order)).encode()
    return ",".join(map(template.__mod__, zip(*columns, strict=True))).encode()


def run_query(dataset: Dataset, query: AnalyticsQuery, max_elements: int) -> QueryResult:
    """An adAnalytics response: rows with activity, silently cut at ``max_elements``, as JSON bytes.

    ``CONVERSION`` pivots are answered from the per-rule facts (``simulator/conversions.py``); deprecated metrics
    (``approximateUniqueImpressions``) are accepted but left out of every element.
    """
    member = query.pivots[0] in MEMBER_PIVOTS
    if member:
        result = _member_rows(dataset, query, by_campaign=False)
        keys = [result["value"], result["b_start"]]
    else:
        if "CONVERSION" in query.pivots:
            from linkedin_assets.simulator.conversions import conversion_rows

            result = conversion_rows(dataset, query)
        elif "IMPRESSION_DEVICE_TYPE" in query.pivots:
            from linkedin_assets.simulator.devices import device_rows

            result = device_rows(dataset, query)
        else:
            result = _entity_rows(dataset, query)
        keys = [*(result[c] for c in dict.fromkeys(ID_COLUMN[p] for p in query.pivots)), result["b_start"]]
    n = len(result["b_start"])
    order = np.argsort(_mix(keys), kind="stable")[:max_elements] if n else np.zeros(0, dtype=np.int64)
    long_range = (query.end - query.start).days + 1 > REACH_MAX_DAYS
    fields = [
        f
        for f in query.fields
        if f not in DEPRECATED_METRICS
        and not (member and f in NOT_ON_MEMBER_PIVOTS)
        and not (long_range and f in ("approximateMemberReach", "audiencePenetration"))
    ]
    elements = _elements_json(dataset, result, order, fields, query) if len(order) else b""
    return QueryResult(len(order), b'{"elements":[' + elements + b"]," + _PAGING + b"}")


# -- ground truth as frames (the endpoint's own aggregation) ------------------------------------------------------


def _money(units: np.ndarray, dust: np.ndarray | None) -> list:
    if dust is None:
        return [to_decimal(u) for u in units.tolist()]
    return [to_decimal(u, d) for u, d in zip(units.tolist(), dust.tolist(), strict=True)]


def ground_truth_daily(dataset: Dataset, pivot: str) -> pd.DataFrame:
    """What a DAILY ``pivot=CAMPAIGN|CREATIVE`` report over the whole history returns, as one frame.

    Columns ``pivot_value`` (URN), ``date``, then every generated metric (counts ``int64``, money ``Decimal``).
    """
    if pivot not in ("CAMPAIGN", "CREATIVE"):
        raise ValueError("pivot is 'CAMPAIGN' or 'CREATIVE'")
    tables = [dataset.account_metrics(a).daily_table(pivot) for a in dataset.account_data]
    table = {name: np.concatenate([t[name] for t in tables]) for name in tables[0]}
    out = pd.DataFrame(
        {
            "pivot_value": [URN_PREFIX[pivot] + str(v) for v in table[ID_COLUMN[pivot]].tolist()],
            "date": dataset.dates_of(table["day"]),
        }
    )
    for metric in GENERATED_METRICS:
        if metric in COST_METRICS:
            out[metric] = _money(table[metric], table[f"dust_{metric}"])
        else:
            out[metric] = table[metric].astype(np.int64)
    return out.sort_values(["pivot_value", "date"], ignore_index=True)


def ground_truth_demographics(dataset: Dataset, pivot: str, level: str, month: dt.date) -> pd.DataFrame:
    """What a MONTHLY ``MEMBER_*`` report for one calendar month returns per account (or per campaign).

    Columns: ``entity`` (account or campaign URN), ``pivot_value``, and the metrics LinkedIn reports on
    demographic pivots. Account level is the sum over the account's campaigns.
    """
    if pivot not in MEMBER_PIVOTS or level not in ("account", "campaign"):
        raise ValueError("pivot must be a MEMBER_* pivot and level 'account' or 'campaign'")
    first = month.replace(day=1)
    last = (pd.Timestamp(first) + pd.offsets.MonthEnd(0)).date()
    query = AnalyticsQuery((pivot,), "MONTHLY", first, last, {}, _MEMBER_METRICS)
    split = pd.DataFrame(_member_rows(dataset, query, by_campaign=True))
    if level == "account":
        owner = {c: a.id for a in dataset.account_data for c in a.creative_campaign_ids.tolist()}
        split["account_id"] = split["campaign_id"].map(owner)
        split = split.groupby(["account_id", "value"], sort=False)[list(_MEMBER_METRICS)].sum().reset_index()
        entity = [URN_PREFIX["ACCOUNT"] + str(v) for v in split["account_id"].to_numpy()]
    else:
        entity = [URN_PREFIX["CAMPAIGN"] + str(v) for v in split["campaign_id"].to_numpy()]
    values = UNIVERSES[pivot].values
    out = pd.DataFrame({"entity": entity, "pivot_value": [values[v] for v in split["value"].to_numpy()]})
    for metric in _MEMBER_METRICS:
        column = split[metric].to_numpy().astype(np.int64)
        out[metric] = _money(column, None) if metric in COST_METRICS else column
    return out.sort_values(["entity", "pivot_value"], ignore_index=True)
