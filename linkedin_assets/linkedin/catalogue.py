"""The metric catalogue: every adAnalytics metric, its column, its type and where LinkedIn serves it.

One entry per metric (the reference's §10.8). Everything else about metrics is derived from here: the warehouse
column names and types, the client's parsing (money arrives as BigDecimal strings), the default metric sets of the
built-in tables, which pivots serve which metric (custom reports are validated against it), and the metrics an API
version no longer serves (asked for never, stored as NULL).

Numbers are kept exactly as LinkedIn returns them: nothing here assumes clicks <= impressions, conversions <=
clicks or post-click + post-view = total (real data breaks all three).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from .fields import MEMBER_PIVOTS, snake_case

MetricKind = Literal["count", "money", "rate"]
COLUMN_TYPES: dict[MetricKind, str] = {"count": "bigint", "money": "numeric", "rate": "double"}


@dataclass(frozen=True)
class Metric:
    """One adAnalytics metric.

    ``kind``: ``count`` (JSON integer), ``money`` (BigDecimal string, stored as ``numeric``), ``rate`` (float).
    ``on_member_pivots``: served on ``MEMBER_*`` (demographic) pivots. ``on_conversion_pivot``: served on the
    ``CONVERSION`` pivot (per conversion rule). ``on_device_pivot``: served on ``IMPRESSION_DEVICE_TYPE``.
    ``retired_in``: the first API version (``YYYYMM``) that no longer serves it. ``max_days``: the longest date
    range LinkedIn answers it for (reach: 92 days).
    """

    name: str
    kind: MetricKind = "count"
    on_member_pivots: bool = True
    on_conversion_pivot: bool = False
    on_device_pivot: bool = True
    retired_in: str | None = None
    max_days: int | None = None

    @property
    def column(self) -> str:
        """The warehouse column: the snake_case of the API name, as Fivetran names it."""
        return snake_case(self.name)

    @property
    def column_type(self) -> str:
        return COLUMN_TYPES[self.kind]


_CONVERSION_COUNTS = ("externalWebsiteConversions", "externalWebsitePostClickConversions",
                      "externalWebsitePostViewConversions")  # fmt: skip
_PER_RULE = frozenset(
    {*_CONVERSION_COUNTS, *(f"viral{m[0].upper()}{m[1:]}" for m in _CONVERSION_COUNTS)}
    | {"conversionValueInLocalCurrency", "oneClickLeads", "qualifiedLeads"}
)
_MONEY = frozenset(
    {
        "costInLocalCurrency", "costInUsd", "conversionValueInLocalCurrency", "costPerQualifiedLead",
        "jobApplications", "jobApplyClicks", "postClickJobApplications", "postClickJobApplyClicks",
        "postViewJobApplications", "postViewJobApplyClicks", "registrations", "postClickRegistrations",
        "postViewRegistrations",
    }
)  # fmt: skip
_RATES = frozenset({"audiencePenetration", "averageDwellTime", "averageVideoWatchTime"})
_NOT_ON_MEMBER = frozenset(
    {"approximateMemberReach", "audiencePenetration", "cardClicks", "cardImpressions", "viralCardClicks",
     "viralCardImpressions", "conversionValueInLocalCurrency"}
)  # fmt: skip
_REACH = frozenset({"approximateMemberReach", "audiencePenetration", "approximateUniqueImpressions"})
_RETIRED = {"approximateUniqueImpressions": "202401"}
"""Deprecated in January 2024 in favour of ``approximateMemberReach`` (reference §10.5)."""

_BASES = [
    "impressions",
    "clicks",
    "likes",
    "reactions",
    "comments",
    "commentLikes",
    "shares",
    "follows",
    "companyPageClicks",
    "landingPageClicks",
    "totalEngagements",
    "otherEngagements",
    "cardClicks",
    "cardImpressions",
    "downloadClicks",
    "subscriptionClicks",
    "fullScreenPlays",
    "videoStarts",
    "videoViews",
    "videoFirstQuartileCompletions",
    "videoMidpointCompletions",
    "videoThirdQuartileCompletions",
    "videoCompletions",
    "documentFirstQuartileCompletions",
    "documentMidpointCompletions",
    "documentThirdQuartileCompletions",
    "documentCompletions",
    "externalWebsiteConversions",
    "externalWebsitePostClickConversions",
    "externalWebsitePostViewConversions",
    "oneClickLeads",
    "oneClickLeadFormOpens",
    "jobApplications",
    "jobApplyClicks",
    "postClickJobApplications",
    "postClickJobApplyClicks",
    "postViewJobApplications",
    "postViewJobApplyClicks",
    "registrations",
    "postClickRegistrations",
    "postViewRegistrations",
]
_PAID_ONLY = [
    "costInLocalCurrency",
    "costInUsd",
    "conversionValueInLocalCurrency",
    "textUrlClicks",
    "actionClicks",
    "adUnitClicks",
    "headlineClicks",
    "headlineImpressions",
    "approximateMemberReach",
    "audiencePenetration",
    "approximateUniqueImpressions",
    "qualifiedLeads",
    "costPerQualifiedLead",
    "validWorkEmailLeads",
    "talentLeads",
    "leadGenerationMailContactInfoShares",
    "leadGenerationMailInterestedClicks",
    "sends",
    "opens",
    "averageVideoWatchTime",
    "averageDwellTime",
]


def _metric(name: str) -> Metric:
    base = name[5].lower() + name[6:] if name.startswith("viral") else name
    return Metric(
        name=name,
        kind="money" if base in _MONEY else "rate" if name in _RATES else "count",
        on_member_pivots=name not in _NOT_ON_MEMBER,
        on_conversion_pivot=name in _PER_RULE,
        on_device_pivot=name not in _REACH and name not in _PER_RULE,
        retired_in=_RETIRED.get(name),
        max_days=92 if name in _REACH else None,
    )


CATALOGUE: dict[str, Metric] = {
    m.name: m for m in map(_metric, [*_BASES, *_PAID_ONLY, *(f"viral{b[0].upper()}{b[1:]}" for b in _BASES)])
}
"""Every metric LinkedIn's adAnalytics knows, by API name."""
BY_COLUMN: dict[str, Metric] = {m.column: m for m in CATALOGUE.values()}

