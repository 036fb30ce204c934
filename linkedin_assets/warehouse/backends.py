"""Two warehouse backends behind one protocol: PostgreSQL (psycopg 3) and an embedded DuckDB file.

Both run the same SQL for the upsert, the removal marking and the range replacement; they differ only in how a
batch reaches the staging table (binary ``COPY`` for PostgreSQL, a registered DataFrame for DuckDB), in type names and
in locking. A batch is a stream of frames staged one at a time inside the write's one transaction, so a write holds
one frame (plus the conversion of at most ``CHUNK_ROWS`` of its rows), however long the stream.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # each driver is imported by its backend when used: a PostgreSQL sync never pays DuckDB's import
    import duckdb

from linkedin_assets.warehouse.columns import Vector, duckdb_array, python_values, vector
from linkedin_assets.warehouse.fivetran import view_sql, views_version
from linkedin_assets.warehouse.records import WriteRecord, WriteResult, numeric_figures
from linkedin_assets.warehouse.schema import (
    HISTORY,
    REMOVED_AT,
    RUN_ID,
    SYNCED_AT,
    TABLES,
    WRITES,
    Column,
    ColumnType,
    TableSpec,
    table_spec,
)

DEFAULT_SCHEMA = "linkedin_ads"


def fivetran_schema_of(schema: str) -> str:
    """Where the Fivetran-compatible views of ``schema`` go unless configured: ``linkedin_ads_fivetran`` by default."""
    return f"{schema}_fivetran"


def reports_schema_of(schema: str) -> str:
    """Where the fivetran/linkedin reports built over the views of ``schema`` go unless configured."""
    return f"{schema}_reports"


DEFAULT_FIVETRAN_SCHEMA = fivetran_schema_of(DEFAULT_SCHEMA)
DEFAULT_DUCKDB_PATH = "data/warehouse.duckdb"
_END = object()
HISTORY_VERSIONS = "history_versions"
"""The figure of an entity write: how many new versions it added to the entity's history table."""
CHUNK_ROWS = 20_000
"""Rows converted at a time inside one frame (a one-frame batch of 1.8 million rows is converted in steps)."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_QUERY_KEYS = frozenset({"password", "passfile", "sslpassword"})

Frames = pd.DataFrame | Iterable[pd.DataFrame]
"""What ``Warehouse.write`` takes: one DataFrame, or an iterable of DataFrames consumed once, in order."""


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


class WarehouseError(Exception):
    """A batch, table or request the warehouse cannot accept."""


class Warehouse(Protocol):
    """The tables of ``schema.TABLES`` in one database schema."""

    schema: str
    on_frame_staged: Callable[[str, int], None] | None

    def qualified(self, table: str) -> str: ...
    def ensure_schema(self) -> None: ...
    def write(
        self,
        table: str,
        frames: Frames,
        *,
        account_ids: Sequence[int],
        date_range: tuple[date, date] | None,
        run_id: str,
        step_key: str = "",
        figures: Mapping[str, Any] | None = None,
    ) -> WriteResult: ...
    def write_records(self, table: str | None, run_ids: Sequence[str]) -> list[WriteRecord]: ...
    def latest_writes(self, tables: Sequence[str]) -> list[WriteRecord]: ...
    def read(
        self,
        table: str,
        *,
        where_date_range: tuple[date, date] | None = None,
        account_ids: Sequence[int] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame: ...
    def read_columns(
        self,
        table: str,
        *,
        where_date_range: tuple[date, date] | None = None,
        account_ids: Sequence[int] | None = None,
        columns: Sequence[str] | None = None,
    ) -> dict[str, list[Any]]: ...
    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc_info: object) -> None: ...


def open_warehouse(
    database_url: str | None,
    schema: str = DEFAULT_SCHEMA,
    duckdb_path: str | Path = DEFAULT_DUCKDB_PATH,
    fivetran_schema: str | None = None,
) -> Warehouse:
    """PostgreSQL for a ``postgresql://`` URL, else the embedded DuckDB file at ``duckdb_path``; ``fivetran_schema``
    holds the Fivetran-compatible views (``None``: ``<schema>_fivetran``)."""
    if database_url is None:
        return DuckDBWarehouse(Path(duckdb_path), schema, fivetran_schema=fivetran_schema)
    if database_url.startswith(("postgresql://", "postgres://")):
        return PostgresWarehouse(database_url, schema, fivetran_schema)
    raise WarehouseError("database_url must start with postgresql:// (or be unset for the embedded DuckDB)")


def quote(identifier: str) -> str:
    """``name`` -> ``"name"``, refusing anything but a plain identifier (schema names come from configuration)."""
    if not _IDENTIFIER.fullmatch(identifier):
        raise WarehouseError(f"not a plain SQL identifier: {identifier!r}")
    return f'"{identifier}"'


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's text (database errors add DETAIL/HINT/CONTEXT lines)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock``."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


# --- validating and converting a batch --------------------------------------------------------------------------


def _batch_columns(spec: TableSpec, frame: pd.DataFrame) -> list[Column]:
    """Validate the columns of ``frame`` against ``spec``; the spec's columns it carries, in spec order."""
    unknown = [name for name in frame.columns if name not in spec.column_names]
    if unknown:
        raise WarehouseError(f"unknown column(s) {', '.join(map(repr, unknown))} for table {spec.name!r}")
    managed = sorted(spec.managed_columns.intersection(frame.columns))
    if managed:
        raise WarehouseError(
            f"column(s) {', '.join(map(repr, managed))} of table {spec.name!r} are set by the warehouse"
        )
    if frame.columns.duplicated().any():
        raise WarehouseError(f"duplicate column names in the batch for table {spec.name!r}")
    missing_key = [name for name in spec.primary_key if name not in frame.columns]
    if missing_key:
        raise WarehouseError(
            f"primary key column(s) {', '.join(map(repr, missing_key))} missing for table {spec.name!r}"
        )
    return [column for column in spec.columns if column.name in frame.columns]


