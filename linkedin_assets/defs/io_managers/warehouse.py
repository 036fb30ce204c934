"""Dagster adapters for the warehouse: a resource that opens it and an IO manager for ``WarehouseBatch`` outputs."""

import numbers
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field, PrivateAttr

from linkedin_assets.defs.failures import actionable_failures
from linkedin_assets.warehouse import (
    DEFAULT_DUCKDB_PATH,
    DEFAULT_SCHEMA,
    TABLES,
    ShardWrite,
    ShardWrites,
    TableSpec,
    Warehouse,
    WarehouseBatch,
    WriteResult,
    open_warehouse,
    redact_url,
    table_spec,
)

__all__ = [
    "TABLE_METADATA_KEY",
    "WarehouseIOManager",
    "WarehouseResource",
    "markdown_preview",
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


_END = object()


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
            while (frame := next(frames, _END)) is not _END:
                if self.head is None and isinstance(frame, pd.DataFrame) and len(frame):
                    self.head = frame.head(PREVIEW_ROWS).copy()
                yield frame
                del frame  # not kept alive while the producer makes the next frame
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()


def _plain(value: Any) -> Any:
    """A JSON-able copy: numbers as int/float, dates as ISO text, containers recursively, anything else as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real | Decimal):  # numpy floats; money as a float the UI can plot
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return str(value)


def _producer_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The producer's figures as metadata Dagster accepts, numbers kept numeric (so the UI plots them): a value
    Dagster cannot take must not fail a step whose rows are already committed."""
    converted: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, dg.MetadataValue | dg.TableSchema):
            converted[key] = value
        elif isinstance(value, Mapping | list | tuple | set | frozenset):
            converted[key] = dg.MetadataValue.json(_plain(value))
        else:
            converted[key] = _plain(value)
    return converted


WRITE_SECONDS = "write_seconds"
LINKEDIN_WAIT = "linkedin_wait_seconds"
"""Metadata keys: the seconds a write's path was busy (convert, COPY, upsert, commit), and the seconds its batch's
stream waited for LinkedIn meanwhile (the producer's figure, left out of the first)."""
# the keys _result_metadata writes: a shard's figures are the rest of its numeric metadata
_RESULT_KEYS = frozenset(
    {"dagster/row_count", "rows_inserted", "rows_updated", "rows_removed", "rows_deleted", "frames"}
)


def _result_metadata(spec: TableSpec, result: WriteResult) -> dict[str, Any]:
    return {
        "dagster/row_count": result.rows,
        "rows_inserted": result.inserted,
        "rows_updated": result.updated,
        "rows_removed" if spec.kind == "entity" else "rows_deleted": result.removed_or_deleted,
        "frames": result.frames,
    }


def _scope_metadata(
    spec: TableSpec, schema: str, account_ids: tuple[int, ...], date_range: tuple[date, date] | None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "dagster/table_name": f"{schema}.{spec.name}",
        "accounts": dg.MetadataValue.text(", ".join(map(str, account_ids))),
    }
    if date_range is not None:
        metadata["date_range"] = dg.MetadataValue.text(f"{date_range[0].isoformat()}..{date_range[1].isoformat()}")
    return metadata


