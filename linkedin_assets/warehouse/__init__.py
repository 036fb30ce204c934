"""The warehouse: LinkedIn Ads tables in PostgreSQL or an embedded DuckDB file (plain Python, no Dagster)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import pandas as pd

from linkedin_assets.warehouse.backends import (
    DEFAULT_DUCKDB_PATH,
    DEFAULT_FIVETRAN_SCHEMA,
    DEFAULT_SCHEMA,
    DuckDBWarehouse,
    Frames,
    PostgresWarehouse,
    Warehouse,
    WarehouseError,
    fivetran_schema_of,
    open_warehouse,
    redact_url,
    reports_schema_of,
)
from linkedin_assets.warehouse.records import WriteRecord, WriteResult, Writes
from linkedin_assets.warehouse.schema import HISTORY, TABLES, WRITES, Column, TableSpec, metric_columns, table_spec


class WarehouseBatch:
    """What an asset (or a shard op) hands the warehouse IO manager: rows plus the scope they replace.

    ``frames``: one DataFrame, or an iterable of DataFrames consumed once, in order, while the rows are written (a
    generator or a queue-backed iterable: the warehouse holds one frame at a time). ``WarehouseBatch(frame=df, ...)``
    is the same one-frame batch.
    ``account_ids``: the accounts the batch is complete for (entity rows of these accounts missing from the batch are
    marked removed; fact rows of these accounts inside ``date_range`` missing from the batch are deleted).
    ``date_range``: inclusive; ``None`` lets the IO manager use the output's partition time window.
    ``metadata``: filled by the producer while the frames are consumed (request counts, plan figures); the IO manager
    adds it to the output's metadata after the write.
    ``failures``: accounts of ``account_ids`` that could not be fetched, ``{account_id: why (a JSON-able dict)}``, known
    before the batch is written or filled while it streams: the write leaves them out (their stored rows untouched)
    and records why.
    """

    __slots__ = ("_consumed", "account_ids", "date_range", "failures", "frames", "metadata")

    def __init__(
        self,
        frames: Frames | None = None,
        account_ids: Sequence[int] | None = None,
        date_range: tuple[date, date] | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        frame: pd.DataFrame | None = None,
        failures: dict[int, dict[str, Any]] | None = None,
    ) -> None:
        if (frames is None) == (frame is None):
            raise TypeError("WarehouseBatch takes exactly one of frames or frame")
        if account_ids is None:
            raise TypeError("WarehouseBatch requires account_ids (an empty tuple for a table without account scope)")
        self.frames: Frames = frame if frames is None else frames
        self.account_ids: tuple[int, ...] = tuple(int(account_id) for account_id in account_ids)
        self.date_range = date_range
        self.metadata: dict[str, Any] = {} if metadata is None else metadata
        self.failures: dict[int, dict[str, Any]] = {} if failures is None else failures
        self._consumed = False

    def iter_frames(self) -> Iterator[pd.DataFrame]:
        """The frames, in order; a one-shot stream refuses a second pass (it would read as an empty batch)."""
        if isinstance(self.frames, pd.DataFrame):
            return iter((self.frames,))
        if self._consumed and not isinstance(self.frames, Sequence):
            raise WarehouseError("this WarehouseBatch's frames were already consumed (a stream is read once)")
        self._consumed = True
        return iter(self.frames)

    def __repr__(self) -> str:
        frames = f"DataFrame[{len(self.frames)} rows]" if isinstance(self.frames, pd.DataFrame) else "<stream>"
        return f"WarehouseBatch({frames}, account_ids={self.account_ids!r}, date_range={self.date_range!r})"


__all__ = [
    "DEFAULT_DUCKDB_PATH",
    "DEFAULT_FIVETRAN_SCHEMA",
    "DEFAULT_SCHEMA",
    "TABLES",
    "WRITES",
    "Column",
    "HISTORY",
    "DuckDBWarehouse",
    "Frames",
    "PostgresWarehouse",
    "TableSpec",
    "Warehouse",
    "WarehouseBatch",
    "WarehouseError",
    "WriteRecord",
    "WriteResult",
    "Writes",
    "metric_columns",
    "fivetran_schema_of",
    "open_warehouse",
    "reports_schema_of",
    "redact_url",
    "table_spec",
]
