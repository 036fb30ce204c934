"""Dagster adapters for the warehouse: a resource that opens it and a plain IO manager for its tables.

``WarehouseIOManager.handle_output`` writes what an asset or a shard op returns (a ``WarehouseBatch``) in one
transaction, together with the write's record (``linkedin_assets.warehouse.records``); ``load_input`` returns what
is stored. The metadata it attaches is for people and the UI's plots: nothing reads it back.
"""

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from linkedin_assets.defs.failures import actionable_failures
from linkedin_assets.warehouse import (
    DEFAULT_DUCKDB_PATH,
    DEFAULT_SCHEMA,
    TABLES,
    TableSpec,
    Warehouse,
    WarehouseBatch,
    Writes,
    open_warehouse,
    redact_url,
    table_spec,
)

__all__ = [
    "TABLE_METADATA_KEY",
    "WarehouseIOManager",
    "WarehouseResource",
    "markdown_preview",
    "run_lineage",
    "write_metadata",
    "redact_url",
    "with_table_schema",
]

PREVIEW_ROWS = 10
_PREVIEW_CELL_CHARS = 60
TABLE_METADATA_KEY = "warehouse/table"
"""Output definition metadata naming the table an op output (a shard step inside a graph-backed asset) writes."""


class WarehouseResource(dg.ConfigurableResource):
    """Where the warehouse lives: PostgreSQL when ``database_url`` is set, else the embedded DuckDB file."""

    database_url: str | None = Field(
        default=None, description="postgresql://user:password@host:port/db; unset for the embedded DuckDB file."
    )
    schema_name: str = Field(default=DEFAULT_SCHEMA, description="Database schema holding the tables.")
    duckdb_path: str = Field(default=DEFAULT_DUCKDB_PATH, description="DuckDB file used when database_url is unset.")
    fivetran_schema: str | None = Field(
        default=None, description="Schema of the Fivetran-compatible views over the tables; unset: <schema>_fivetran."
    )

    @property
    def location(self) -> str:
        """Where the tables are, safe to log: the redacted URL or the DuckDB path, plus the schema."""
        where = redact_url(self.database_url) if self.database_url else f"duckdb:{self.duckdb_path}"
        return f"{where} (schema {self.schema_name})"

    @contextmanager
    def open(self) -> Iterator[Warehouse]:
        """A connected warehouse whose tables exist (created or migrated once per process), closed on exit."""
        warehouse = open_warehouse(self.database_url, self.schema_name, self.duckdb_path, self.fivetran_schema)
        try:
            _ensure_schema_once(self, warehouse)
            yield warehouse
        finally:
            warehouse.close()

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "database_url" and value else value


_ensured: set[tuple[str | None, str, str, str | None]] = set()
_ensured_lock = threading.Lock()


def _ensure_schema_once(resource: WarehouseResource, warehouse: Warehouse) -> None:
    key = (resource.database_url, resource.schema_name, resource.duckdb_path, resource.fivetran_schema)
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


def with_table_schema(spec: dg.AssetSpec) -> dg.AssetSpec:
    """``spec`` with its table's columns as ``dagster/column_schema`` definition metadata (assets that are no table
    are returned as they are).

    Definition metadata, not materialization metadata: the columns are fixed by the code, and a range run writes one
    materialization event per partition, each of which would carry the schema (8.5 of a metric event's 15 KB).
    """
    name = spec.key.path[-1]
    if name not in TABLES:
        return spec
    return spec.merge_attributes(metadata={"dagster/column_schema": _table_schema(table_spec(name))})


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


