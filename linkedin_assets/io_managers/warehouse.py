"""Dagster adapters for the warehouse: a resource that opens it and an IO manager for ``WarehouseBatch`` outputs."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dagster as dg
import pandas as pd
from pydantic import Field

from linkedin_assets.warehouse import (
    DEFAULT_DUCKDB_PATH,
    DEFAULT_SCHEMA,
    TableSpec,
    Warehouse,
    WarehouseBatch,
    WriteResult,
    open_warehouse,
    table_spec,
)

PREVIEW_ROWS = 10
_PREVIEW_CELL_CHARS = 60
_SECRET_QUERY_KEYS = frozenset({"password", "passfile", "sslpassword"})


def redact_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db`` (query-string passwords too)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class WarehouseResource(dg.ConfigurableResource):
    """Where the warehouse lives: PostgreSQL when ``database_url`` is set, else the embedded DuckDB file."""

    database_url: str | None = Field(
        default=None, description="postgresql://user:password@host:port/db; unset for the embedded DuckDB file."
    )
    schema_name: str = Field(default=DEFAULT_SCHEMA, description="Database schema holding the tables.")
    duckdb_path: str = Field(default=DEFAULT_DUCKDB_PATH, description="DuckDB file used when database_url is unset.")

    @property
    def location(self) -> str:
        """Where the tables are, safe to log: the redacted URL or the DuckDB path, plus the schema."""
        where = redact_url(self.database_url) if self.database_url else f"duckdb:{self.duckdb_path}"
        return f"{where} (schema {self.schema_name})"

    @contextmanager
    def open(self) -> Iterator[Warehouse]:
        """A connected warehouse whose tables exist (created or migrated once per process), closed on exit."""
        warehouse = open_warehouse(self.database_url, self.schema_name, self.duckdb_path)
        try:
            _ensure_schema_once(self, warehouse)
            yield warehouse
        finally:
            warehouse.close()

    @contextmanager
    def sync_lock(self, wait: bool = True) -> Iterator[None]:
        """Hold the warehouse's sync lock (raises ``SyncLockBusy`` when ``wait`` is false and it is held)."""
        warehouse = open_warehouse(self.database_url, self.schema_name, self.duckdb_path)
        try:
            with warehouse.sync_lock(wait=wait):
                yield
        finally:
            warehouse.close()

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "database_url" and value else value


_ensured: set[tuple[str | None, str, str]] = set()
_ensured_lock = threading.Lock()


def _ensure_schema_once(resource: WarehouseResource, warehouse: Warehouse) -> None:
    key = (resource.database_url, resource.schema_name, resource.duckdb_path)
    with _ensured_lock:
        if key not in _ensured:
            warehouse.ensure_schema()
            _ensured.add(key)


def _partition_dates(context: dg.OutputContext | dg.InputContext) -> tuple[date, date] | None:
    """The (inclusive) dates of the asset's partition time window, or ``None`` when it has none."""
    if not context.has_asset_partitions:
        return None
    try:
        window = context.asset_partitions_time_window
    except dg.DagsterInvariantViolationError:
        return None
    return window.start.date(), (window.end - timedelta(microseconds=1)).date()


def _table_schema(spec: TableSpec) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                column.name,
                column.type,
                constraints=dg.TableColumnConstraints(nullable=column.name not in spec.primary_key),
            )
            for column in spec.columns
        ],
        constraints=dg.TableConstraints(other=[f"primary key ({', '.join(spec.primary_key)})"]),
    )


def _cell(value: Any) -> str:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= _PREVIEW_CELL_CHARS else text[: _PREVIEW_CELL_CHARS - 1] + "…"


def markdown_preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """The first ``rows`` rows as a Markdown table."""
    head = frame.head(rows)
    lines = [
        "| " + " | ".join(_cell(name) for name in head.columns) + " |",
        "|" + "---|" * len(head.columns),
        *("| " + " | ".join(_cell(value) for value in row) + " |" for row in head.itertuples(index=False)),
    ]
    return "\n".join(lines)


def _write_metadata(
    spec: TableSpec, schema: str, batch: WarehouseBatch, date_range: tuple[date, date] | None, result: WriteResult
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "dagster/row_count": result.rows,
        "dagster/table_name": f"{schema}.{spec.name}",
        "rows_inserted": result.inserted,
        "rows_updated": result.updated,
        "rows_removed" if spec.kind == "entity" else "rows_deleted": result.removed_or_deleted,
        "accounts": dg.MetadataValue.text(", ".join(map(str, batch.account_ids))),
        "dagster/column_schema": _table_schema(spec),
        "preview": dg.MetadataValue.md(markdown_preview(batch.frame)),
    }
    if date_range is not None:
        metadata["date_range"] = dg.MetadataValue.text(f"{date_range[0].isoformat()}..{date_range[1].isoformat()}")
    return metadata


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Stores ``WarehouseBatch`` outputs in the table named by the last element of the asset key; loads DataFrames.

    Fact tables without an explicit ``date_range`` replace the output's partition time window; unpartitioned ones
    are only upserted. Inputs: entity tables load every row; fact tables load the upstream partition range when
    partitioned, else every row.
    """

    warehouse: dg.ResourceDependency[WarehouseResource]

    def handle_output(self, context: dg.OutputContext, obj: WarehouseBatch) -> None:
        if not isinstance(obj, WarehouseBatch):
            raise TypeError(f"WarehouseIOManager stores WarehouseBatch outputs, got {type(obj).__name__}")
        spec = table_spec(context.asset_key.path[-1])
        date_range = obj.date_range
        if date_range is None and spec.kind == "fact":
            date_range = _partition_dates(context)
        with self.warehouse.open() as warehouse:
            result = warehouse.write(
                spec.name, obj.frame, account_ids=obj.account_ids, date_range=date_range, run_id=context.run_id
            )
        removed = "removed" if spec.kind == "entity" else "deleted"
        context.log.info(
            f"Wrote {result.rows} row(s) to {self.warehouse.schema_name}.{spec.name}: {result.inserted} inserted, "
            f"{result.updated} updated, {result.removed_or_deleted} {removed}"
        )
        context.add_output_metadata(_write_metadata(spec, self.warehouse.schema_name, obj, date_range, result))

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        spec = table_spec(context.asset_key.path[-1])
        date_range = _partition_dates(context) if spec.kind == "fact" else None
        with self.warehouse.open() as warehouse:
            return warehouse.read(spec.name, where_date_range=date_range)
