"""Throughput of ``Warehouse.write`` for daily campaign metrics, beside a plain bulk load of the same rows.

    .venv/bin/python benchmarks/bench_warehouse.py [--rows 200000] [--backend postgres|duckdb|both]

PostgreSQL: ``LINKEDIN_ASSETS_BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``), in a throwaway
schema dropped afterwards. DuckDB: a file in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import psycopg

from linkedin_assets.linkedin.fields import DECIMAL_METRICS, DEFAULT_METRICS, snake_case
from linkedin_assets.warehouse import Warehouse, open_warehouse

PG_URL = os.environ.get("LINKEDIN_ASSETS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DAYS = 100
ACCOUNTS = 20


def synthetic_metrics(rows: int, seed: int = 7) -> pd.DataFrame:
    """``rows`` campaign-days: ``rows / 100`` campaigns over 100 days, every default metric filled."""
    rng = np.random.default_rng(seed)
    campaigns = np.arange(rows) // DAYS + 1
    first = date(2024, 1, 1)
    frame = pd.DataFrame(
        {
            "campaign_id": campaigns,
            "date": [first + timedelta(days=int(d)) for d in np.arange(rows) % DAYS],
            "account_id": campaigns % ACCOUNTS + 1,
        }
    )
    for metric in DEFAULT_METRICS:
        values = rng.integers(0, 100_000, rows)
        if metric in DECIMAL_METRICS:
            frame[snake_case(metric)] = [Decimal(int(v)).scaleb(-2) for v in values]
        else:
            frame[snake_case(metric)] = values
    return frame


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_writes(warehouse: Warehouse, frame: pd.DataFrame) -> dict[str, float]:
    warehouse.ensure_schema()
    date_range = (frame["date"].min(), frame["date"].max())
    accounts = sorted(set(frame["account_id"].tolist()))

    def write(run_id: str) -> None:
        warehouse.write("campaign_daily_metrics", frame, account_ids=accounts, date_range=date_range, run_id=run_id)

    return {
        "write into empty table": timed(lambda: write("bench-1")),
        "write into full table (upsert)": timed(lambda: write("bench-2")),
    }


def plain_copy_postgres(url: str, schema: str, frame: pd.DataFrame) -> float:
    names = ", ".join(f'"{name}"' for name in frame.columns)
    types = ", ".join(
        f'"{name}" {"NUMERIC" if frame[name].dtype == object and name != "date" else "DATE" if name == "date" else "BIGINT"}'
        for name in frame.columns
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{schema}".plain_copy ({types})')

        def load() -> None:
            with (
                conn.transaction(),
                conn.cursor() as cursor,
                cursor.copy(f'COPY "{schema}".plain_copy ({names}) FROM STDIN') as copy,
            ):
                for row in frame.itertuples(index=False, name=None):
                    copy.write_row(row)

        return timed(load)


def plain_insert_duckdb(path: Path, frame: pd.DataFrame) -> float:
    with duckdb.connect(str(path)) as conn:
        conn.register("batch", frame)
        return timed(lambda: conn.execute("CREATE TABLE plain_insert AS SELECT * FROM batch"))


def report(backend: str, rows: int, seconds: dict[str, float]) -> None:
    for label, elapsed in seconds.items():
        print(f"{backend:<10} {label:<34} {rows / elapsed:>10,.0f} rows/s  ({elapsed:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--backend", choices=["postgres", "duckdb", "both"], default="both")
    args = parser.parse_args()

    started = time.perf_counter()
    frame = synthetic_metrics(args.rows)
    print(f"{args.rows:,} rows x {len(frame.columns)} columns generated in {time.perf_counter() - started:.1f} s")

    if args.backend in ("postgres", "both"):
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        try:
            with open_warehouse(PG_URL, schema) as warehouse:
                seconds = bench_writes(warehouse, frame)
            seconds["plain COPY, empty unindexed table"] = plain_copy_postgres(PG_URL, schema, frame)
            report("postgres", args.rows, seconds)
        finally:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    if args.backend in ("duckdb", "both"):
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "bench.duckdb"
            with open_warehouse(None, duckdb_path=path) as warehouse:
                seconds = bench_writes(warehouse, frame)
            seconds["plain INSERT, empty unindexed table"] = plain_insert_duckdb(path, frame)
            report("duckdb", args.rows, seconds)

    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
