"""Daily creative metrics, generated with numpy from per-creative parameters.

Counts are integers, money is kept as ``int64`` units of 1e-7 of the currency (LinkedIn reports up to seven
decimals), so sums over creatives, days and campaigns are exact and equal what a client adds up.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from linkedin_assets.linkedin.fields import DEFAULT_METRICS

__all__ = [
    "COST_METRICS",
    "GENERATED_METRICS",
    "NON_ADDITIVE",
    "CreativeParams",
    "format_decimal",
    "generate_rows",
    "revise_late_rows",
    "to_decimal",
]

GENERATED_METRICS: tuple[str, ...] = DEFAULT_METRICS
COST_METRICS: tuple[str, ...] = ("costInLocalCurrency", "costInUsd", "conversionValueInLocalCurrency")
NON_ADDITIVE: frozenset[str] = frozenset({"approximateMemberReach"})
UNITS_PER_CURRENCY = 10_000_000
GLITCH = Decimal("-2E-18")
"""The floating-point residue LinkedIn sometimes reports for a zero cost (seen as ``"-2E-18"``)."""

_WEEKDAY_FACTOR = np.array([1.0, 1.06, 1.08, 1.02, 0.9, 0.45, 0.38])  # Monday .. Sunday


def to_decimal(units: int, glitch: int = 0) -> Decimal:
    """Money units (1e-7) plus ``glitch`` residues as the exact ``Decimal`` the API serialises."""
    value = Decimal(int(units)).scaleb(-7)
    return value + glitch * GLITCH if glitch else value


def format_decimal(value: Decimal) -> str:
    """Serialise like Java's ``BigDecimal.stripTrailingZeros().toString()`` (so ``1500`` -> ``"1.5E+3"``)."""
    return "0.0" if value == 0 else str(value.normalize())


@dataclass(frozen=True)
class CreativeParams:
    """Per-creative arrays that drive the generator; the window is ``[start, end)`` in history-day indices."""

    start: np.ndarray
    end: np.ndarray
    base_impressions: np.ndarray
    ctr: np.ndarray
    cvr: np.ndarray
    reach_share: np.ndarray
    cost_kind: np.ndarray  # 0 CPC, 1 CPM, 2 CPV
    unit_cost: np.ndarray  # currency per click / per mille / per view
    round_cost: np.ndarray  # bool: billed in whole currency units
    conversion_value: np.ndarray  # currency units per conversion, two decimals
    video: np.ndarray
    inmail: np.ndarray
    carousel: np.ndarray
    leadgen: np.ndarray
    social: np.ndarray
    fx_to_usd: float


def _binom(rng: np.random.Generator, n: np.ndarray, p: np.ndarray | float) -> np.ndarray:
    return rng.binomial(n, p).astype(np.int64)


