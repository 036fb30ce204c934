"""The adAnalytics vocabulary: pivots, metric names, their JSON types and the request limits.

One list of metric names serves the client (what to ask for), the simulator (what it knows) and the
warehouse (column names are the snake_case of these names).
"""

from __future__ import annotations

import functools
import re

MAX_FIELDS_PER_REQUEST = 20
"""``fields`` may hold at most 20 entries, ``dateRange`` and ``pivotValues`` included."""
KEY_FIELDS: tuple[str, ...] = ("dateRange", "pivotValues")
METRICS_PER_CHUNK = MAX_FIELDS_PER_REQUEST - len(KEY_FIELDS)
MAX_ELEMENTS = 15_000
"""adAnalytics cuts a response at 15,000 elements without saying so."""

ENTITY_PIVOTS: tuple[str, ...] = ("ACCOUNT", "CAMPAIGN_GROUP", "CAMPAIGN", "CREATIVE")
MEMBER_PIVOTS: tuple[str, ...] = (
    "MEMBER_COMPANY_SIZE",
    "MEMBER_INDUSTRY",
    "MEMBER_SENIORITY",
    "MEMBER_JOB_TITLE",
    "MEMBER_JOB_FUNCTION",
    "MEMBER_COUNTRY_V2",
    "MEMBER_REGION_V2",
    "MEMBER_COMPANY",
)
GRANULARITIES: tuple[str, ...] = ("DAILY", "MONTHLY", "YEARLY", "ALL")

DEFAULT_METRICS: tuple[str, ...] = (
    # delivery and engagement
    "impressions",
    "clicks",
    "costInLocalCurrency",
    "costInUsd",
    "landingPageClicks",
    "companyPageClicks",
    "totalEngagements",
    "otherEngagements",
    "likes",
    "comments",
    "shares",
    "follows",
    "reactions",
    "commentLikes",
    "actionClicks",
    "adUnitClicks",
    "textUrlClicks",
    "fullScreenPlays",
    # conversions, leads, messaging, video, cards, reach
    "externalWebsiteConversions",
    "externalWebsitePostClickConversions",
    "externalWebsitePostViewConversions",
    "conversionValueInLocalCurrency",
    "oneClickLeads",
    "oneClickLeadFormOpens",
    "qualifiedLeads",
    "opens",
    "sends",
    "videoStarts",
    "videoViews",
    "videoFirstQuartileCompletions",
    "videoMidpointCompletions",
    "videoThirdQuartileCompletions",
    "videoCompletions",
    "cardClicks",
    "cardImpressions",
    "approximateMemberReach",
)
"""Metrics fetched for campaign and creative daily rows: exactly two chunks of 18."""

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

DECIMAL_METRICS: frozenset[str] = frozenset(
    {
        "costInLocalCurrency",
        "costInUsd",
        "conversionValueInLocalCurrency",
        "costPerQualifiedLead",
        "jobApplications",
        "jobApplyClicks",
        "postClickJobApplications",
        "postClickJobApplyClicks",
        "postViewJobApplications",
        "postViewJobApplyClicks",
        "registrations",
        "postClickRegistrations",
        "postViewRegistrations",
    }
)
"""Metrics LinkedIn serialises as BigDecimal strings (``"187.33"``, ``"-2E-18"``)."""
FLOAT_METRICS: frozenset[str] = frozenset({"audiencePenetration", "averageDwellTime", "averageVideoWatchTime"})
NOT_ON_MEMBER_PIVOTS: frozenset[str] = frozenset(
    {
        "approximateMemberReach",
        "audiencePenetration",
        "cardClicks",
        "cardImpressions",
        "viralCardClicks",
        "viralCardImpressions",
        "conversionValueInLocalCurrency",
    }
)
"""Metrics LinkedIn leaves out of rows of demographic pivots."""

_VIRAL_BASES = [
    "Impressions",
    "Clicks",
    "Likes",
    "Reactions",
    "Comments",
    "CommentLikes",
    "Shares",
    "Follows",
    "CompanyPageClicks",
    "LandingPageClicks",
    "TotalEngagements",
    "OtherEngagements",
    "CardClicks",
    "CardImpressions",
    "DownloadClicks",
    "SubscriptionClicks",
    "FullScreenPlays",
    "VideoStarts",
    "VideoViews",
    "VideoFirstQuartileCompletions",
    "VideoMidpointCompletions",
    "VideoThirdQuartileCompletions",
    "VideoCompletions",
    "DocumentFirstQuartileCompletions",
    "DocumentMidpointCompletions",
    "DocumentThirdQuartileCompletions",
    "DocumentCompletions",
    "ExternalWebsiteConversions",
    "ExternalWebsitePostClickConversions",
    "ExternalWebsitePostViewConversions",
    "OneClickLeads",
    "OneClickLeadFormOpens",
    "JobApplications",
    "JobApplyClicks",
    "PostClickJobApplications",
    "PostClickJobApplyClicks",
    "PostViewJobApplications",
    "PostViewJobApplyClicks",
    "Registrations",
    "PostClickRegistrations",
    "PostViewRegistrations",
]

KNOWN_METRICS: frozenset[str] = frozenset(
    [
        "impressions",
        "clicks",
        "costInLocalCurrency",
        "costInUsd",
        "landingPageClicks",
        "companyPageClicks",
        "totalEngagements",
        "otherEngagements",
        "likes",
        "reactions",
        "comments",
        "commentLikes",
        "shares",
        "follows",
        "textUrlClicks",
        "downloadClicks",
        "subscriptionClicks",
        "actionClicks",
        "adUnitClicks",
        "headlineClicks",
        "headlineImpressions",
        "cardClicks",
        "cardImpressions",
        "fullScreenPlays",
        "approximateMemberReach",
        "audiencePenetration",
        "approximateUniqueImpressions",
        "externalWebsiteConversions",
        "externalWebsitePostClickConversions",
        "externalWebsitePostViewConversions",
        "conversionValueInLocalCurrency",
        "oneClickLeads",
        "oneClickLeadFormOpens",
        "qualifiedLeads",
        "costPerQualifiedLead",
        "validWorkEmailLeads",
        "talentLeads",
        "leadGenerationMailContactInfoShares",
        "leadGenerationMailInterestedClicks",
        "jobApplications",
        "jobApplyClicks",
        "postClickJobApplications",
        "postClickJobApplyClicks",
        "postViewJobApplications",
        "postViewJobApplyClicks",
        "registrations",
        "postClickRegistrations",
        "postViewRegistrations",
        "sends",
        "opens",
        "videoStarts",
        "videoViews",
        "videoFirstQuartileCompletions",
        "videoMidpointCompletions",
        "videoThirdQuartileCompletions",
        "videoCompletions",
        "averageVideoWatchTime",
        "averageDwellTime",
        "documentFirstQuartileCompletions",
        "documentMidpointCompletions",
        "documentThirdQuartileCompletions",
        "documentCompletions",
    ]
) | frozenset(f"viral{base}" for base in _VIRAL_BASES)
"""Every metric name the API knows (§10.8 of the reference)."""


@functools.cache
def snake_case(name: str) -> str:
    """``costInLocalCurrency`` -> ``cost_in_local_currency``: the column name analytics engineers model against."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def chunk_metrics(metrics: tuple[str, ...] | list[str]) -> list[tuple[str, ...]]:
    """Split metrics into groups that fit one request beside the key fields (at most 18 each)."""
    metrics = tuple(dict.fromkeys(metrics))
    return [metrics[i : i + METRICS_PER_CHUNK] for i in range(0, len(metrics), METRICS_PER_CHUNK)] or [()]