def _recorded_scope(values: Mapping[str, Any]) -> tuple[tuple[int, ...], tuple[date, date] | None]:
    """The accounts and days ``_scope_metadata`` recorded, read back from the metadata's values."""
    first, _, last = str(values.get("date_range") or "").partition("..")
    account_ids = tuple(int(a) for a in str(values.get("accounts") or "").split(", ") if a)
    return account_ids, ((date.fromisoformat(first), date.fromisoformat(last)) if last else None)


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Stores ``WarehouseBatch`` outputs in a warehouse table; loads tables as DataFrames.

    The table: an op output whose definition metadata names ``{"warehouse/table": "<table>"}`` (a shard step inside
    a graph-backed asset), else the last element of the asset key. The batch's frames are streamed into the table
    (one transaction per output). A ``ShardWrites`` summary (the final output of a graph-backed asset whose shard
    steps already wrote their rows) writes nothing: its shards' summed figures become the output's metadata.
    Fact tables without an explicit ``date_range`` replace the output's partition time window; unpartitioned ones
    are only upserted. Inputs: entity tables load every row; fact tables load the upstream partition range when
    partitioned, else every row. An input from a shard op output loads that step's record of its write, a
    ``ShardWrite`` (result, scope, figures; the rows are in the table already).
    """

    warehouse: dg.ResourceDependency[WarehouseResource]
    _handled: dict[str, dict[tuple[str, str], dict[str, Any]]] = PrivateAttr(default_factory=dict)
    """Per run id: its handled outputs' metadata (``_recorded_write``)."""

    def handle_output(self, context: dg.OutputContext, obj: WarehouseBatch | ShardWrites) -> None:
        if not isinstance(obj, WarehouseBatch | ShardWrites):
            raise TypeError(
                f"WarehouseIOManager stores WarehouseBatch (or ShardWrites) outputs, got {type(obj).__name__}"
            )
        spec = table_spec(_output_table(context))
        schema = self.warehouse.schema_name
        date_range = obj.date_range
        if date_range is None and spec.kind == "fact":
            date_range = _partition_dates(context)
        if isinstance(obj, ShardWrites):
            result = obj.total
            context.log.info(
                f"{len(obj.shards)} shard(s) wrote {result.rows} row(s) to {schema}.{spec.name}: "
                f"{result.inserted} inserted, {result.updated} updated, {result.removed_or_deleted} "
                f"{'removed' if spec.kind == 'entity' else 'deleted'}"
            )
            context.add_output_metadata(
                {
                    **_result_metadata(spec, result),
                    "shards": len(obj.shards),
                    **_scope_metadata(spec, schema, obj.account_ids, date_range),
                    **_producer_metadata(obj.metadata),
                }
            )
            return
        preview = _Preview()
        started = time.perf_counter()
        # A stream's LinkedIn error and a failed write both end here: the step fails with the short text.
        with actionable_failures(), self.warehouse.open() as warehouse:
            result = warehouse.write(
                spec.name,
                preview.watch(obj),
                account_ids=obj.account_ids,
                date_range=date_range,
                run_id=context.run_id,
            )
        # the write path's own time (convert, COPY, upsert, commit): a stream's waits for LinkedIn left out
        write_seconds = time.perf_counter() - started - obj.metadata.get(LINKEDIN_WAIT, 0.0)
        removed = "removed" if spec.kind == "entity" else "deleted"
        context.log.info(
            f"Wrote {result.rows} row(s) in {result.frames} frame(s) to {schema}.{spec.name}: "
            f"{result.inserted} inserted, {result.updated} updated, {result.removed_or_deleted} {removed}"
        )
        head = preview.head if preview.head is not None else pd.DataFrame()
        context.add_output_metadata(
            {
                **_result_metadata(spec, result),
                **_scope_metadata(spec, schema, obj.account_ids, date_range),
                "preview": dg.MetadataValue.md(markdown_preview(head)),
                **_producer_metadata(obj.metadata),
                WRITE_SECONDS: write_seconds,
            }
        )

    def _recorded_write(self, context: dg.InputContext, upstream: dg.OutputContext) -> ShardWrite:
        """The write ``handle_output`` recorded for an upstream shard op output, read back from the event log.

        A fan-in step loads one input per shard: the run's handled outputs are read once and kept (re-read only
        when a shard is not among them yet, e.g. a later asset's shards in the same run), not once per shard: with
        one account per step, 10,000 shards would otherwise read 10,000 records 10,000 times."""
        key = (upstream.step_key, upstream.name)
        handled = self._handled.get(upstream.run_id)
        if handled is None or key not in handled:
            handled = self._handled[upstream.run_id] = _handled_outputs(context.instance, upstream.run_id)
        if key not in handled:
            raise dg.DagsterInvariantViolationError(
                f"no write recorded for output {upstream.name!r} of step {upstream.step_key!r} in run {upstream.run_id}"
            )
        return _shard_write(handled[key])

    def load_input(self, context: dg.InputContext) -> pd.DataFrame | ShardWrite:
        upstream = context.upstream_output
        if upstream is not None and not context.has_asset_key and _table_of(upstream.definition_metadata):
            return self._recorded_write(context, upstream)
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


def _handled_outputs(instance: dg.DagsterInstance, run_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The metadata values of every output a run's IO managers handled, by (step key, output name)."""
    handled = {}
    for record in instance.get_records_for_run(run_id=run_id, of_type=dg.DagsterEventType.HANDLED_OUTPUT).records:
        event = record.event_log_entry.dagster_event
        data = event.event_specific_data if event is not None else None
        if event is not None and event.step_key and getattr(data, "output_name", None):
            values = {key: getattr(value, "value", value) for key, value in data.metadata.items()}
            handled[(event.step_key, data.output_name)] = values
    return handled


def _shard_write(values: Mapping[str, Any]) -> ShardWrite:
    """A shard write from the metadata ``handle_output`` recorded for it: the ``WriteResult``, the scope
    (``accounts``, ``date_range``) and the producer's numeric figures."""
    account_ids, date_range = _recorded_scope(values)
    return ShardWrite(
        WriteResult(
            inserted=int(values["rows_inserted"]),
            updated=int(values["rows_updated"]),
            removed_or_deleted=int(values.get("rows_deleted", values.get("rows_removed", 0))),
            rows=int(values["dagster/row_count"]),
            frames=int(values.get("frames", 1)),
        ),
        account_ids=account_ids,
        date_range=date_range,
        figures={
            key: value
            for key, value in values.items()
            if key not in _RESULT_KEYS and isinstance(value, int | float) and not isinstance(value, bool)
        },
    )
