"""Partitions: days for the daily metrics, months for the demographics.

The first partition is ``LINKEDIN_ASSETS_START_DATE`` (default 2025-01-01). The daily partitions end with
yesterday (UTC), the last complete day; the monthly ones include the month in progress.
"""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

START_DATE = os.environ.get("LINKEDIN_ASSETS_START_DATE", "2025-01-01")


def _validated_start(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"LINKEDIN_ASSETS_START_DATE={value!r} is not a date (expected YYYY-MM-DD)") from None


RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def month_key(day: dt.date) -> str:
    """The monthly partition that holds ``day``."""
    return monthly_partitions.get_partition_key_for_timestamp(
        dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()
    )


def partition_tags(first: str, last: str) -> dict[str, str]:
    """Run tags selecting the partitions ``first..last``: one partition, or a range run."""
    return {"dagster/partition": first} if first == last else {RANGE_START: first, RANGE_END: last}


daily_partitions = dg.DailyPartitionsDefinition(start_date=_validated_start(START_DATE), timezone="UTC", end_offset=0)
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=dt.date.fromisoformat(_validated_start(START_DATE)).replace(day=1).isoformat(),
    timezone="UTC",
    end_offset=1,
)