FIVETRAN_REPORT_METRICS: tuple[str, ...] = tuple(
    [
        "actionClicks",
        "adUnitClicks",
        "approximateUniqueImpressions",
        "cardClicks",
        "cardImpressions",
        "clicks",
        "commentLikes",
        "comments",
        "companyPageClicks",
        "conversionValueInLocalCurrency",
        "costInLocalCurrency",
        "costInUsd",
        "externalWebsiteConversions",
        "externalWebsitePostClickConversions",
        "externalWebsitePostViewConversions",
        "follows",
        "fullScreenPlays",
        "impressions",
        "landingPageClicks",
        "leadGenerationMailContactInfoShares",
        "leadGenerationMailInterestedClicks",
        "likes",
        "oneClickLeadFormOpens",
        "oneClickLeads",
        "opens",
        "otherEngagements",
        "shares",
        "textUrlClicks",
        "totalEngagements",
        "videoCompletions",
        "videoFirstQuartileCompletions",
        "videoMidpointCompletions",
        "videoStarts",
        "videoThirdQuartileCompletions",
        "videoViews",
        "viralCardClicks",
        "viralCardImpressions",
        "viralClicks",
        "viralCommentLikes",
        "viralComments",
        "viralCompanyPageClicks",
        "viralExternalWebsiteConversions",
        "viralExternalWebsitePostClickConversions",
        "viralExternalWebsitePostViewConversions",
        "viralFollows",
        "viralFullScreenPlays",
        "viralImpressions",
        "viralLandingPageClicks",
        "viralLikes",
        "viralOneClickLeadFormOpens",
        "viralOneClickLeads",
        "viralOtherEngagements",
        "viralShares",
        "viralTotalEngagements",
        "viralVideoCompletions",
        "viralVideoFirstQuartileCompletions",
        "viralVideoMidpointCompletions",
        "viralVideoStarts",
        "viralVideoThirdQuartileCompletions",
        "viralVideoViews",
    ]
)
"""The 60 metrics of Fivetran's ``ad_analytics_by_campaign``/``_by_creative`` (the header of ``fivetran/linkedin``'s
seeds), in its column order."""

DAILY_METRICS: tuple[str, ...] = (
    *FIVETRAN_REPORT_METRICS,
    "reactions",
    "qualifiedLeads",
    "sends",
    "approximateMemberReach",
)
"""The metric columns of the campaign and creative daily tables: Fivetran's 60 plus the four the project kept before
(reactions, qualified leads, InMail sends, reach). ``LINKEDIN_ASSETS_METRICS`` chooses which of them are fetched."""

