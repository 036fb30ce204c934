"""adAnalytics over the generated rows: filter by facets and dates, bucket, pivot, aggregate, serialise.

Ground-truth frames for tests come from the same aggregation the HTTP endpoint uses.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from linkedin_assets.linkedin.fields import DECIMAL_METRICS, FLOAT_METRICS, MEMBER_PIVOTS, NOT_ON_MEMBER_PIVOTS
from linkedin_assets.simulator.catalog import UNIVERSES
from linkedin_assets.simulator.metrics import (
    COST_METRICS,
    GENERATED_METRICS,
    NON_ADDITIVE,
    format_decimal,
    to_decimal,
)

if TYPE_CHECKING:
    from linkedin_assets.simulator.data import Dataset

__all__ = ["AnalyticsQuery", "ground_truth_daily", "ground_truth_demographics", "run_query"]

ID_COLUMN = {
    "ACCOUNT": "account_id",
    "CAMPAIGN_GROUP": "group_id",
    "CAMPAIGN": "campaign_id",
    "CREATIVE": "creative_id",
}
URN_PREFIX = {
    "ACCOUNT": "urn:li:sponsoredAccount:",
    "CAMPAIGN_GROUP": "urn:li:sponsoredCampaignGroup:",
    "CAMPAIGN": "urn:li:sponsoredCampaign:",
    "CREATIVE": "urn:li:sponsoredCreative:",
}
FACET_COLUMN = {
    "accounts": "account_id",
    "campaignGroups": "group_id",
    "campaigns": "campaign_id",
    "creatives": "creative_id",
}
_ADDITIVE = tuple(m for m in GENERATED_METRICS if m not in NON_ADDITIVE)
_MEMBER_METRICS = tuple(m for m in _ADDITIVE if m not in NOT_ON_MEMBER_PIVOTS)
REACH_MAX_DAYS = 92
_ZIPF = 1.15


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


def _select(dataset: Dataset, query: AnalyticsQuery) -> pd.DataFrame:
    """Creative-day rows matching the facets (ANDed across facet kinds) and the date range."""
    first = (query.start - dataset.history_start).days
    last = (query.end - dataset.history_start).days
    parts = []
    for account in dataset.account_data:
        chosen = np.ones(len(account.creative_ids), dtype=bool)
        per_creative = {
            "account_id": np.full(len(account.creative_ids), account.id),
            "group_id": account.creative_group_ids,
            "campaign_id": account.creative_campaign_ids,
            "creative_id": account.creative_ids,
        }
        for facet, ids in query.facets.items():
            chosen &= np.isin(per_creative[FACET_COLUMN[facet]], np.fromiter(ids, dtype=np.int64, count=len(ids)))
        if query.campaign_type:
            chosen &= account.creative_campaign_types == query.campaign_type
        if not chosen.any() or last < 0 or first >= dataset.days:
            continue
        rows = dataset.metric_rows(account)
        mask = (
            np.isin(rows["creative_id"], account.creative_ids[chosen]) & (rows["day"] >= first) & (rows["day"] <= last)
        )
        if mask.any():
            parts.append(pd.DataFrame({name: column[mask] for name, column in rows.items()}))
    if not parts:
        columns = ("day", *ID_COLUMN.values(), *GENERATED_METRICS, "usd_glitch")
        return pd.DataFrame({name: pd.Series(dtype="int64") for name in columns})
    return pd.concat(parts, ignore_index=True)


def _buckets(dataset: Dataset, frame: pd.DataFrame, query: AnalyticsQuery) -> pd.DataFrame:
    """Add ``b_start``/``b_end`` (datetime64[D]) per row: the time bucket clipped to the requested range."""
    dates = np.datetime64(dataset.history_start, "D") + frame["day"].to_numpy().astype("timedelta64[D]")
    lo, hi = np.datetime64(query.start, "D"), np.datetime64(query.end, "D")
    if query.granularity == "DAILY":
        start, end = dates, dates
    elif query.granularity == "ALL":
        start, end = np.full(len(dates), lo), np.full(len(dates), hi)
    else:
        unit = "M" if query.granularity == "MONTHLY" else "Y"
        period = dates.astype(f"datetime64[{unit}]")
        start = np.maximum(period.astype("datetime64[D]"), lo)
        end = np.minimum((period + 1).astype("datetime64[D]") - np.timedelta64(1, "D"), hi)
    return frame.assign(b_start=start, b_end=end)


def _aggregate(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sum additive metrics per key; reach is non-additive (bounded by the largest part and by impressions)."""
    numeric = frame[[*keys, *_ADDITIVE, "usd_glitch"]].astype({m: "int64" for m in _ADDITIVE} | {"usd_glitch": "int64"})
    grouped = numeric.groupby(keys, sort=False)
    out = grouped.sum()
    reach = frame.groupby(keys, sort=False)["approximateMemberReach"].agg(["sum", "max"])
    out["approximateMemberReach"] = np.minimum(
        out["impressions"].to_numpy(),
        np.maximum(reach["max"].to_numpy(), (reach["sum"].to_numpy() * 0.8).astype(np.int64)),
    )
    return out.reset_index()


