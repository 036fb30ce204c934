"""The warehouse: LinkedIn Ads tables in PostgreSQL or an embedded DuckDB file (plain Python, no Dagster)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from linkedin_assets.warehouse.backends import (
    DEFAULT_DUCKDB_PATH,
    DEFAULT_SCHEMA,
    DEFAULT_SYNC_LOCK,
    DuckDBWarehouse,
    PostgresWarehouse,
    SyncLockBusy,
    Warehouse,
    WarehouseError,
    WriteResult,
    open_warehouse,
)
from linkedin_assets.warehouse.schema import TABLES, Column, TableSpec, metric_columns, table_spec


@dataclass(frozen=True)
class WarehouseBatch:
    """What an asset hands the warehouse IO manager: rows plus the scope they replace.

    ``account_ids``: the accounts the batch is complete for (entity rows of these accounts missing from ``frame`` are
    marked removed; fact rows of these accounts inside ``date_range`` missing from ``frame`` are deleted).
    ``date_range``: inclusive; ``None`` lets the IO manager use the output's partition time window.
    """

    frame: pd.DataFrame
    account_ids: tuple[int, ...]
    date_range: tuple[date, date] | None = None


__all__ = [
    "DEFAULT_DUCKDB_PATH",
    "DEFAULT_SCHEMA",
    "DEFAULT_SYNC_LOCK",
    "TABLES",
    "Column",
    "DuckDBWarehouse",
    "PostgresWarehouse",
    "SyncLockBusy",
    "TableSpec",
    "Warehouse",
    "WarehouseBatch",
    "WarehouseError",
    "WriteResult",
    "metric_columns",
    "open_warehouse",
    "table_spec",
]
