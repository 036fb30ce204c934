"""The record of each write: which run and step wrote which rows of which table, kept in the warehouse itself.

``Warehouse.write`` inserts one :class:`WriteRecord` into the ``_writes`` table in the same transaction as the rows,
so a record exists exactly when its rows landed. Whatever needs to know what a run wrote (the summary of a sharded
asset, the checks, a re-execution that skipped the shards that had succeeded) reads these records with
``Warehouse.write_records`` and adds them up with :class:`Writes`; nothing reads Dagster's event log back for it.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class WriteResult:
    """What one ``Warehouse.write`` changed."""

    inserted: int
    updated: int
    removed_or_deleted: int
    """Entity rows newly marked ``removed_at``, or fact rows deleted from the replaced range."""
    rows: int
    """Rows in the batch."""
    frames: int = 1
    """Non-empty frames the batch arrived in (each one staged as it came)."""

    @classmethod
    def sum(cls, results: Iterable[WriteResult]) -> WriteResult:
        """Several writes' results added up (the shards of one asset)."""
        total = cls(0, 0, 0, 0, 0)
        for r in results:
            total = cls(
                total.inserted + r.inserted,
                total.updated + r.updated,
                total.removed_or_deleted + r.removed_or_deleted,
                total.rows + r.rows,
                total.frames + r.frames,
            )
        return total


@dataclass(frozen=True)
class WriteRecord:
    """One write as the warehouse recorded it."""

    run_id: str
    step_key: str
    table: str
    account_ids: tuple[int, ...]
    date_range: tuple[date, date] | None
    result: WriteResult
    seconds: float = 0.0
    """Wall seconds of the write, its stream's waits included."""
    figures: Mapping[str, float] = field(default_factory=dict)
    written_at: datetime | None = None
    failures: tuple[Mapping[str, Any], ...] = ()
    """The accounts this write left out, one record each (``account_id`` and why): their stored rows are untouched."""

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> WriteRecord:
        start, end = row["date_start"], row["date_end"]
        return cls(
            run_id=str(row["run_id"]),
            step_key=str(row["step_key"]),
            table=str(row["table_name"]),
            account_ids=tuple(int(a) for a in row["account_ids"] or ()),  # type: ignore[union-attr]
            date_range=(start, end) if start is not None and end is not None else None,  # type: ignore[assignment]
            result=WriteResult(
                inserted=int(row["inserted"]),  # type: ignore[arg-type]
                updated=int(row["updated"]),  # type: ignore[arg-type]
                removed_or_deleted=int(row["removed_or_deleted"]),  # type: ignore[arg-type]
                rows=int(row["rows"]),  # type: ignore[arg-type]
                frames=int(row["frames"]),  # type: ignore[arg-type]
            ),
            seconds=float(row["seconds"] or 0.0),  # type: ignore[arg-type]
            figures=dict(row["figures"] or {}),  # type: ignore[call-overload]
            written_at=row["written_at"],  # type: ignore[arg-type]
            failures=tuple(row.get("failures") or ()),  # type: ignore[arg-type]
        )


def numeric_figures(figures: Mapping[str, object]) -> dict[str, float]:
    """The numbers among a producer's figures, as plain ``int``/``float`` (numpy and Decimal numbers included; money
    as a float the UI can plot): what a record keeps and a summary adds up."""
    kept: dict[str, float] = {}
    for key, value in figures.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
            continue
        kept[key] = int(value) if isinstance(value, numbers.Integral) else float(value)
    return kept


@dataclass(frozen=True)
class Writes:
    """Several writes of one table taken together (the shards of one asset's run): their results, accounts, days and
    figures added up."""

    records: Sequence[WriteRecord]

    @classmethod
    def latest_per_step(cls, records: Iterable[WriteRecord], run_ids: Sequence[str]) -> Writes:
        """The writes of ``run_ids`` (a run, then the runs it re-executes, nearest first), one per step: the nearest
        run's. A re-execution from failure runs again only the steps that had failed, so the steps that had
        succeeded are represented by their earlier run's record."""
        rank = {run_id: position for position, run_id in enumerate(run_ids)}
        chosen: dict[str, WriteRecord] = {}
        for record in records:
            if record.run_id not in rank:
                continue
            kept = chosen.get(record.step_key)
            if kept is None or rank[record.run_id] < rank[kept.run_id]:
                chosen[record.step_key] = record
        return cls(tuple(sorted(chosen.values(), key=lambda r: r.step_key)))

    @property
    def total(self) -> WriteResult:
        return WriteResult.sum(record.result for record in self.records)

    @property
    def account_ids(self) -> tuple[int, ...]:
        return tuple(sorted({account_id for record in self.records for account_id in record.account_ids}))

    @property
    def date_range(self) -> tuple[date, date] | None:
        ranges = [record.date_range for record in self.records if record.date_range is not None]
        return (min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else None

    @property
    def run_ids(self) -> tuple[str, ...]:
        """The runs that wrote these rows (the ``_dagster_run_id`` their rows carry)."""
        return tuple(dict.fromkeys(record.run_id for record in self.records))

    @property
    def failures(self) -> tuple[Mapping[str, Any], ...]:
        """The accounts the writes left out (one record per account and step)."""
        return tuple(failure for record in self.records for failure in record.failures)

    @property
    def figures(self) -> dict[str, float]:
        """The records' figures added up, key by key."""
        total: dict[str, float] = {}
        for record in self.records:
            for key, value in record.figures.items():
                total[key] = total.get(key, 0) + value
        return total


__all__ = ["WriteRecord", "WriteResult", "Writes", "numeric_figures"]