def _split_members(dataset: Dataset, totals: pd.DataFrame, pivot: str) -> pd.DataFrame:
    """Spread (campaign, bucket) totals over member values with a Zipf-like law per (campaign, pivot, month).

    Like LinkedIn, only the top 100 values are kept and values with fewer than 3 impressions are dropped;
    fractions are floored, so the parts add up to a little less than the whole.
    """
    universe = UNIVERSES[pivot]
    size = len(universe.values)
    top = min(100, size)
    weights = (np.arange(1, size + 1) ** -_ZIPF)[:top] / (np.arange(1, size + 1) ** -_ZIPF).sum()
    month = pd.DatetimeIndex(totals["b_start"]).to_period("M").asi8 if len(totals) else np.array([], dtype=np.int64)
    pairs = pd.DataFrame({"c": totals["campaign_id"].to_numpy(), "m": month})
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(pairs))
    pivot_index = MEMBER_PIVOTS.index(pivot)
    perms = np.array(
        [
            np.random.default_rng([dataset.seed, int(c), pivot_index, int(m) + 100_000]).permutation(size)[:top]
            for c, m in uniques
        ],
        dtype=np.int64,
    ).reshape(len(uniques), top)
    k = len(totals)
    out = {
        "campaign_id": np.repeat(totals["campaign_id"].to_numpy(), top),
        "b_start": np.repeat(totals["b_start"].to_numpy(), top),
        "b_end": np.repeat(totals["b_end"].to_numpy(), top),
        "value": perms[codes].reshape(k * top) if k else np.array([], dtype=np.int64),
    }
    for metric in _MEMBER_METRICS:
        out[metric] = np.floor(totals[metric].to_numpy()[:, None] * weights[None, :]).astype(np.int64).reshape(k * top)
    frame = pd.DataFrame(out)
    return frame[frame["impressions"] >= 3]


def _member_rows(dataset: Dataset, frame: pd.DataFrame, pivot: str, by_campaign: bool) -> pd.DataFrame:
    totals = _aggregate(frame, ["campaign_id", "b_start", "b_end"])
    split = _split_members(dataset, totals, pivot)
    keys = ["value", "b_start", "b_end"] if not by_campaign else ["campaign_id", "value", "b_start", "b_end"]
    return split.groupby(keys, sort=False)[list(_MEMBER_METRICS)].sum().reset_index()


def _serialise(value: Any, metric: str) -> Any:
    return format_decimal(value) if metric in DECIMAL_METRICS else value


def _date_json(day: dt.date) -> dict[str, int]:
    return {"year": day.year, "month": day.month, "day": day.day}


