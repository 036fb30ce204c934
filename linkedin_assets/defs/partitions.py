"""Partitions: days for the daily metrics, months for the demographics.

The first partition is the ``start_date`` setting. The daily partitions end with yesterday (UTC), the last complete
day; the monthly ones include the month in progress. The asset modules declare ``DECLARED_DAILY`` and
``DECLARED_MONTHLY`` (nothing is read at import); ``linkedin_assets.definitions`` replaces them with the partitions of
the configured start date when it builds the code location.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
_PLACEHOLDER_START = dt.date(2000, 1, 1)


def daily_partitions(start: dt.date) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day from ``start`` to yesterday."""
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=0)


def monthly_partitions(start: dt.date) -> dg.MonthlyPartitionsDefinition:
    """One partition per UTC month from ``start``'s to the month in progress."""
    return dg.MonthlyPartitionsDefinition(start_date=start.replace(day=1).isoformat(), timezone="UTC", end_offset=1)


DECLARED_DAILY = daily_partitions(_PLACEHOLDER_START)
DECLARED_MONTHLY = monthly_partitions(_PLACEHOLDER_START)


def with_start_date(spec: dg.AssetSpec, start: dt.date) -> dg.AssetSpec:
    """``spec`` with its declared partitions replaced by those starting at ``start``."""
    if spec.partitions_def == DECLARED_DAILY:
        return spec.replace_attributes(partitions_def=daily_partitions(start))
    if spec.partitions_def == DECLARED_MONTHLY:
        return spec.replace_attributes(partitions_def=monthly_partitions(start))
    return spec


def last_complete_day(now: dt.datetime | None = None) -> dt.date:
    """Yesterday (UTC): the last daily partition."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date() - dt.timedelta(days=1)


def month_key(day: dt.date) -> str:
    """The monthly partition that holds ``day``."""
    return day.replace(day=1).isoformat()


def months_fetched(start: dt.date, end: dt.date, lookback_days: int, first_day: dt.date) -> tuple[str, str]:
    """The first and last monthly partition a daily sync of ``start..end`` touches, its lookback included: LinkedIn
    revises those days in every pivot, so the demographics of their months are fetched again too."""
    earliest = max(first_day, min(start, end - dt.timedelta(days=max(lookback_days, 1) - 1)))
    return month_key(earliest), month_key(end)


def partition_tags(first: str, last: str) -> dict[str, str]:
    """Run tags selecting the partitions ``first..last``: one partition, or a range run."""
    return {"dagster/partition": first} if first == last else {RANGE_START: first, RANGE_END: last}
