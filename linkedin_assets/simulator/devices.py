"""The ``IMPRESSION_DEVICE_TYPE`` adAnalytics pivot: an exact split of each creative-day over five device types.

Pivot values (plain strings, not URNs): :data:`DEVICE_TYPES`. Each creative has fixed device weights (a Dirichlet
draw from its own stream; ``CONNECTED_TV`` only for video creatives). Every additive metric of a creative-day fact
is split over the devices by cumulative rounding (device ``k`` gets ``floor(total x c_k) - floor(total x c_(k-1))``,
``c_k`` the sum of the first ``k`` weights in float64, ``c_0 = 0``, ``c_5 = 1``), so the parts add up to the fact exactly;
money is split in 1e-7 units and its dust (``-2E-18``-like residue) goes whole to the creative's heaviest device.
A (creative-day, device) part whose metrics are all 0 does not exist; an element exists iff a part falls in it.
Campaign-day corrections (``oddities``) do not apply on this pivot.

Unavailable on it (400 ``FIELD_INVALID``, like reach and conversions on LinkedIn): :data:`NOT_ON_DEVICE_PIVOT`.
It combines with entity pivots in ``q=statistics`` (``List(CAMPAIGN,IMPRESSION_DEVICE_TYPE)``), not with
``CONVERSION``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from linkedin_assets.simulator.metrics import COST_METRICS, GENERATED_METRICS, NON_ADDITIVE, group_sum

if TYPE_CHECKING:
    from linkedin_assets.simulator.analytics import AnalyticsQuery
    from linkedin_assets.simulator.data import AccountData, Dataset

__all__ = ["DEVICE_METRICS", "DEVICE_PIVOT", "DEVICE_TYPES", "NOT_ON_DEVICE_PIVOT", "device_rows", "device_weights"]

DEVICE_PIVOT = "IMPRESSION_DEVICE_TYPE"
DEVICE_TYPES: tuple[str, ...] = ("DESKTOP", "MOBILE_WEB", "MOBILE_APP", "CONNECTED_TV", "UNDETERMINED")
NOT_ON_DEVICE_PIVOT: frozenset[str] = frozenset(
    {
        "approximateMemberReach",
        "audiencePenetration",
        "approximateUniqueImpressions",
        "externalWebsiteConversions",
        "externalWebsitePostClickConversions",
        "externalWebsitePostViewConversions",
        "conversionValueInLocalCurrency",
        "viralExternalWebsiteConversions",
        "viralExternalWebsitePostClickConversions",
        "viralExternalWebsitePostViewConversions",
    }
)
"""Reach and conversion metrics: LinkedIn does not report them by device."""
DEVICE_METRICS: tuple[str, ...] = tuple(
    m for m in GENERATED_METRICS if m not in NON_ADDITIVE and m not in NOT_ON_DEVICE_PIVOT
)
"""The generated metrics split over devices."""
_ALPHA = np.array([4.0, 1.5, 5.0, 1.0, 0.2])


def device_weights(seed: int, account: AccountData) -> np.ndarray:
    """``(creatives, 5)`` float64 weights (rows add up to 1) in the account's creative order."""
    rng = np.random.default_rng([seed, account.index, 8])
    weights = rng.dirichlet(_ALPHA, len(account.creative_ids))
    weights[~account.params.video.astype(bool), 3] = 0.0
    return weights / weights.sum(axis=1, keepdims=True)


def _split(total: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Exact split of each integer ``total`` over the columns of ``weights``: ``(n, 5)`` int64 parts whose row sums
    are the totals (cumulative rounding: device ``k`` gets ``floor(total x c_k) - floor(total x c_(k-1))`` with
    ``c_k`` the cumulative weight, ``c_0 = 0`` and ``c_5 = 1`` exactly)."""
    cumulative = np.cumsum(weights, axis=1)
    cumulative[:, -1] = 1.0
    bounds = np.floor(total[:, None].astype(np.float64) * cumulative).astype(np.int64)
    bounds[:, -1] = total
    return np.diff(bounds, axis=1, prepend=0)


def _account_parts(dataset: Dataset, account: AccountData, query: AnalyticsQuery) -> dict[str, np.ndarray] | None:
    """One account's (creative-day, device) parts the query selects, with bucket columns."""
    from linkedin_assets.simulator.analytics import _buckets, selected_rows

    part = selected_rows(dataset, dataset.metric_rows(account), query, creative_facts=True)
    if part is None:
        return None
    n = len(part["day"])
    weights = device_weights(dataset.seed, account)[np.searchsorted(account.creative_ids, part["creative_id"])]
    out = {k: np.repeat(part[k], 5) for k in ("day", "account_id", "group_id", "campaign_id", "creative_id")}
    out["device"] = np.tile(np.arange(5, dtype=np.int64), n)
    heaviest = np.argmax(weights, axis=1)
    for metric in DEVICE_METRICS:
        out[metric] = _split(part[metric].astype(np.int64), weights).reshape(-1)
        if metric in COST_METRICS:
            dust = np.zeros((n, 5), dtype=np.int64)
            dust[np.arange(n), heaviest] = part[f"dust_{metric}"]
            out[f"dust_{metric}"] = dust.reshape(-1)
    names = [*DEVICE_METRICS, *(f"dust_{m}" for m in COST_METRICS if m in DEVICE_METRICS)]
    alive = np.logical_or.reduce([out[m] != 0 for m in names])
    out = {k: v[alive] for k, v in out.items()}
    out["b_start"], out["b_end"] = _buckets(dataset, out["day"], query)
    return out


def device_rows(dataset: Dataset, query: AnalyticsQuery) -> dict[str, np.ndarray]:
    """Aggregated rows of a query with an ``IMPRESSION_DEVICE_TYPE`` pivot (``device`` = index in DEVICE_TYPES)."""
    from linkedin_assets.simulator.analytics import ID_COLUMN, _chosen_creatives, _concat

    ids = tuple(dict.fromkeys(ID_COLUMN[p] for p in query.pivots))
    dust = tuple(f"dust_{m}" for m in COST_METRICS if m in DEVICE_METRICS)
    names = (*ids, "b_start", "b_end", *DEVICE_METRICS, *dust)
    first = (query.start - dataset.history_start).days
    last = (query.end - dataset.history_start).days
    if last < 0 or first >= dataset.days:
        return _concat([], names)
    parts = []
    for account in dataset.account_data:
        chosen = _chosen_creatives(account, query)
        if chosen is not None and not chosen.any():
            continue
        part = _account_parts(dataset, account, query)
        if part is not None and len(part["day"]):
            parts.append(group_sum(part, ("b_start", "b_end", *ids), (*DEVICE_METRICS, *dust)))
    return _concat(parts, names)