def run_query(dataset: Dataset, query: AnalyticsQuery, max_elements: int) -> list[dict[str, Any]]:
    """The ``elements`` of an adAnalytics response: rows with activity, silently cut at ``max_elements``."""
    frame = _buckets(dataset, _select(dataset, query), query)
    member = query.pivots[0] in MEMBER_PIVOTS
    if member:
        result = _member_rows(dataset, frame, query.pivots[0], by_campaign=False)
        values = UNIVERSES[query.pivots[0]].values
        pivot_values = [[values[v] for v in result["value"].to_numpy()]]
    else:
        keys = [ID_COLUMN[p] for p in query.pivots]
        result = _aggregate(frame, [*dict.fromkeys(keys), "b_start", "b_end"])
        pivot_values = [[URN_PREFIX[p] + str(v) for v in result[ID_COLUMN[p]].to_numpy()] for p in query.pivots]
    if result.empty:
        return []
    # Unordered but deterministic: LinkedIn promises no order, and truncation must not follow the calendar.
    mix = pd.util.hash_pandas_object(
        result[[c for c in result.columns if c in ("value", "b_start", *ID_COLUMN.values())]], index=False
    )
    order = np.argsort(mix.to_numpy(), kind="stable")[:max_elements]

    long_range = (query.end - query.start).days + 1 > REACH_MAX_DAYS
    fields = [
        f
        for f in query.fields
        if not (member and f in NOT_ON_MEMBER_PIVOTS)
        and not (long_range and f in ("approximateMemberReach", "audiencePenetration"))
    ]
    columns = {f: result[f].to_numpy() for f in fields if f in result.columns}
    glitch = result["usd_glitch"].to_numpy() if "usd_glitch" in result.columns else None
    starts, ends = pd.DatetimeIndex(result["b_start"]).date, pd.DatetimeIndex(result["b_end"]).date
    elements = []
    for i in order:
        element: dict[str, Any] = {}
        for f in fields:
            if f == "pivotValues":
                element[f] = [values_[i] for values_ in pivot_values]
            elif f == "dateRange":
                element[f] = {"start": _date_json(starts[i]), "end": _date_json(ends[i])}
            elif f in COST_METRICS and f in columns:
                units = int(columns[f][i])
                extra = int(glitch[i]) if glitch is not None and f == "costInUsd" else 0
                element[f] = format_decimal(to_decimal(units, extra))
            elif f in columns:
                element[f] = int(columns[f][i])
            elif f in DECIMAL_METRICS:
                element[f] = "0.0"
            else:
                element[f] = 0.0 if f in FLOAT_METRICS else 0
        elements.append(element)
    return elements


def _money_columns(frame: pd.DataFrame, metrics: tuple[str, ...], glitch: bool) -> pd.DataFrame:
    for metric in COST_METRICS:
        if metric in metrics:
            extra = (
                frame["usd_glitch"].to_numpy() if glitch and metric == "costInUsd" else np.zeros(len(frame), dtype=int)
            )
            frame[metric] = [to_decimal(u, g) for u, g in zip(frame[metric].to_numpy(), extra, strict=True)]
    return frame


def ground_truth_daily(dataset: Dataset, pivot: str) -> pd.DataFrame:
    """What a DAILY ``pivot=CAMPAIGN|CREATIVE`` report over the whole history returns, as one frame."""
    if pivot not in ("CAMPAIGN", "CREATIVE"):
        raise ValueError("pivot is 'CAMPAIGN' or 'CREATIVE'")
    query = AnalyticsQuery((pivot,), "DAILY", dataset.history_start, dataset.today, {}, GENERATED_METRICS)
    frame = _buckets(dataset, _select(dataset, query), query)
    result = _aggregate(frame, [ID_COLUMN[pivot], "b_start", "b_end"])
    out = pd.DataFrame(
        {
            "pivot_value": [URN_PREFIX[pivot] + str(v) for v in result[ID_COLUMN[pivot]].to_numpy()],
            "date": [pd.Timestamp(v).date() for v in result["b_start"].to_numpy()],
        }
    )
    for metric in GENERATED_METRICS:
        out[metric] = result[metric].to_numpy().astype(np.int64)
    out["usd_glitch"] = result["usd_glitch"].to_numpy()
    out = _money_columns(out, GENERATED_METRICS, glitch=True).drop(columns="usd_glitch")
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
    frame = _buckets(dataset, _select(dataset, query), query)
    split = _member_rows(dataset, frame, pivot, by_campaign=True)
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
        out[metric] = split[metric].to_numpy().astype(np.int64)
    out = _money_columns(out, _MEMBER_METRICS, glitch=False)
    return out.sort_values(["entity", "pivot_value"], ignore_index=True)