def _batch_chunks(spec: TableSpec, frame: pd.DataFrame, columns: list[Column]) -> Iterator[list[Vector]]:
    """The batch as typed column vectors, ``CHUNK_ROWS`` rows at a time (bounds the memory a large frame needs)."""
    for start in range(0, len(frame), CHUNK_ROWS):
        chunk = frame.iloc[start : start + CHUNK_ROWS]
        vectors: list[Vector] = []
        for column in columns:
            try:
                vectors.append(vector(chunk[column.name], column.type))
            except (TypeError, ValueError, ArithmeticError) as exc:  # decimal.InvalidOperation is an ArithmeticError
                raise WarehouseError(f"column {spec.name}.{column.name} ({column.type}): {exc}") from exc
        yield vectors


def _masked(values: Sequence[Any], dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Scalars or ``None`` -> (values as ``dtype``, 0/False where NULL; NULL mask), without pandas' type inference."""
    if None not in values:
        return np.array(values, dtype=dtype), np.zeros(len(values), dtype=bool)
    objects = np.empty(len(values), dtype=object)
    objects[:] = values
    null = np.equal(objects, None)
    data = np.zeros(len(values), dtype=dtype)
    data[~null] = objects[~null].astype(dtype)
    return data, null


def _typed_column(type_: ColumnType, values: Sequence[Any]) -> Any:
    if type_ == "bigint":
        return pd.arrays.IntegerArray(*_masked(values, np.int64))
    if type_ == "boolean":
        return pd.arrays.BooleanArray(*_masked(values, np.bool_))
    if type_ == "double":
        return np.array(values, dtype=np.float64)  # None -> NaN
    column = pd.Series(values, dtype=object)
    if type_ == "timestamptz":
        return pd.to_datetime(column, utc=True)
    if type_ == "text":
        return column.astype("string")
    if type_ == "json":
        return column.map(_parsed_json)
    return column  # numeric: Decimal; date: datetime.date


def _tracked(history: TableSpec, entity: TableSpec) -> list[Column]:
    """The entity's columns its history keeps (everything but the columns the warehouse manages)."""
    return [c for c in history.columns if c.name in entity.column_names]


def _parsed_json(value: Any) -> Any:
    """A fetched JSON value: PostgreSQL's jsonb arrives parsed, DuckDB's JSON as text."""
    return json.loads(value) if isinstance(value, str) else value


def _transposed(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Fetched rows -> one list of values per column.

    One ``itemgetter`` pass per column rather than ``zip(*rows)``: that makes an iterator per row, each tracked by
    the garbage collector, and thousands of them at once set off collections of the whole heap, which cost far more
    than the transposing itself (benchmarks/README.md, "Figures behind code comments")."""
    return [list(map(itemgetter(i), rows)) for i in range(len(columns))]


def _typed_frame(spec: TableSpec, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A DataFrame of read rows with one dtype per column type, the same for both backends.

    Built column by column from the fetched tuples: bigint -> Int64, double -> float64, boolean -> boolean,
    timestamptz -> UTC datetimes, text -> string, json -> parsed values, numeric -> Decimal, date -> datetime.date.
    """
    values = _transposed(columns, rows)
    data = {name: _typed_column(spec.column(name).type, column) for name, column in zip(columns, values, strict=True)}
    return pd.DataFrame(data, columns=list(columns))


def _plain_column(type_: ColumnType, values: list[Any]) -> list[Any]:
    """A fetched column as the Python objects its ``_typed_frame`` column holds, ``None`` for every missing value
    (what ``Series.to_numpy(dtype=object, na_value=None)`` gives): NULL, and NaN (double, numeric, json) as pandas'
    ``isna`` finds it; timestamptz as ``datetime`` in ``UTC`` (equal to the frame's ``Timestamp``s, and the same type
    on both backends), json parsed."""
    if type_ == "timestamptz":
        return [None if v is None else v.astimezone(UTC) for v in values]
    if type_ == "json":
        values = [_parsed_json(v) for v in values]
    if type_ in ("double", "numeric", "json"):
        return [v if v == v else None for v in values]  # NaN is the one value not equal to itself
    return values


# --- the shared SQL ------------------------------------------------------------------------------------------------


class _SqlWarehouse:
    """The SQL both backends share; subclasses supply connections, type names and staging loads."""

    _types: Mapping[ColumnType, str]

    def __init__(self, schema: str, fivetran_schema: str | None = None) -> None:
        quote(schema)
        if fivetran_schema is not None:
            quote(fivetran_schema)
        self.schema = schema
        self.fivetran_schema = fivetran_schema or fivetran_schema_of(schema)

    def qualified(self, table: str) -> str:
        """``"schema"."table"`` for SQL written against the warehouse."""
        return f"{quote(self.schema)}.{quote(table)}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    on_frame_staged: Callable[[str, int], None] | None = None
    """Called with (table, rows) after each frame of a ``write`` reached the staging table (tests, progress)."""

    # hooks
    def close(self) -> None:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run one statement; the number of rows it changed (or -1)."""
        raise NotImplementedError

    def _fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        raise NotImplementedError

    def _param(self, name: str) -> str:
        raise NotImplementedError

    def _create_staging(self, staging: str, columns: list[Column]) -> None:
        """Create the temporary table ``staging`` of ``columns`` (inside the write's transaction)."""
        raise NotImplementedError

    def _stage_frame(self, staging: str, spec: TableSpec, columns: list[Column], frame: pd.DataFrame) -> None:
        """Load one frame (its ``columns``, already validated) into ``staging``."""
        raise NotImplementedError

    def _driver_error(self) -> type[Exception]:
        """The base class of the driver's errors (the driver is imported on first use)."""
        raise NotImplementedError

    def _write_failure(self, table: str, exc: Exception) -> str:
        """One line saying what the database did to a write to ``table``."""
        raise NotImplementedError

    @contextmanager
    def _write_failures(self, table: str, passthrough: Sequence[BaseException]) -> Iterator[None]:
        """Turn the database's errors during a write into one-line ``WarehouseError``s naming the table (not the
        exceptions in ``passthrough``: the stream's own)."""
        try:
            yield
        except self._driver_error() as exc:
            if any(exc is own for own in passthrough):
                raise
            raise WarehouseError(
                f"{self._write_failure(table, exc)} (the transaction was rolled back: the table is unchanged)"
            ) from exc

    def _staged(self, column: Column) -> str:
        """The expression that reads ``column`` from the staging table into the target's type."""
        return quote(column.name)

    def _ddl_lock(self) -> None:
        """Serialise DDL across processes (inside the DDL transaction)."""

    def _index_staging(self, staging: str, spec: TableSpec) -> None:
        """Prepare the loaded staging table for the key joins that follow (a no-op where the engine needs none)."""

    def _upsert(self, insert: str, params: Mapping[str, Any], count_existing: str) -> int:
        """Run the ``INSERT ... ON CONFLICT`` statement; the number of rows it updated rather than inserted."""
        _, ((existing,),) = self._fetch(count_existing)
        self._execute(insert, params)
        return int(existing)

    # schema
    def ensure_schema(self) -> None:
        """Create the schema and tables, add any column defined in code but missing from the database, and keep the
        Fivetran-compatible views (:mod:`.fivetran`) current."""
        with self._transaction():
            self._ddl_lock()
            self._execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}")
            _, rows = self._fetch(
                "SELECT table_name, column_name FROM information_schema.columns "
                f"WHERE table_schema = {self._param('schema')}",
                {"schema": self.schema},
            )
            existing: dict[str, set[str]] = {}
            for table_name, column_name in rows:
                existing.setdefault(table_name, set()).add(column_name)
            for spec in (*TABLES.values(), *HISTORY.values(), WRITES):
                if spec.name not in existing:
                    definitions = [f"{quote(c.name)} {self._types[c.type]}" for c in spec.columns]
                    definitions.append(f"PRIMARY KEY ({', '.join(map(quote, spec.primary_key))})")
                    self._execute(f"CREATE TABLE IF NOT EXISTS {self.qualified(spec.name)} ({', '.join(definitions)})")
                    if spec.kind == "history":
                        self._seed_history(spec)
                    continue
                self._add_columns(spec, existing[spec.name])
            self._ensure_views()

    def _add_columns(self, spec: TableSpec, existing: set[str]) -> None:
        """Add the columns of ``spec`` an earlier release did not have. A history table's versions then get the hash
        of the wider row (the new columns NULL), so the upgrade itself adds no version."""
        added = [column for column in spec.columns if column.name not in existing]
        for column in added:
            self._execute(
                f"ALTER TABLE {self.qualified(spec.name)} "
                f"ADD COLUMN IF NOT EXISTS {quote(column.name)} {self._types[column.type]}"
            )
        if added and spec.kind == "history":
            tracked = _tracked(spec, table_spec(spec.name.removesuffix("_history")))
            rehash = self._row_hash(tracked, lambda c: quote(c.name))
            self._execute(f"UPDATE {self.qualified(spec.name)} SET row_hash = {rehash}")

    def _ensure_views(self) -> None:
        """(Re)create the Fivetran-compatible views when their definitions changed (a fingerprint is kept in the
        views' schema): an unchanged release issues no DDL that would wait for readers of the views."""
        schema = quote(self.fivetran_schema)
        sql = view_sql(self.qualified)
        version = views_version(sql)
        marker = f"{schema}._linkedin_assets_views"
        self._execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        self._execute(f"CREATE TABLE IF NOT EXISTS {marker} (version TEXT)")
        _, rows = self._fetch(f"SELECT version FROM {marker}")
        _, ((views,),) = self._fetch(
            "SELECT count(*) FROM information_schema.tables WHERE table_type = 'VIEW' "
            f"AND table_schema = {self._param('schema')}",
            {"schema": self.fivetran_schema},
        )
        if rows and rows[0][0] == version and views == len(sql):  # (a dropped project schema takes its views along)
            return
        for name, select in sql.items():
            # CASCADE: dbt's staging views over it go too; the next reports run rebuilds them.
            self._execute(f"DROP VIEW IF EXISTS {schema}.{quote(name)} CASCADE")
            self._execute(f"CREATE VIEW {schema}.{quote(name)} AS {select}")
        self._execute(f"DELETE FROM {marker}")
        self._execute(f"INSERT INTO {marker} VALUES ({self._param('version')})", {"version": version})

    # writing
    def write(
        self,
        table: str,
        frames: Frames,
        *,
        account_ids: Sequence[int],
        date_range: tuple[date, date] | None,
        run_id: str,
        step_key: str = "",
        figures: Mapping[str, Any] | None = None,
        failures: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> WriteResult:
        """Upsert the rows of ``frames`` into ``table`` in one transaction, and record the write in ``_writes``.

        ``frames`` is one DataFrame or an iterable of DataFrames, consumed once: each frame is loaded into the
        staging table as it arrives and released before the next is asked for, so the warehouse holds one frame at a
        time. Then, still in the same transaction:
        entity tables: in-scope rows missing from the batch get ``removed_at``; rows in it are cleared;
        fact tables with a ``date_range``: in-scope rows inside the range missing from the batch are deleted.
        Any exception (from the stream or the database) rolls everything back: the table is unchanged. Database
        errors are raised as a one-line ``WarehouseError`` naming the table; the stream's own exceptions as they are.
        The stream's ``close()`` is called when the write ends, early or not (stops a producer that feeds it).
        The record (``run_id``, ``step_key``, the scope, the result, the seconds, the numbers in ``figures``, read
        once the stream has ended, so a producer can fill it while it streams) is inserted in the same transaction.
        ``failures`` (read once the stream has ended too): accounts of ``account_ids`` that could not be fetched,
        ``{account_id: why}``. Their staged rows are dropped and they leave the scope, so their stored rows stay as they
        were; the record keeps the ``why`` of each.
        """
        started, now = time.perf_counter(), datetime.now(UTC)
        spec = table_spec(table)
        staging = quote(f"_staging_{spec.name}")
        stream: Iterator[Any] = iter((frames,)) if isinstance(frames, pd.DataFrame) else iter(frames)
        from_stream: list[BaseException] = []  # the producer's own errors pass through as they are
        try:
            with self._write_failures(spec.name, from_stream), self._transaction():
                rows, staged_frames = self._stage_stream(spec, staging, stream, from_stream)
                left_out = {int(a): dict(why) for a, why in (failures or {}).items()}
                rows -= self._drop_staged_accounts(spec, staging, left_out)
                written = tuple(int(a) for a in account_ids if int(a) not in left_out)
                existing = self._upsert_staged(spec, staging, now, run_id)
                versions = self._record_versions(spec, staging, now, run_id) if spec.history else 0
                removed = self._retire_absent(spec, staging, written, date_range, now)
                self._execute(f"DROP TABLE {staging}")
                result = WriteResult(rows - existing, existing, removed, rows, staged_frames)
                kept = numeric_figures({**(figures or {}), **({HISTORY_VERSIONS: versions} if spec.history else {})})
                why = tuple({"account_id": a, **reason} for a, reason in sorted(left_out.items()))
                scope = written, date_range if spec.kind == "fact" else None
                seconds = time.perf_counter() - started
                self._record(WriteRecord(run_id, step_key, spec.name, *scope, result, seconds, kept, now, why))
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        return result

    def _stage_stream(
        self, spec: TableSpec, staging: str, stream: Iterator[Any], from_stream: list[BaseException]
    ) -> tuple[int, int]:
        """Stage every frame of ``stream`` as it arrives, releasing each before the next is asked for; returns the
        rows and the non-empty frames staged. The stream's own exceptions are noted in ``from_stream``."""

        def pull() -> Any:
            try:
                return next(stream, _END)
            except BaseException as exc:
                from_stream.append(exc)
                raise

        self._create_staging(staging, [c for c in spec.columns if c.name not in spec.managed_columns])
        rows = staged_frames = 0
        while (frame := pull()) is not _END:
            if not isinstance(frame, pd.DataFrame):
                raise WarehouseError(f"batch for table {spec.name!r}: expected DataFrames, got {type(frame).__name__}")
            columns = _batch_columns(spec, frame) if len(frame.columns) else []  # "nothing found" may have none
            if columns and len(frame):
                self._stage_frame(staging, spec, columns, frame)
                rows += len(frame)
                staged_frames += 1
                if self.on_frame_staged is not None:
                    self.on_frame_staged(spec.name, len(frame))
            del frame  # release it before the producer makes the next one
        self._index_staging(staging, spec)
        return rows, staged_frames

    def _row_hash(self, columns: Sequence[Column], value: Callable[[Column], str]) -> str:
        """SQL of the md5 of ``columns`` (read through ``value``) as text, NULL and separators unambiguous."""
        parts = " || chr(31) || ".join(f"COALESCE(CAST({value(c)} AS TEXT), chr(30))" for c in columns)
        return f"md5({parts})"

    def _seed_history(self, history: TableSpec) -> None:
        """A new history table starts from the entity table's rows, as the first version of each (first and last
        seen when and by the run that wrote it): a warehouse of an earlier release keeps what it stored."""
        entity = table_spec(history.name.removesuffix("_history"))
        tracked = _tracked(history, entity)
        names = ", ".join(quote(c.name) for c in history.columns)
        self._execute(
            f"INSERT INTO {self.qualified(history.name)} ({names}) "
            f"SELECT {', '.join(quote(c.name) for c in tracked)}, {self._row_hash(tracked, lambda c: quote(c.name))}, "
            f"{quote(SYNCED_AT)}, {quote(SYNCED_AT)}, {quote(RUN_ID)}, {quote(RUN_ID)} "
            f"FROM {self.qualified(entity.name)} WHERE {quote(SYNCED_AT)} IS NOT NULL"
        )

    def _record_versions(self, spec: TableSpec, staging: str, now: datetime, run_id: str) -> int:
        """Keep each staged entity's version in the history table: a new row when its columns differ from the
        entity's latest version (or it has none), else the latest version's ``last_seen_*`` moves to this write.
        Returns the versions added."""
        history = HISTORY[spec.name]
        target, key = self.qualified(history.name), quote(spec.primary_key[0])
        tracked = _tracked(history, spec)
        hashes = quote(f"_versions_{spec.name}")
        latest = f"t.first_seen_at = (SELECT MAX(l.first_seen_at) FROM {target} AS l WHERE l.{key} = t.{key})"
        self._execute(
            f"CREATE TEMPORARY TABLE {hashes} AS SELECT {key} AS _key, {self._row_hash(tracked, self._staged)} "
            f"AS _row_hash FROM {staging}"
        )
        params = {"now": now, "run_id": run_id}
        self._execute(
            f"UPDATE {target} AS t SET last_seen_at = {self._param('now')}, last_seen_run_id = {self._param('run_id')} "
            f"FROM {hashes} AS x WHERE t.{key} = x._key AND t.row_hash = x._row_hash AND {latest}",
            params,
        )
        added = self._execute(
            f"INSERT INTO {target} ({', '.join(quote(c.name) for c in history.columns)}) "
            f"SELECT {', '.join(self._staged(c) for c in tracked)}, x._row_hash, {self._param('now')}, "
            f"{self._param('now')}, {self._param('run_id')}, {self._param('run_id')} "
            f"FROM {staging} AS s JOIN {hashes} AS x ON x._key = s.{key} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE t.{key} = x._key AND t.row_hash = x._row_hash "
            f"AND {latest})",
            params,
        )
        self._execute(f"DROP TABLE {hashes}")
        return added

    def _drop_staged_accounts(self, spec: TableSpec, staging: str, account_ids: Iterable[int]) -> int:
        """Delete the staged rows of ``account_ids`` (what was fetched of an account before LinkedIn refused it);
        returns how many."""
        ids = ", ".join(str(int(a)) for a in account_ids)
        if not ids or not spec.scope_column:
            return 0
        return self._execute(f"DELETE FROM {staging} WHERE {quote(spec.scope_column)} IN ({ids})")

    def _upsert_staged(self, spec: TableSpec, staging: str, now: datetime, run_id: str) -> int:
        """Insert or update the staged rows in the table; returns how many already existed."""
        target = self.qualified(spec.name)
        key_match = " AND ".join(f"s.{quote(k)} = t.{quote(k)}" for k in spec.primary_key)
        # Columns a batch does not carry are staged as NULL, so they are written NULL (as one frame always did).
        managed = {SYNCED_AT: self._param("now"), RUN_ID: self._param("run_id"), REMOVED_AT: "NULL"}
        select = [managed[c.name] if c.name in spec.managed_columns else self._staged(c) for c in spec.columns]
        updates = [f"{quote(c)} = EXCLUDED.{quote(c)}" for c in spec.column_names if c not in spec.primary_key]
        return self._upsert(
            f"INSERT INTO {target} ({', '.join(map(quote, spec.column_names))}) "
            f"SELECT {', '.join(select)} FROM {staging} "
            f"ON CONFLICT ({', '.join(map(quote, spec.primary_key))}) DO UPDATE SET {', '.join(updates)}",
            {"now": now, "run_id": run_id},
            f"SELECT count(*) FROM {staging} AS s JOIN {target} AS t ON {key_match}",
        )

    def _retire_absent(
        self,
        spec: TableSpec,
        staging: str,
        account_ids: Sequence[int],
        date_range: tuple[date, date] | None,
        now: datetime,
    ) -> int:
        """The batch is complete for its accounts: entity rows of theirs missing from it get ``removed_at``; fact rows
        of theirs inside ``date_range`` missing from it are deleted. Returns how many."""
        scope = ", ".join(str(int(account_id)) for account_id in account_ids)
        if not scope or not spec.scope_column:
            return 0
        target = self.qualified(spec.name)
        key_match = " AND ".join(f"s.{quote(k)} = t.{quote(k)}" for k in spec.primary_key)
        absent = f"NOT EXISTS (SELECT 1 FROM {staging} AS s WHERE {key_match})"
        if spec.tracks_removal:
            return self._execute(
                f"UPDATE {target} AS t SET {quote(REMOVED_AT)} = {self._param('now')} "
                f"WHERE t.{quote(spec.scope_column)} IN ({scope}) AND t.{quote(REMOVED_AT)} IS NULL AND {absent}",
                {"now": now},
            )
        if spec.kind == "fact" and date_range is not None:
            return self._execute(
                f"DELETE FROM {target} AS t WHERE t.{quote(spec.scope_column)} IN ({scope}) "
                f"AND t.{quote(spec.date_column)} BETWEEN {self._param('start')} AND {self._param('end')} "
                f"AND {absent}",
                {"start": date_range[0], "end": date_range[1]},
            )
        return 0

    def _record(self, record: WriteRecord) -> None:
        """Insert (or, for a step that writes again in the same run, replace) ``record`` in ``_writes``."""
        start, end = record.date_range or (None, None)
        values = {
            "run_id": record.run_id,
            "step_key": record.step_key,
            "table_name": record.table,
            "account_ids": json.dumps(list(record.account_ids)),
            "date_start": start,
            "date_end": end,
            "rows": record.result.rows,
            "inserted": record.result.inserted,
            "updated": record.result.updated,
            "removed_or_deleted": record.result.removed_or_deleted,
            "frames": record.result.frames,
            "seconds": record.seconds,
            "figures": json.dumps(dict(record.figures)),
            "written_at": record.written_at,
            "failures": json.dumps([dict(f) for f in record.failures]),
        }
        placeholders = [
            f"CAST({self._param(c.name)} AS {self._types['json']})" if c.type == "json" else self._param(c.name)
            for c in WRITES.columns
        ]
        updates = [f"{quote(c)} = EXCLUDED.{quote(c)}" for c in WRITES.column_names if c not in WRITES.primary_key]
        self._execute(
            f"INSERT INTO {self.qualified(WRITES.name)} ({', '.join(map(quote, WRITES.column_names))}) "
            f"VALUES ({', '.join(placeholders)}) "
            f"ON CONFLICT ({', '.join(map(quote, WRITES.primary_key))}) DO UPDATE SET {', '.join(updates)}",
            values,
        )

    def write_records(self, table: str | None, run_ids: Sequence[str]) -> list[WriteRecord]:
        """The records of the writes to ``table`` (``None``: to any table) made by the runs ``run_ids``."""
        if not run_ids:
            return []
        names = {f"run_{i}": run_id for i, run_id in enumerate(run_ids)}
        of_table = f"table_name = {self._param('table')} AND " if table is not None else ""
        return self._records(
            f"WHERE {of_table}run_id IN ({', '.join(self._param(name) for name in names)})",
            {"table": table_spec(table).name, **names} if table is not None else names,
        )

    def latest_writes(self, tables: Sequence[str]) -> list[WriteRecord]:
        """The latest record of each of ``tables`` (none for a table never written)."""
        if not tables:
            return []
        names = {f"table_{i}": table_spec(table).name for i, table in enumerate(tables)}
        return self._records(
            f"AS w WHERE table_name IN ({', '.join(self._param(name) for name in names)}) AND written_at = "
            f"(SELECT MAX(x.written_at) FROM {self.qualified(WRITES.name)} AS x WHERE x.table_name = w.table_name)",
            names,
        )

    def _records(self, where: str, params: Mapping[str, Any]) -> list[WriteRecord]:
        columns, rows = self._fetch(
            f"SELECT {', '.join(map(quote, WRITES.column_names))} FROM {self.qualified(WRITES.name)} {where}", params
        )
        records = []
        for values in rows:
            row = dict(zip(columns, values, strict=True))
            for name in ("account_ids", "figures", "failures"):
                row[name] = _parsed_json(row[name])
            records.append(WriteRecord.from_row(row))
        return records

    # reading
    def read(
        self,
        table: str,
        *,
        where_date_range: tuple[date, date] | None = None,
        account_ids: Sequence[int] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of ``table`` ordered by primary key, optionally inside a date range (inclusive) and accounts, with
        every column or only ``columns`` (a reader of many rows skips converting what it does not use)."""
        spec, names, rows = self._select(table, where_date_range, account_ids, columns)
        return _typed_frame(spec, names, rows)

    def read_columns(
        self,
        table: str,
        *,
        where_date_range: tuple[date, date] | None = None,
        account_ids: Sequence[int] | None = None,
        columns: Sequence[str] | None = None,
    ) -> dict[str, list[Any]]:
        """The rows ``read`` returns, as one list of Python values per column instead of a DataFrame, for a reader
        that wants every value as a Python object anyway (the snapshot): int, bool, float, Decimal, str, date, UTC
        datetime, parsed JSON, ``None`` for NULL and NaN (``_plain_column``). Building the frame only to convert it
        back was a noticeable part of the snapshot's CPU (benchmarks/README.md)."""
        spec, names, rows = self._select(table, where_date_range, account_ids, columns)
        values = _transposed(names, rows)
        del rows  # the row tuples go before the columns are converted
        return {name: _plain_column(spec.column(name).type, v) for name, v in zip(names, values, strict=True)}

    def _select(
        self,
        table: str,
        where_date_range: tuple[date, date] | None,
        account_ids: Sequence[int] | None,
        columns: Sequence[str] | None,
    ) -> tuple[TableSpec, list[str], list[tuple[Any, ...]]]:
        """The query of ``read`` and ``read_columns``: the table's spec, the column names and the fetched rows."""
        spec = table_spec(table)
        names = spec.column_names if columns is None else tuple(spec.column(name).name for name in columns)
        conditions: list[str] = []
        params: dict[str, Any] = {}
        if where_date_range is not None:
            if spec.date_column is None:
                raise WarehouseError(f"table {spec.name!r} has no date column to filter on")
            conditions.append(f"{quote(spec.date_column)} BETWEEN {self._param('start')} AND {self._param('end')}")
            params.update(start=where_date_range[0], end=where_date_range[1])
        if account_ids is not None:
            if spec.scope_column is None:
                raise WarehouseError(f"table {spec.name!r} has no account column to filter on")
            scope = ", ".join(str(int(account_id)) for account_id in account_ids) or "NULL"
            conditions.append(f"{quote(spec.scope_column)} IN ({scope})")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        names, rows = self._fetch(
            f"SELECT {', '.join(map(quote, names))} FROM {self.qualified(spec.name)}{where} "
            f"ORDER BY {', '.join(map(quote, spec.primary_key))}",
            params,
        )
        return spec, names, rows

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run read-only SQL (named parameters written ``%(name)s``) and return its rows."""
        names, rows = self._fetch(self._native_params(sql) if params else sql, params)
        return pd.DataFrame.from_records(rows, columns=names)

    def _native_params(self, sql: str) -> str:
        return sql


class PostgresWarehouse(_SqlWarehouse):
    """The warehouse in a PostgreSQL schema, through one psycopg connection (session time zone UTC)."""

    _types: Mapping[ColumnType, str] = {
        "bigint": "BIGINT",
        "text": "TEXT",
        "numeric": "NUMERIC",
        "double": "DOUBLE PRECISION",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamptz": "TIMESTAMPTZ",
        "json": "JSONB",
    }

    def __init__(self, url: str, schema: str = DEFAULT_SCHEMA, fivetran_schema: str | None = None) -> None:
        super().__init__(schema, fivetran_schema)
        self._url = url
        import psycopg

        self._conn = psycopg.connect(url, autocommit=True)
        self._conn.execute("SET TIME ZONE 'UTC'")

    def __repr__(self) -> str:
        return f"PostgresWarehouse(schema={self.schema!r})"

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._conn.transaction():
            yield

    def _execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        with self._conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def _fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._conn.cursor() as cursor:
            cursor.execute(sql, params)
            return [column.name for column in cursor.description or ()], cursor.fetchall()

    def _param(self, name: str) -> str:
        return f"%({name})s"

    def _ddl_lock(self) -> None:
        self._execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": _lock_key(f"linkedin_assets_ddl:{self.schema}")})

    def _index_staging(self, staging: str, spec: TableSpec) -> None:
        # Without a key, a first sync's DELETE/UPDATE ... NOT EXISTS (no statistics on the target yet) is planned
        # as a nested loop over the whole staging table per target row (benchmarks/README.md has the timings).
        key = ", ".join(map(quote, spec.primary_key))
        self._execute(f"ALTER TABLE {staging} ADD PRIMARY KEY ({key})")
        self._execute(f"ANALYZE {staging} ({key})")  # the joins use only the key: its statistics, not all 39 columns

    def _upsert(self, insert: str, params: Mapping[str, Any], count_existing: str) -> int:
        # One pass instead of a join to count first: a row the statement inserted has no xmax yet; a row it updated
        # carries this transaction's id as xmax (PostgreSQL's tuple header; the known idiom for ON CONFLICT).
        _, ((existing,),) = self._fetch(
            f"WITH upserted AS ({insert} RETURNING (xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE NOT inserted) FROM upserted",
            params,
        )
        return int(existing)

    _staging_types: Mapping[ColumnType, str] = {
        "bigint": "int8",
        "text": "text",
        "numeric": "text",
        "double": "float8",
        "boolean": "bool",
        "date": "date",
        "timestamptz": "timestamptz",
        "json": "text",
    }
    """Each staging column's type, and the binary ``COPY`` format psycopg sends for it. Money and JSON documents are
    staged as their exact text and cast by the upsert: PostgreSQL parses the text in C."""

    def _create_staging(self, staging: str, columns: list[Column]) -> None:
        definitions = ", ".join(f"{quote(c.name)} {self._staging_types[c.type]}" for c in columns)
        self._execute(f"CREATE TEMPORARY TABLE {staging} ({definitions}) ON COMMIT DROP")

    def _staged(self, column: Column) -> str:
        if column.type != "text" and self._staging_types[column.type] == "text":
            return f"CAST({quote(column.name)} AS {self._types[column.type]})"
        return quote(column.name)

    def _stage_frame(self, staging: str, spec: TableSpec, columns: list[Column], frame: pd.DataFrame) -> None:
        names = ", ".join(quote(c.name) for c in columns)
        with (
            self._conn.cursor() as cursor,
            cursor.copy(f"COPY {staging} ({names}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types([self._staging_types[c.type] for c in columns])
            for vectors in _batch_chunks(spec, frame, columns):
                for row in zip(*map(python_values, vectors), strict=True):
                    copy.write_row(row)

    def _driver_error(self) -> type[Exception]:
        import psycopg

        return psycopg.Error

    def _write_failure(self, table: str, exc: Exception) -> str:
        where = f"{self.schema}.{table} on {redact_url(self._url)}"
        if self._conn.closed or self._conn.broken:
            return f"PostgreSQL connection lost while writing {where}: {_first_line(exc)}"
        return f"PostgreSQL refused the write to {where}: {_first_line(exc)}"


class DuckDBWarehouse(_SqlWarehouse):
    """The warehouse in an embedded DuckDB file (one writer process at a time; time zone UTC)."""

    _types: Mapping[ColumnType, str] = {
        "bigint": "BIGINT",
        "text": "VARCHAR",
        "numeric": "DECIMAL(38,18)",
        "double": "DOUBLE",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamptz": "TIMESTAMPTZ",
        "json": "JSON",
    }

    def __init__(
        self,
        path: Path,
        schema: str = DEFAULT_SCHEMA,
        lock_timeout_s: float = 120.0,
        fivetran_schema: str | None = None,
    ) -> None:
        super().__init__(schema, fivetran_schema)
        self.path = path
        self.lock_timeout_s = lock_timeout_s
        self._connection: duckdb.DuckDBPyConnection | None = None

    @property
    def _conn(self) -> duckdb.DuckDBPyConnection:
        """The file is opened on first use (DuckDB lets one process at a time have it open)."""
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = _connect_duckdb(self.path, self.lock_timeout_s)
            self._connection.execute("SET TimeZone = 'UTC'")
        return self._connection

    def __repr__(self) -> str:
        return f"DuckDBWarehouse(path={str(self.path)!r}, schema={self.schema!r})"

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.begin()
        try:
            yield
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()

    def _execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        result = self._conn.execute(sql, params)
        row = result.fetchone() if result.description and result.description[0][0] == "Count" else None
        return -1 if row is None else int(row[0])

    def _fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        result = self._conn.execute(sql, params)
        return [column[0] for column in result.description or ()], result.fetchall()

    def _param(self, name: str) -> str:
        return f"${name}"

    def _native_params(self, sql: str) -> str:
        return re.sub(r"%\((\w+)\)s", r"$\1", sql).replace("%%", "%")

    def _create_staging(self, staging: str, columns: list[Column]) -> None:
        definitions = ", ".join(f"{quote(c.name)} {self._types[c.type]}" for c in columns)
        self._execute(f"CREATE OR REPLACE TEMPORARY TABLE {staging} ({definitions})")

    def _stage_frame(self, staging: str, spec: TableSpec, columns: list[Column], frame: pd.DataFrame) -> None:
        names = ", ".join(quote(c.name) for c in columns)
        casts = ", ".join(f"CAST({quote(c.name)} AS {self._types[c.type]})" for c in columns)
        for vectors in _batch_chunks(spec, frame, columns):
            self._conn.register(
                "_batch", pd.DataFrame({c.name: duckdb_array(v) for c, v in zip(columns, vectors, strict=True)})
            )
            try:
                self._execute(f"INSERT INTO {staging} ({names}) SELECT {casts} FROM _batch")
            finally:
                self._conn.unregister("_batch")

    def _driver_error(self) -> type[Exception]:
        import duckdb

        return duckdb.Error

    def _write_failure(self, table: str, exc: Exception) -> str:
        return f"DuckDB refused the write to {self.schema}.{table} in {self.path}: {_first_line(exc)}"


def _connect_duckdb(path: Path, timeout_s: float) -> duckdb.DuckDBPyConnection:
    """Connect, waiting while another process has the file open (DuckDB allows one process at a time)."""
    import duckdb

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "Conflicting lock" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.05)
