"""Daily creative metrics, generated with numpy from per-creative parameters.

Counts are integers. Money is kept exactly as two ``int64`` parts: units of 1e-7 of the currency (LinkedIn
reports up to seven decimals) plus *dust* in units of 1e-18 (the floating-point residue LinkedIn's decimal
strings sometimes carry, ``"-2E-18"``, ``"0.30000000000000004"``; 18 places is what a ``DECIMAL(38,18)`` column
holds). Sums over creatives, days and campaigns are exact integer sums of both parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal

import numpy as np

__all__ = [
    "COST_METRICS",
    "DEPRECATED_METRICS",
    "DUST_PER_UNIT",
    "FIVETRAN_EXTRA_METRICS",
    "GENERATED_METRICS",
    "NON_ADDITIVE",
    "CreativeParams",
    "add_oddities",
    "format_decimal",
    "format_money",
    "generate_rows",
    "group_rows",
    "group_sum",
    "revise_late_rows",
    "to_decimal",
]

_CORE_METRICS: tuple[str, ...] = (
    "impressions", "clicks", "costInLocalCurrency", "costInUsd", "landingPageClicks", "companyPageClicks",
    "totalEngagements", "otherEngagements", "likes", "comments", "shares", "follows", "reactions", "commentLikes",
    "actionClicks", "adUnitClicks", "textUrlClicks", "fullScreenPlays", "externalWebsiteConversions",
    "externalWebsitePostClickConversions", "externalWebsitePostViewConversions", "conversionValueInLocalCurrency",
    "oneClickLeads", "oneClickLeadFormOpens", "qualifiedLeads", "opens", "sends", "videoStarts", "videoViews",
    "videoFirstQuartileCompletions", "videoMidpointCompletions", "videoThirdQuartileCompletions",
    "videoCompletions", "cardClicks", "cardImpressions", "approximateMemberReach",
)  # fmt: skip
FIVETRAN_EXTRA_METRICS: tuple[str, ...] = (
    "leadGenerationMailContactInfoShares", "leadGenerationMailInterestedClicks",
    "viralCardClicks", "viralCardImpressions", "viralClicks", "viralCommentLikes", "viralComments",
    "viralCompanyPageClicks", "viralExternalWebsiteConversions", "viralExternalWebsitePostClickConversions",
    "viralExternalWebsitePostViewConversions", "viralFollows", "viralFullScreenPlays", "viralImpressions",
    "viralLandingPageClicks", "viralLikes", "viralOneClickLeadFormOpens", "viralOneClickLeads",
    "viralOtherEngagements", "viralShares", "viralTotalEngagements", "viralVideoCompletions",
    "viralVideoFirstQuartileCompletions", "viralVideoMidpointCompletions", "viralVideoStarts", "viralVideoViews",
    "viralVideoThirdQuartileCompletions",
)  # fmt: skip
"""The 27 metrics of Fivetran's daily report tables beyond the original 36: InMail lead metrics and the viral
(organic re-share) metrics. Viral counts are small and sparse, and *not* bounded by the paid ones."""
GENERATED_METRICS: tuple[str, ...] = _CORE_METRICS + FIVETRAN_EXTRA_METRICS
"""The 63 metrics generated per creative-day (the simulator's own list, independent of the client's)."""
DEPRECATED_METRICS: frozenset[str] = frozenset({"approximateUniqueImpressions"})
"""Accepted in ``fields`` but never put in an element (deprecated by LinkedIn in version 202401)."""
COST_METRICS: tuple[str, ...] = ("costInLocalCurrency", "costInUsd", "conversionValueInLocalCurrency")
NON_ADDITIVE: frozenset[str] = frozenset({"approximateMemberReach"})
UNITS_PER_CURRENCY = 10_000_000
DUST_PER_UNIT = 100_000_000_000
"""Dust units (1e-18) per money unit (1e-7)."""
GLITCH_DUST = -2
"""The floating-point residue LinkedIn sometimes reports for a zero cost (seen as ``"-2E-18"``), in dust units."""
_EXTRA = frozenset(FIVETRAN_EXTRA_METRICS)
_EXACT = Context(prec=80)  # money has at most 12 integer digits + 18 places: no rounding anywhere

_WEEKDAY_FACTOR = np.array([1.0, 1.06, 1.08, 1.02, 0.9, 0.45, 0.38])  # Monday .. Sunday


def to_decimal(units: int, dust: int = 0) -> Decimal:
    """Money units (1e-7) plus dust (1e-18) as the exact ``Decimal`` the API serialises."""
    value = Decimal(int(units)).scaleb(-7, _EXACT)
    return _EXACT.add(value, Decimal(int(dust)).scaleb(-18, _EXACT)) if dust else value


def format_decimal(value: Decimal) -> str:
    """Serialise like Java's ``BigDecimal.stripTrailingZeros().toString()`` (so ``1500`` -> ``"1.5E+3"``)."""
    return "0.0" if value == 0 else str(value.normalize(_EXACT))


