"""Throughput and memory of ``Warehouse.write`` for daily campaign metrics, beside a plain bulk load of the same rows.

    .venv/bin/python benchmarks/bench_warehouse.py [--rows 200000] [--backend postgres|duckdb|both] [--frame-rows 5000]

Cases, per backend: the rows as one DataFrame written into an empty table, then again into the full table (upsert);
the same rows streamed as frames of ``--frame-rows`` (generated one at a time, never all at once) into an empty table,
then again into the full one; a plain bulk load of the one frame (PostgreSQL: psycopg ``COPY`` row by row into an
unindexed table; DuckDB: ``CREATE TABLE AS`` from the registered frame). Every case runs in a process of its own, so
its peak RSS is its own (it includes about 150 MiB of imports); "client CPU" is that process's CPU time, not the
database server's. The streamed writes' figures include generating their frames (shown as a line of its own).

PostgreSQL: ``LINKEDIN_ASSETS_BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``), in a throwaway
schema dropped afterwards. DuckDB: a file in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import psycopg

from linkedin_assets.linkedin.catalogue import DAILY_METRICS, DECIMAL_METRICS
from linkedin_assets.linkedin.fields import snake_case
from linkedin_assets.warehouse import open_warehouse

PG_URL = os.environ.get("LINKEDIN_ASSETS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DAYS = 100
ACCOUNTS = 20
FIRST = date(2024, 1, 1)
CASES = ("one frame", "streamed", "plain")


def synthetic_metrics(rows: int, start: int = 0) -> pd.DataFrame:
    """Rows ``start .. start + rows`` of the campaign-days (``n / 100`` campaigns over 100 days, every default metric
    filled). Each row's values depend only on its index, so any slicing into frames gives the same rows."""
    index = np.arange(start, start + rows, dtype=np.int64)
    campaigns = index // DAYS + 1
    frame = pd.DataFrame(
        {
            "campaign_id": campaigns,
            "date": [FIRST + timedelta(days=int(d)) for d in index % DAYS],
            "account_id": campaigns % ACCOUNTS + 1,
        }
    )
    for number, metric in enumerate(DAILY_METRICS):
        values = (index * (2_654_435_761 + 97 * number) + number) % 100_000
        if metric in DECIMAL_METRICS:
            frame[snake_case(metric)] = [Decimal(int(v)).scaleb(-2) for v in values]
        else:
            frame[snake_case(metric)] = values
    return frame


def frames(rows: int, frame_rows: int) -> Iterator[pd.DataFrame]:
    for start in range(0, rows, frame_rows):
        yield synthetic_metrics(min(frame_rows, rows - start), start)


def _scope(rows: int) -> tuple[list[int], tuple[date, date]]:
    return list(range(1, ACCOUNTS + 1)), (FIRST, FIRST + timedelta(days=DAYS - 1))


def plain_copy_postgres(url: str, schema: str, frame: pd.DataFrame) -> None:
    names = ", ".join(f'"{name}"' for name in frame.columns)
    types = ", ".join(
        f'"{name}" {"DATE" if name == "date" else "NUMERIC" if frame[name].dtype == object else "BIGINT"}'
        for name in frame.columns
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{schema}".plain_copy ({types})')
        with (
            conn.transaction(),
            conn.cursor() as cursor,
            cursor.copy(f'COPY "{schema}".plain_copy ({names}) FROM STDIN') as copy,
        ):
            for row in frame.itertuples(index=False, name=None):
                copy.write_row(row)


def plain_insert_duckdb(path: Path, frame: pd.DataFrame) -> None:
    with duckdb.connect(str(path)) as conn:
        conn.register("batch", frame)
        conn.execute("CREATE TABLE plain_insert AS SELECT * FROM batch")


def run_case(backend: str, case: str, rows: int, frame_rows: int, where: str) -> list[dict[str, float | str]]:
    """One case in this process: the timed writes' figures (wall, this process's CPU) and its peak RSS."""
    accounts, date_range = _scope(rows)
    url, schema, path = (PG_URL, where, Path()) if backend == "postgres" else (None, "linkedin_ads", Path(where))
    results: list[dict[str, float | str]] = []

    def timed(label: str, action: Callable[[], object]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        results.append(
            {"label": label, "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "rows": rows}
        )

    if case == "plain":
        frame = synthetic_metrics(rows)
        if backend == "postgres":
            timed("plain COPY, empty unindexed table", lambda: plain_copy_postgres(PG_URL, schema, frame))
        else:
            timed("plain INSERT, empty unindexed table", lambda: plain_insert_duckdb(path, frame))
    else:
        with open_warehouse(url, schema, path) as warehouse:
            warehouse.ensure_schema()
            if case == "one frame":
                frame = synthetic_metrics(rows)
                batch: Callable[[], object] = lambda: frame  # noqa: E731
            else:
                batch = lambda: frames(rows, frame_rows)  # noqa: E731
            suffix = "" if case == "one frame" else f" (frames of {frame_rows:,})"
            if case == "streamed":  # the streamed writes' figures include making their frames: this much
                timed(f"make the frames only{suffix}", lambda: sum(len(f) for f in frames(rows, frame_rows)))
            for label, run_id in (("write into empty table", "bench-1"), ("upsert into full table", "bench-2")):
                timed(
                    f"{label}{suffix}",
                    lambda run_id=run_id: warehouse.write(
                        "campaign_daily_metrics",
                        batch(),
                        account_ids=accounts,
                        date_range=date_range,
                        run_id=run_id,
                    ),
                )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [{**result, "peak_rss_mib": peak} for result in results]


def _child(backend: str, case: str, args: argparse.Namespace, where: str) -> list[dict[str, float | str]]:
    command = [sys.executable, __file__, "--case", case, "--backend", backend, "--where", where]
    command += ["--rows", str(args.rows), "--frame-rows", str(args.frame_rows)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(backend: str, results: list[dict[str, float | str]]) -> None:
    for r in results:
        rate = float(r["rows"]) / float(r["wall"])
        print(
            f"{backend:<9} {r['label']:<52} {rate:>9,.0f} rows/s  ({float(r['wall']):5.2f} s, "
            f"client CPU {float(r['cpu']):5.2f} s, peak RSS {float(r['peak_rss_mib']):5.0f} MiB)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--frame-rows", type=int, default=5_000)
    parser.add_argument("--backend", choices=["postgres", "duckdb", "both"], default="both")
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        help="comma-separated subset of: one frame, streamed, plain (an older warehouse takes no stream)",
    )
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--where", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case:  # a child: one case, its figures as JSON on the last line
        print(json.dumps(run_case(args.backend, args.case, args.rows, args.frame_rows, args.where)))
        return

    cases = [case for case in CASES if case in args.cases.split(",")]
    print(f"{args.rows:,} rows x {len(synthetic_metrics(1).columns)} columns; load average {os.getloadavg()[0]:.1f}")
    if args.backend in ("postgres", "both"):
        schemas = {case: f"bench_{uuid.uuid4().hex[:10]}" for case in cases}
        try:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                for schema in schemas.values():
                    conn.execute(f'CREATE SCHEMA "{schema}"')
            report("postgres", [r for case in cases for r in _child("postgres", case, args, schemas[case])])
        finally:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                for schema in schemas.values():
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    if args.backend in ("duckdb", "both"):
        with tempfile.TemporaryDirectory() as directory:
            results = [r for case in cases for r in _child("duckdb", case, args, f"{directory}/{uuid.uuid4().hex}.db")]
            report("duckdb", results)


if __name__ == "__main__":
    main()