class _Preview:
    """Keeps a copy of the first rows that stream past (the preview never needs the whole batch)."""

    def __init__(self) -> None:
        self.head: pd.DataFrame | None = None

    def watch(self, batch: WarehouseBatch) -> Any:
        if isinstance(batch.frames, pd.DataFrame):
            self.head = batch.frames.head(PREVIEW_ROWS)
            return batch.frames
        return self._frames(batch.iter_frames())

    def _frames(self, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        try:
            for frame in frames:
                if self.head is None and isinstance(frame, pd.DataFrame) and len(frame):
                    self.head = frame.head(PREVIEW_ROWS).copy()
                yield frame
                del frame  # not kept alive while the producer makes the next frame
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()


def _figure_metadata(figures: Mapping[str, Any]) -> dict[str, Any]:
    """The producer's figures as metadata: numbers stay numbers (the UI plots them), anything else becomes text."""
    return {
        key: value if isinstance(value, dg.MetadataValue | int | float | str) else dg.MetadataValue.text(str(value))
        for key, value in figures.items()
    }


WRITE_SECONDS = "write_seconds"
LINKEDIN_WAIT = "linkedin_wait_seconds"
"""Figures: the seconds a write's path was busy (convert, COPY, upsert, commit), and the seconds its batch's stream
waited for LinkedIn meanwhile (the producer's figure, left out of the first)."""


def write_metadata(schema: str, table: str, writes: Writes) -> dict[str, Any]:
    """The materialization metadata of one or several writes of ``table``: what changed, the scope, the figures.

    ``dagster/row_count`` and ``dagster/table_name`` are the keys the asset page reads ("Row count", the table)."""
    spec = table_spec(table)
    result, figures = writes.total, writes.figures
    metadata: dict[str, Any] = {
        "dagster/row_count": result.rows,
        "dagster/table_name": f"{schema}.{spec.name}",
        "rows_inserted": result.inserted,
        "rows_updated": result.updated,
        "rows_removed" if spec.kind == "entity" else "rows_deleted": result.removed_or_deleted,
        "frames": result.frames,
        "accounts": dg.MetadataValue.text(", ".join(map(str, writes.account_ids))),
        **_figure_metadata(figures),
        WRITE_SECONDS: sum(r.seconds for r in writes.records) - figures.get(LINKEDIN_WAIT, 0.0),
    }
    if writes.date_range is not None:
        first, last = writes.date_range
        metadata["date_range"] = dg.MetadataValue.text(f"{first.isoformat()}..{last.isoformat()}")
    metadata["accounts_failed"] = len({f["account_id"] for f in writes.failures})
    return metadata


def write_summary(schema: str, table: str, writes: Writes) -> str:
    """One log line: the rows written and what they changed."""
    result = writes.total
    removed = "removed" if table_spec(table).kind == "entity" else "deleted"
    left_out = sorted({int(f["account_id"]) for f in writes.failures})
    return (
        f"Wrote {result.rows} row(s) to {schema}.{table}: {result.inserted} inserted, {result.updated} updated, "
        f"{result.removed_or_deleted} {removed}"
    ) + (f"; left out ad account(s) {', '.join(map(str, left_out))}, untouched" if left_out else "")


def run_lineage(instance: dg.DagsterInstance, run_id: str) -> tuple[str, ...]:
    """``run_id``, then the runs it re-executes (parent, grandparent, ...), nearest first: a re-execution from
    failure runs again only the failed steps, so the rows of the others carry an earlier run's id."""
    chain = [run_id]
    run = instance.get_run_by_id(run_id)
    while run is not None and run.parent_run_id and run.parent_run_id not in chain:
        chain.append(run.parent_run_id)
        run = instance.get_run_by_id(run.parent_run_id)
    return tuple(chain)


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Writes ``WarehouseBatch`` outputs to their warehouse table; loads tables as DataFrames.

    The table: an op output whose definition metadata names ``{"warehouse/table": "<table>"}`` (a shard step inside
    a graph-backed asset), else the last element of the asset key. The batch's frames are streamed into the table in
    one transaction, with the write's record (run, step, scope, result, figures). Fact tables without an explicit
    ``date_range`` replace the output's partition time window; unpartitioned ones are only upserted.
    Inputs: entity tables load every row; fact tables the upstream partition range when partitioned, else every row.
    """

    warehouse: dg.ResourceDependency[WarehouseResource]

    def handle_output(self, context: dg.OutputContext, obj: WarehouseBatch) -> None:
        if not isinstance(obj, WarehouseBatch):
            raise TypeError(f"WarehouseIOManager stores WarehouseBatch outputs, got {type(obj).__name__}")
        table = _output_table(context)
        date_range = obj.date_range
        if date_range is None and table_spec(table).kind == "fact":
            date_range = _partition_dates(context)
        preview = _Preview()
        # A stream's LinkedIn error and a failed write both end here: the step fails with the short text.
        with actionable_failures(), self.warehouse.open() as warehouse:
            warehouse.write(
                table,
                preview.watch(obj),
                account_ids=obj.account_ids,
                date_range=date_range,
                run_id=context.run_id,
                step_key=context.step_key,
                figures=obj.metadata,
                failures=obj.failures,
            )
            written = Writes(warehouse.write_records(table, [context.run_id]))
        mine = Writes([r for r in written.records if r.step_key == context.step_key])
        context.log.info(write_summary(self.warehouse.schema_name, table, mine))
        head = preview.head if preview.head is not None else pd.DataFrame()
        context.add_output_metadata(
            {
                **write_metadata(self.warehouse.schema_name, table, mine),
                "preview": dg.MetadataValue.md(markdown_preview(head)),
            }
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        spec = table_spec(context.asset_key.path[-1])
        date_range = _partition_dates(context) if spec.kind == "fact" else None
        with self.warehouse.open() as warehouse:
            return warehouse.read(spec.name, where_date_range=date_range)


def _table_of(metadata: Any) -> str | None:
    value = (metadata or {}).get(TABLE_METADATA_KEY)
    if value is None:
        return None
    return str(getattr(value, "value", value))  # a raw string, or a TextMetadataValue once normalised


def _output_table(context: dg.OutputContext) -> str:
    table = _table_of(context.definition_metadata)
    if table is not None:
        return table
    if context.has_asset_key:
        return context.asset_key.path[-1]
    raise dg.DagsterInvariantViolationError(
        f"op output {context.name!r} has no asset key: name its table in the output's metadata "
        f"({{{TABLE_METADATA_KEY!r}: '<table>'}})"
    )
