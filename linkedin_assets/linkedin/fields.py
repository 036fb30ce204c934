"""The adAnalytics vocabulary: pivots, granularities, the request limits and metric-name spelling.

The metrics themselves (types, where they are served, the default sets) are in :mod:`.catalogue`.
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


@functools.cache
def snake_case(name: str) -> str:
    """``costInLocalCurrency`` -> ``cost_in_local_currency``: the column name analytics engineers model against."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def chunk_metrics(metrics: tuple[str, ...] | list[str]) -> list[tuple[str, ...]]:
    """Split metrics into groups that fit one request beside the key fields (at most 18 each)."""
    metrics = tuple(dict.fromkeys(metrics))
    return [metrics[i : i + METRICS_PER_CHUNK] for i in range(0, len(metrics), METRICS_PER_CHUNK)] or [()]