def format_money(units: int, dust: int = 0) -> str:
    """``format_decimal(to_decimal(units, dust))``: the JSON string of one money value (fast for plain units)."""
    if not dust:
        if not units:
            return "0.0"
        whole, fraction = divmod(abs(units), UNITS_PER_CURRENCY)
        if fraction and (whole or fraction >= 10):  # plain notation, as BigDecimal prints it (exponent >= -6)
            return f"{'-' if units < 0 else ''}{whole}.{fraction:07d}".rstrip("0")
    return format_decimal(to_decimal(units, dust))


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

    m.update(_money_metrics(m, p, creative, rng))
    flags = {"video": video, "inmail": inmail, "carousel": carousel, "leadgen": leadgen, "social": social}
    m.update(_fivetran_extras(m, flags, p.ctr[creative], p.cvr[creative], rng))
    return _kept(m, creative, day, impressions > 0)


def _money_metrics(
    m: dict[str, np.ndarray], p: CreativeParams, creative: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Cost (by the campaign's cost type, some billed in whole units) and conversion value, in 1e-7 units."""
    kind = p.cost_kind[creative]
    billable = np.select([kind == 0, kind == 1], [m["clicks"], m["impressions"] / 1000.0], m["videoViews"])
    cost = billable * p.unit_cost[creative] * rng.uniform(0.55, 1.0, len(creative)) * UNITS_PER_CURRENCY
    local = np.rint(cost).astype(np.int64)
    rounded = p.round_cost[creative]
    local[rounded] = np.rint(local[rounded] / UNITS_PER_CURRENCY).astype(np.int64) * UNITS_PER_CURRENCY
    value = np.rint(p.conversion_value[creative] * 100).astype(np.int64) * (UNITS_PER_CURRENCY // 100)
    return {
        "costInLocalCurrency": local,
        "costInUsd": np.rint(local * p.fx_to_usd).astype(np.int64),
        "conversionValueInLocalCurrency": m["externalWebsiteConversions"] * value,
    }


def _kept(m: dict[str, np.ndarray], creative: np.ndarray, day: np.ndarray, keep: np.ndarray) -> dict[str, np.ndarray]:
    """The rows with impressions, in compact dtypes: money int64, counts int32, the extra metrics int16 when the
    account's values fit (they are small), else int32."""
    out = {"creative": creative[keep].astype(np.int32), "day": day[keep].astype(np.int32)}
    for name in GENERATED_METRICS:
        column = m[name][keep]
        if name in COST_METRICS:
            out[name] = column.astype(np.int64)
        elif name in _EXTRA and column.max(initial=0) < 2**15 and column.min(initial=0) >= 0:
            out[name] = column.astype(np.int16)
        else:
            out[name] = column.astype(np.int32)
    return out


def _fivetran_extras(
    m: dict[str, np.ndarray], flags: dict[str, np.ndarray], ctr: np.ndarray, cvr: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """InMail lead metrics and the viral metrics of each creative-day (drawn after every other metric, so the
    older metrics keep their values).

    Viral activity is organic re-sharing of a sponsored post: only social formats, on about a third of their days,
    driven by the paid shares and impressions; members who see a re-share click, like and convert at organic
    rates, so a viral count can exceed its paid counterpart (a day with 0 paid clicks may have viral clicks).
    """
    size = len(m["impressions"])
    social, video, carousel, leadgen = flags["social"], flags["video"], flags["carousel"], flags["leadgen"]
    v: dict[str, np.ndarray] = {
        "leadGenerationMailContactInfoShares": _binom(rng, m["opens"], 0.04 * flags["inmail"] * leadgen),
        "leadGenerationMailInterestedClicks": _binom(rng, m["opens"], 0.06 * flags["inmail"] * leadgen),
    }
    active = (rng.random(size) < 0.35) * social
    expected = active * (m["shares"] * 40.0 + m["impressions"] * 0.006) * rng.gamma(2.0, 0.5, size)
    impressions = rng.poisson(expected).astype(np.int64)
    v["viralImpressions"] = impressions
    v["viralClicks"] = clicks = _binom(rng, impressions, np.minimum(0.2, ctr * 2.5))
    v["viralLandingPageClicks"] = _binom(rng, clicks, 0.6)
    v["viralCompanyPageClicks"] = _binom(rng, clicks - v["viralLandingPageClicks"], 0.3)
    v["viralLikes"] = _binom(rng, impressions, 0.012)
    v["viralComments"] = _binom(rng, v["viralLikes"], 0.15)
    v["viralCommentLikes"] = _binom(rng, v["viralComments"], 0.3)
    v["viralShares"] = _binom(rng, impressions, 0.002)
    v["viralFollows"] = _binom(rng, impressions, 0.001)
    v["viralOtherEngagements"] = _binom(rng, impressions, 0.002)
    v["viralTotalEngagements"] = (
        clicks
        + v["viralLikes"]
        + v["viralComments"]
        + v["viralShares"]
        + v["viralFollows"]
        + v["viralOtherEngagements"]
    )
    v["viralCardImpressions"] = _binom(rng, impressions, 0.9 * carousel)
    v["viralCardClicks"] = _binom(rng, clicks, 0.8 * carousel)
    v["viralFullScreenPlays"] = _binom(rng, impressions, 0.002 * video)
    v["viralVideoStarts"] = _binom(rng, impressions, 0.4 * video)
    v["viralVideoViews"] = _binom(rng, v["viralVideoStarts"], 0.55)
    v["viralVideoFirstQuartileCompletions"] = _binom(rng, v["viralVideoStarts"], 0.7)
    v["viralVideoMidpointCompletions"] = _binom(rng, v["viralVideoFirstQuartileCompletions"], 0.7)
    v["viralVideoThirdQuartileCompletions"] = _binom(rng, v["viralVideoMidpointCompletions"], 0.75)
    v["viralVideoCompletions"] = _binom(rng, v["viralVideoThirdQuartileCompletions"], 0.8)
    post_click = _binom(rng, clicks, np.minimum(0.5, cvr))
    post_view = _binom(rng, impressions, 0.0005)
    v["viralExternalWebsitePostClickConversions"] = post_click
    v["viralExternalWebsitePostViewConversions"] = post_view
    v["viralExternalWebsiteConversions"] = post_click + post_view
    v["viralOneClickLeadFormOpens"] = _binom(rng, clicks, 0.25 * leadgen)
    v["viralOneClickLeads"] = _binom(rng, v["viralOneClickLeadFormOpens"], 0.35)
    return v


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


def add_oddities(rows: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Legitimate oddities LinkedIn sends, in place on one account's creative-day rows (``--oddities``).

    - clicks > impressions on about 0.5 % of rows (at least one): some formats count clicks without an impression;
    - floating-point dust on about 2 % of money values (at least one): ``"16.569714100000001"``-like strings;
    - a tiny negative ``costInLocalCurrency`` (``"-2E-18"``) on some zero-cost rows.

    Returns the dust arrays ``{"dust_<money metric>": int64}`` (units of 1e-18) to add to the money columns.
    Campaign-level corrections (a campaign-day below one of its creatives) are made by the caller.
    """
    size = len(rows["impressions"])
    dust = {f"dust_{m}": np.zeros(size, dtype=np.int64) for m in COST_METRICS}
    if not size:
        return dust
    odd = rng.random(size) < 0.005
    odd[int(rng.integers(0, size))] = True
    extra = (rows["impressions"][odd] + 1 + rng.poisson(2.0, int(odd.sum()))).astype(np.int32) - rows["clicks"][odd]
    rows["clicks"][odd] += extra
    rows["totalEngagements"][odd] += extra
    for metric in ("costInLocalCurrency", "costInUsd"):
        units, residues = rows[metric], dust[f"dust_{metric}"]
        candidates = np.flatnonzero(units >= UNITS_PER_CURRENCY // 10)  # >= 0.1: 17 digits keep <= 17 places
        for i in candidates[rng.random(len(candidates)) < 0.02].tolist():
            residues[i] = _float_residue(int(units[i]))
        for i in candidates.tolist() if not residues.any() else ():  # at least one dusty value
            if residue := _float_residue(int(units[i])):
                residues[i] = residue
                break
    zero = np.flatnonzero(rows["costInLocalCurrency"] == 0)
    if len(zero):
        dust["dust_costInLocalCurrency"][zero[rng.random(len(zero)) < 0.05]] = GLITCH_DUST
    return dust


def _float_residue(units: int) -> int:
    """Dust (1e-18 units) of the amount as a double printed with 17 significant digits, as a JVM or a
    spreadsheet might (``16.5697141`` -> ``"16.569714100000001"``); 0 when it does not fit 18 places."""
    text = f"{units / UNITS_PER_CURRENCY:.17g}"
    residue = _EXACT.subtract(Decimal(text), Decimal(units).scaleb(-7, _EXACT)).scaleb(18, _EXACT)
    return int(residue) if residue == residue.to_integral_value() and abs(residue) < DUST_PER_UNIT else 0


def group_rows(
    columns: dict[str, np.ndarray], keys: tuple[str, ...]
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Rows grouped by ``keys``: each group's key values (sorted by them, first key first), the rows' sort order and
    each group's first position in it (for ``np.*.reduceat`` over ``column[order]``). At least one row."""
    n = len(columns[keys[0]])
    order = np.lexsort(tuple(columns[k] for k in reversed(keys)))
    change = np.zeros(n, dtype=bool)
    change[0] = True
    out: dict[str, np.ndarray] = {}
    for k in keys:
        column = columns[k][order]
        change[1:] |= column[1:] != column[:-1]
        out[k] = column
    starts = np.flatnonzero(change)
    return {k: v[starts] for k, v in out.items()}, order, starts


def group_sum(columns: dict[str, np.ndarray], keys: tuple[str, ...], metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Rows grouped by ``keys`` (sorted by them) with the int64 sums of ``metrics``."""
    if not len(columns[keys[0]]):
        return {name: np.zeros(0, dtype=np.int64) for name in (*keys, *metrics)}
    out, order, starts = group_rows(columns, keys)
    for name in metrics:
        out[name] = np.add.reduceat(columns[name][order].astype(np.int64), starts)
    return out