DEMOGRAPHIC_METRICS: tuple[str, ...] = (
    "impressions",
    "clicks",
    "costInLocalCurrency",
    "costInUsd",
    "landingPageClicks",
    "totalEngagements",
    "externalWebsiteConversions",
    "oneClickLeads",
    "oneClickLeadFormOpens",
    "videoViews",
    "follows",
    "likes",
)
"""Metrics fetched for MEMBER_* pivots: one chunk."""

CONVERSION_METRICS: tuple[str, ...] = (
    "externalWebsiteConversions",
    "externalWebsitePostClickConversions",
    "externalWebsitePostViewConversions",
    "conversionValueInLocalCurrency",
    "viralExternalWebsiteConversions",
    "viralExternalWebsitePostClickConversions",
    "viralExternalWebsitePostViewConversions",
    "oneClickLeads",
    "qualifiedLeads",
)
"""The metrics LinkedIn serves per conversion rule (the ``CONVERSION`` pivot): the per-rule tables' columns."""
assert set(CONVERSION_METRICS) == {m.name for m in CATALOGUE.values() if m.on_conversion_pivot}

DECIMAL_METRICS: frozenset[str] = frozenset(m.name for m in CATALOGUE.values() if m.kind == "money")
"""Metrics LinkedIn serialises as BigDecimal strings (``"187.33"``, ``"-2E-18"``)."""
FLOAT_METRICS: frozenset[str] = frozenset(m.name for m in CATALOGUE.values() if m.kind == "rate")
NOT_ON_MEMBER_PIVOTS: frozenset[str] = frozenset(m.name for m in CATALOGUE.values() if not m.on_member_pivots)
"""Metrics LinkedIn leaves out of rows of demographic pivots."""
KNOWN_METRICS: frozenset[str] = frozenset(CATALOGUE)
REACH_METRICS: frozenset[str] = frozenset(m.name for m in CATALOGUE.values() if m.max_days)


def resolve_metric(name: str) -> Metric:
    """A metric by its API name or its column name; a clear error naming close matches otherwise."""
    metric = CATALOGUE.get(name) or BY_COLUMN.get(name)
    if metric is None:
        import difflib

        close = list(dict.fromkeys(difflib.get_close_matches(name, [*CATALOGUE, *BY_COLUMN], n=6)))[:3]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"unknown LinkedIn metric {name!r}{hint}")
    return metric


def served(metrics: Iterable[str]) -> tuple[str, ...]:
    """``metrics`` without those LinkedIn has retired (every API version it still accepts is newer): they are never
    asked for (their columns stay NULL), which keeps them from costing a field in every request."""
    return tuple(m for m in metrics if CATALOGUE[m].retired_in is None)


def unserved_on(metrics: Sequence[str], pivots: Sequence[str]) -> list[str]:
    """The metrics LinkedIn does not serve on a request with ``pivots`` (empty: all are served)."""
    checks = []
    if any(p in MEMBER_PIVOTS for p in pivots):
        checks.append(lambda m: m.on_member_pivots)
    if "CONVERSION" in pivots:
        checks.append(lambda m: m.on_conversion_pivot)
    if "IMPRESSION_DEVICE_TYPE" in pivots:
        checks.append(lambda m: m.on_device_pivot)
    return [name for name in metrics if not all(check(CATALOGUE[name]) for check in checks)]


def markdown_table() -> str:
    """The README's table of the daily tables' metric columns: generated here so that it cannot drift."""
    fivetran = set(FIVETRAN_REPORT_METRICS)
    rows = ["| column | type | Fivetran's 60 | per rule | notes |", "| --- | --- | --- | --- | --- |"]
    for name in DAILY_METRICS:
        metric = CATALOGUE[name]
        notes = []
        if metric.retired_in:
            notes.append(f"retired by LinkedIn in {metric.retired_in}: never asked for, always NULL")
        if metric.max_days and not metric.retired_in:
            notes.append(f"only for windows of at most {metric.max_days} days; not additive across days")
        if not metric.on_member_pivots:
            notes.append("not on MEMBER_* pivots")
        rows.append(
            f"| `{metric.column}` | {metric.column_type} | {'yes' if name in fivetran else ''} "
            f"| {'yes' if metric.on_conversion_pivot else ''} | {'; '.join(notes)} |"
        )
    return "\n".join(rows)
