"""Partitions: days for the daily metrics, months for the demographics.

The first partition is ``LINKEDIN_ASSETS_START_DATE`` (default 2025-01-01). The daily partitions end with
yesterday (UTC), the last complete day; the monthly ones include the month in progress.

The asset decorators need the partitions when their modules load, so the start date is the one setting read while
the code location's modules are imported (through ``load_settings``, like every other setting).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from linkedin_assets.settings import load_settings

START_DATE = load_settings().start_date


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


daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone="UTC", end_offset=0)
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=dt.date.fromisoformat(START_DATE).replace(day=1).isoformat(),
    timezone="UTC",
    end_offset=1,
)
