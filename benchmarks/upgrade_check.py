"""An upgrade as users make it: a warehouse written by an earlier release, then synced by this one.

Runs ``linkedin-assets sync`` of the earlier release (``--python``: its interpreter, e.g. a worktree's venv) over the
simulator's whole history into a fresh PostgreSQL schema, then this checkout's ``sync`` of the next day on the same
schema and ``DAGSTER_HOME``. Prints the rows of every table after each, and compares every table with the ground
truth the tests use (``linkedin_assets_tests.ground_truth``): nothing stored may be lost, and what this release adds
(the history tables, ``_writes.failures``) must be there without any SQL by hand.

    git worktree add /tmp/prev <commit> && (cd /tmp/prev && python3 -m venv .venv && .venv/bin/pip install -e .)
    .venv/bin/python benchmarks/upgrade_check.py --python /tmp/prev/.venv/bin/python
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
PG_URL = os.environ.get("LINKEDIN_ASSETS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SIZES = {"accounts": 2, "campaigns_per_account": 6, "creatives_per_campaign": 2, "days": 40}


def sync(python: str, sim_env: dict[str, str], home: Path, schema: str, start: dt.date, end: dt.date) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINKEDIN_", "DAGSTER_"))}
    env.update(sim_env)
    env.update(
        DAGSTER_HOME=str(home / "dagster"),
        LINKEDIN_ASSETS_DATABASE_URL=PG_URL,
        LINKEDIN_ASSETS_SCHEMA=schema,
        LINKEDIN_ASSETS_DATA_DIR=str(home / "data"),
        LINKEDIN_TOKEN_STORE=str(home / "data" / "tokens.json"),
    )
    (home / "dagster").mkdir(exist_ok=True)
    done = subprocess.run(
        [python, "-m", "linkedin_assets.cli", "sync", "--start", start.isoformat(), "--end", end.isoformat()],
        env=env, cwd=home, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{python}: sync exited {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def table_rows(schema: str) -> dict[str, int]:
    with psycopg.connect(PG_URL) as conn:
        names = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (schema,)
            )
        ]
        return {name: conn.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0] for name in names}


def main() -> int:
    from bench_sync import start_simulator

    from linkedin_assets.simulator import Dataset, SimulatorConfig
    from linkedin_assets.warehouse import HISTORY
    from linkedin_assets_tests.ground_truth import assert_tables_equal, expected_tables, months_between, read_tables

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="the earlier release's interpreter")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    schema = f"upgrade_{uuid.uuid4().hex[:8]}"
    home = Path(tempfile.mkdtemp(prefix="upgrade_check_"))
    sim = start_simulator(SIZES, 0.0, args.seed)
    try:
        today = dt.datetime.now(dt.UTC).date()
        end = today - dt.timedelta(days=1)
        start = end - dt.timedelta(days=SIZES["days"] - 1)
        sync(args.python, sim.env, home, schema, start, end)
        before = table_rows(schema)
        print(f"after the earlier release ({args.python}): {before}")
        sync(sys.executable, sim.env, home, schema, end, end)
        after = table_rows(schema)
        print(f"after this release's next-day sync: {after}")

        dataset = Dataset(SimulatorConfig(profile="custom", seed=args.seed, **SIZES))
        expected = expected_tables(dataset, start, end, months_between(start, end)).tables
        with psycopg.connect(PG_URL) as conn:
            compared = assert_tables_equal(expected, read_tables(conn, schema, expected))
        print(f"every table equals the ground truth: {compared:,} rows compared")
        for name, spec in HISTORY.items():
            assert after[spec.name] == after[name], (spec.name, after[spec.name], after[name])
        print("history tables: one version per stored entity (seeded on first use, nothing changed since)")
        with psycopg.connect(PG_URL) as conn:
            failures = conn.execute(f'SELECT count(*) FROM "{schema}"._writes WHERE failures IS NULL').fetchone()[0]
        print(f"_writes: {failures} record(s) of the earlier release kept, failures column added")
    finally:
        sim.process.terminate()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