def generate_rows(p: CreativeParams, first_weekday: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One row per creative-day with impressions; ``creative`` is the creative's index, ``day`` the history day."""
    lengths = np.clip(p.end - p.start, 0, None)
    creative = np.repeat(np.arange(len(lengths)), lengths)
    offsets = np.cumsum(lengths) - lengths
    day = p.start[creative] + (np.arange(len(creative)) - offsets[creative])
    size = len(creative)

    expected = p.base_impressions[creative] * _WEEKDAY_FACTOR[(first_weekday + day) % 7] * rng.gamma(4.0, 0.25, size)
    impressions = rng.poisson(expected).astype(np.int64)
    impressions[rng.random(size) < 0.04] = 0  # dark days: paused by budget, no delivery

    def flag(name: str) -> np.ndarray:
        return getattr(p, name)[creative].astype(np.float64)

    video, inmail, carousel, leadgen, social = (flag(n) for n in ("video", "inmail", "carousel", "leadgen", "social"))
    m: dict[str, np.ndarray] = {"impressions": impressions}
    clicks = _binom(rng, impressions, p.ctr[creative])
    m["clicks"] = clicks
    m["landingPageClicks"] = _binom(rng, clicks, 0.78 - 0.55 * leadgen)
    m["companyPageClicks"] = _binom(rng, clicks - m["landingPageClicks"], 0.25)
    m["likes"] = _binom(rng, impressions, 0.0025 * social)
    m["reactions"] = m["likes"] + _binom(rng, impressions, 0.0006 * social)
    m["comments"] = _binom(rng, m["reactions"], 0.12)
    m["commentLikes"] = _binom(rng, m["comments"], 0.3)
    m["shares"] = _binom(rng, m["reactions"], 0.06)
    m["follows"] = _binom(rng, impressions, 0.0004 * social)
    m["otherEngagements"] = _binom(rng, impressions, 0.0012)
    m["fullScreenPlays"] = _binom(rng, impressions, 0.001 * video)
    m["totalEngagements"] = clicks + m["reactions"] + m["comments"] + m["shares"] + m["follows"] + m["otherEngagements"]
    m["sends"] = impressions * inmail.astype(np.int64)
    m["opens"] = _binom(rng, m["sends"], 0.45)
    m["actionClicks"] = _binom(rng, m["opens"], 0.08)
    m["adUnitClicks"] = _binom(rng, m["opens"], 0.03)
    m["textUrlClicks"] = _binom(rng, m["opens"], 0.02)
    conversions = _binom(rng, clicks, p.cvr[creative])
    post_click = _binom(rng, conversions, 0.7)
    m["externalWebsiteConversions"] = conversions
    m["externalWebsitePostClickConversions"] = post_click
    m["externalWebsitePostViewConversions"] = conversions - post_click
    m["oneClickLeadFormOpens"] = _binom(rng, clicks, 0.25 * leadgen)
    m["oneClickLeads"] = _binom(rng, m["oneClickLeadFormOpens"], 0.35)
    m["qualifiedLeads"] = _binom(rng, m["oneClickLeads"], 0.4)
    m["videoStarts"] = _binom(rng, impressions, 0.35 * video)
    m["videoViews"] = _binom(rng, m["videoStarts"], 0.55)
    m["videoFirstQuartileCompletions"] = _binom(rng, m["videoStarts"], 0.7)
    m["videoMidpointCompletions"] = _binom(rng, m["videoFirstQuartileCompletions"], 0.7)
    m["videoThirdQuartileCompletions"] = _binom(rng, m["videoMidpointCompletions"], 0.75)
    m["videoCompletions"] = _binom(rng, m["videoThirdQuartileCompletions"], 0.8)
    m["cardImpressions"] = _binom(rng, impressions, 0.9 * carousel)
    m["cardClicks"] = _binom(rng, clicks, 0.8 * carousel)
    m["approximateMemberReach"] = np.maximum(_binom(rng, impressions, p.reach_share[creative]), 1)

    kind = p.cost_kind[creative]
    billable = np.select([kind == 0, kind == 1], [clicks, impressions / 1000.0], m["videoViews"])
    cost = billable * p.unit_cost[creative] * rng.uniform(0.55, 1.0, size) * UNITS_PER_CURRENCY
    local = np.rint(cost).astype(np.int64)
    rounded = p.round_cost[creative]
    local[rounded] = np.rint(local[rounded] / UNITS_PER_CURRENCY).astype(np.int64) * UNITS_PER_CURRENCY
    m["costInLocalCurrency"] = local
    m["costInUsd"] = np.rint(local * p.fx_to_usd).astype(np.int64)
    m["conversionValueInLocalCurrency"] = (
        conversions * np.rint(p.conversion_value[creative] * 100).astype(np.int64) * (UNITS_PER_CURRENCY // 100)
    )

    keep = impressions > 0
    out = {"creative": creative[keep].astype(np.int32), "day": day[keep].astype(np.int32)}
    for name in GENERATED_METRICS:
        out[name] = m[name][keep].astype(np.int64 if name in COST_METRICS else np.int32)
    return out


def revise_late_rows(
    rows: dict[str, np.ndarray], p: CreativeParams, first_late_day: int, rng: np.random.Generator
) -> None:
    """One late-data revision, in place: recent days gain conversions and cost (attribution, billing)."""
    late = np.flatnonzero(rows["day"] >= first_late_day)
    if not len(late):
        return
    creative = rows["creative"][late]
    clicks = rows["clicks"][late].astype(np.int64)
    conversions = rows["externalWebsiteConversions"][late].astype(np.int64)
    extra = _binom(rng, clicks - conversions, 0.08)
    rows["externalWebsiteConversions"][late] += extra.astype(np.int32)
    rows["externalWebsitePostClickConversions"][late] += extra.astype(np.int32)
    value = np.rint(p.conversion_value[creative] * 100).astype(np.int64) * (UNITS_PER_CURRENCY // 100)
    rows["conversionValueInLocalCurrency"][late] += extra * value
    local = rows["costInLocalCurrency"][late]
    local = local + np.rint(local * rng.uniform(0.0, 0.04, len(late))).astype(np.int64)
    rows["costInLocalCurrency"][late] = local
    rows["costInUsd"][late] = np.rint(local * p.fx_to_usd).astype(np.int64)
