"""DataFrame columns as typed vectors: what both backends load, after one check of every value.

A column becomes a :class:`Vector` of one warehouse type (exact: counts stay int64, money its ``str(Decimal)``,
instants UTC microseconds), or a ``TypeError``/``ValueError`` naming what does not fit. PostgreSQL takes the vector's
values as Python objects through psycopg's binary ``COPY`` (:func:`python_values`), DuckDB as a frame it scans
(:func:`duckdb_array`). This is the hot path of a backfill, so every conversion works on whole columns with numpy; the
only per-value steps are the ones without an exact vectorised form, run as C-level ``map`` calls (``str(Decimal)`` for
money, ``pydantic_core.to_json`` for JSON documents). Values of unexpected types (an int in a text column, a float in
a money column) take a slower per-value path with the same rules and error messages.

The binary ``COPY`` format itself is psycopg's (``Copy.set_types`` and ``write_row``; its dumpers are C code): a
hand-written encoder of that format was not faster on a whole write, where PostgreSQL's own work dominates
(``benchmarks/bench_copy.py``).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd
import pydantic_core

from linkedin_assets.warehouse.schema import ColumnType

_UNIX_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class Vector:
    """One column of ``n`` rows: ``null`` marks NULLs; ``values`` are the non-null values only, in row order.

    ``values``: int64 for bigint, float64 for double, bool for boolean, int64 days since 1970-01-01 for date, int64
    microseconds since 1970-01-01 UTC for timestamptz, a list of ``str`` for text, numeric (exact decimal text) and
    json (the document's JSON text).
    """

    type: ColumnType
    null: np.ndarray
    values: Any

    def __len__(self) -> int:
        return len(self.null)


# --- per-value conversions: the slow path for unexpected value types ---------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    raise TypeError(f"expected text, got {type(value).__name__}")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("expected a number, got bool")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, numbers.Integral):
        number = Decimal(int(value))
    elif isinstance(value, numbers.Real):
        number = Decimal(repr(float(value)))
    elif isinstance(value, str):
        number = Decimal(value)
    else:
        raise TypeError(f"expected a decimal number, got {type(value).__name__}")
    if not number.is_finite():
        raise ValueError(f"{number} is not a finite number")
    return number


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise TypeError(f"expected a date, got {type(value).__name__}")


def _timestamp(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} (give it a timezone)")
    return value


# --- columns to vectors --------------------------------------------------------------------------------------------


def _non_null(series: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """The NULL mask (None, NaN, NA, NaT) and the other values as a Python list."""
    null = series.isna().to_numpy(dtype=bool)
    values = series.to_numpy(dtype=object)
    return null, (values[~null] if null.any() else values).tolist()


def _only(values: list[Any], *types: type) -> bool:
    """Every value is exactly one of ``types`` (subclasses such as ``bool`` for ``int`` take the slow path)."""
    return set(map(type, values)).issubset(types)


def _bigint(series: pd.Series) -> Vector:
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return Vector("bigint", np.zeros(len(series), dtype=bool), series.to_numpy(dtype=np.int64))
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        null, values = _non_null(series)
        if _only(values, int):  # exact: pandas would pass ints beside a None through float64 (2**53 and up)
            return Vector("bigint", null, np.array(values, dtype=np.int64))
    ints = series.astype("Int64")  # refuses fractional numbers and text
    null = ints.isna().to_numpy(dtype=bool)
    return Vector("bigint", null, ints.to_numpy(dtype=np.int64, na_value=0)[~null])


def _double(series: pd.Series) -> Vector:
    floats = pd.to_numeric(series).astype("float64").to_numpy()
    null = np.isnan(floats)
    return Vector("double", null, floats[~null])


def _boolean(series: pd.Series) -> Vector:
    if series.dtype == bool:
        return Vector("boolean", np.zeros(len(series), dtype=bool), series.to_numpy(dtype=bool))
    null, values = _non_null(series)
    wrong = [value for value in values if not isinstance(value, bool | np.bool_)]
    if wrong:
        raise TypeError(f"expected bool, got {type(wrong[0]).__name__}")
    return Vector("boolean", null, np.array(values, dtype=bool))


def _days(series: pd.Series) -> Vector:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_localize(None)  # the date on the wall clock of its own time zone, as date() gives
        days = series.to_numpy(dtype="datetime64[D]")
        null = np.isnat(days)
        return Vector("date", null, days[~null].astype(np.int64))
    null, values = _non_null(series)
    if not _only(values, date):
        values = [_date(value) for value in values]
    ordinals = np.fromiter(map(date.toordinal, values), dtype=np.int64, count=len(values))
    return Vector("date", null, ordinals - _UNIX_ORDINAL)


def _microseconds(series: pd.Series) -> Vector:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        instants = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    elif pd.api.types.is_datetime64_any_dtype(series.dtype):
        first = series.dropna()
        shown = first.iloc[0].isoformat() if len(first) else "NaT"
        raise ValueError(f"naive datetime {shown} (give it a timezone)")
    else:
        null, values = _non_null(series)
        aware = [_timestamp(value) for value in values]
        instants = np.full(len(series), np.datetime64("NaT"), dtype="datetime64[us]")
        instants[~null] = pd.to_datetime(aware, utc=True).tz_localize(None).to_numpy(dtype="datetime64[us]")
    null = np.isnat(instants)
    return Vector("timestamptz", null, instants[~null].astype(np.int64))


def _texts(series: pd.Series) -> Vector:
    null, values = _non_null(series)
    if not _only(values, str):
        values = [_text(value) for value in values]
    return Vector("text", null, values)


def _numerics(series: pd.Series) -> Vector:
    """Exact decimal text: ``str(Decimal)`` (``-2E-18`` stays ``-2E-18``), integers as digits."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return Vector("numeric", np.zeros(len(series), dtype=bool), list(map(str, series.tolist())))
    null, values = _non_null(series)
    if _only(values, Decimal):
        if not all(map(Decimal.is_finite, values)):
            bad = next(value for value in values if not value.is_finite())
            raise ValueError(f"{bad} is not a finite number")
        return Vector("numeric", null, list(map(str, values)))
    return Vector("numeric", null, [str(_decimal(value)) for value in values])


def _documents(series: pd.Series) -> Vector:
    null, values = _non_null(series)
    return Vector("json", null, [document.decode() for document in map(pydantic_core.to_json, values)])


_VECTOR = {
    "bigint": _bigint,
    "double": _double,
    "boolean": _boolean,
    "date": _days,
    "timestamptz": _microseconds,
    "text": _texts,
    "numeric": _numerics,
    "json": _documents,
}


def vector(series: pd.Series, type_: ColumnType) -> Vector:
    """The column as a vector of ``type_`` (``TypeError``/``ValueError`` for a value that does not fit)."""
    return _VECTOR[type_](series)


# --- vectors as what each backend loads -----------------------------------------------------------------------------


def python_values(column: Vector) -> list[Any]:
    """The column as one Python value a row, ``None`` for NULL: what psycopg's binary dumpers take (int, float, bool,
    ``str``, ``date``, UTC ``datetime``)."""
    values: Any = column.values
    if column.type == "date":
        values = (values + np.datetime64("1970-01-01", "D")).astype(object)  # datetime.date, in numpy's C loop
    elif column.type == "timestamptz":  # naive datetimes from numpy, then aware (entity tables: few rows)
        values = [instant.replace(tzinfo=UTC) for instant in values.astype("datetime64[us]").astype(object)]
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if not column.null.any():
        return values
    filled = np.full(len(column), None, dtype=object)
    filled[~column.null] = values
    return filled.tolist()


def duckdb_array(column: Vector) -> Any:
    """Nullable numbers natively, dates and instants as timestamps, everything else as text to ``CAST``."""
    rows, present = len(column), ~column.null
    if column.type == "bigint":
        values = np.zeros(rows, dtype=np.int64)
        values[present] = column.values
        return pd.arrays.IntegerArray(values, column.null.copy())
    if column.type == "double":
        values = np.full(rows, np.nan)
        values[present] = column.values
        return values
    if column.type == "boolean":
        values = np.zeros(rows, dtype=bool)
        values[present] = column.values
        return pd.arrays.BooleanArray(values, column.null.copy())
    if column.type in ("date", "timestamptz"):
        unit = "D" if column.type == "date" else "us"
        values = np.full(rows, np.datetime64("NaT"), dtype=f"datetime64[{unit}]")
        values[present] = column.values.astype(f"datetime64[{unit}]")
        return values.astype("datetime64[us]")
    texts = np.full(rows, None, dtype=object)
    texts[present] = column.values
    return pd.array(texts, dtype="string")
