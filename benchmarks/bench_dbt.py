"""``dbt build`` of the reports' dbt project on a warehouse a sync left behind, timed directly (issue 18).

Run ``bench_sync.py --keep`` first: it prints the warehouse schemas it kept. For each ``--schema`` this runs
``dbt build`` in the prepared project (``dbt/``, the code location's own; ``make install`` prepares it) the way the
``linkedin_reports`` job does: the connection and schemas in the environment variables ``dbt/profiles.yml`` and
``dbt/models/sources.yml`` read, the Fivetran-compatible views of ``<schema>_fivetran`` as sources, the reports into
a schema of this script's own (dropped at the end). Each build gets a fresh ``--target-path`` (a full parse, as after
a change of ``LINKEDIN_ASSETS_FIVETRAN_SCHEMA``). Printed per build: the command's wall seconds, dbt's own
``elapsed_time`` from ``run_results.json`` (the nodes, without the parse), the slowest nodes and the reports' rows.

``--tables`` also builds over the views materialized as tables: ``CREATE TABLE AS SELECT * FROM`` each view of
``<schema>_fivetran`` into ``<schema>_ftables`` (timed, then ``ANALYZE``), ``LINKEDIN_ASSETS_FIVETRAN_SCHEMA`` pointed
there; views and tables alternate ``--repeat`` times.

    .venv/bin/python benchmarks/bench_dbt.py --schema bench_sync_... [--schema ...] [--repeat 2] [--tables] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("LINKEDIN_ASSETS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Build:
    label: str
    wall_s: float
    dbt_s: float
    returncode: int
    nodes: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


def relations(conn: psycopg.Connection, schema: str, kind: str) -> list[str]:
    """The views (``VIEW``) or tables (``BASE TABLE``) of ``schema``."""
    query = "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = %s ORDER BY 1"
    return [name for (name,) in conn.execute(query, (schema, kind))]


def materialize(pg_url: str, views_schema: str, tables_schema: str) -> tuple[float, int]:
    """Each view of ``views_schema`` as a table of ``tables_schema``: seconds (CREATE TABLE AS + ANALYZE), tables."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{tables_schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{tables_schema}"')
        views = relations(conn, views_schema, "VIEW")
        started = time.perf_counter()
        for view in views:
            conn.execute(f'CREATE TABLE "{tables_schema}"."{view}" AS SELECT * FROM "{views_schema}"."{view}"')
            conn.execute(f'ANALYZE "{tables_schema}"."{view}"')
        return time.perf_counter() - started, len(views)


def dbt_env(pg_url: str, sources_schema: str, reports_schema: str) -> dict[str, str]:
    from linkedin_assets.defs.assets.dbt_models import postgres_env

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINKEDIN_", "DBT_"))}
    return {
        **env,
        **postgres_env(pg_url),
        "LINKEDIN_ASSETS_FIVETRAN_SCHEMA": sources_schema,
        "LINKEDIN_ASSETS_REPORTS_SCHEMA": reports_schema,
        "DBT_PROFILES_DIR": str(REPO / "dbt"),
    }


def build(label: str, pg_url: str, sources_schema: str, reports_schema: str) -> Build:
    """One ``dbt build`` of the project over ``sources_schema`` into ``reports_schema``."""
    from linkedin_assets.defs.assets.dbt_models import dbt_executable

    with tempfile.TemporaryDirectory(prefix="bench_dbt_") as target:
        command = [dbt_executable(), "build", "--target-path", target, "--log-path", target]
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=REPO / "dbt", env=dbt_env(pg_url, sources_schema, reports_schema), capture_output=True
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            print(f"{label}: `{' '.join(command)}` exited {done.returncode}:\n{done.stdout.decode()[-3000:]}")
        results_path = Path(target) / "run_results.json"
        results = json.loads(results_path.read_text()) if results_path.exists() else {"results": []}
    out = Build(label, wall, float(results.get("elapsed_time", float("nan"))), done.returncode)
    for node in results["results"]:
        out.nodes[node["unique_id"]] = float(node["execution_time"])
        out.statuses[node["status"]] = out.statuses.get(node["status"], 0) + 1
    with psycopg.connect(pg_url) as conn:
        for table in relations(conn, reports_schema, "BASE TABLE"):
            out.rows[table] = conn.execute(f'SELECT count(*) FROM "{reports_schema}"."{table}"').fetchone()[0]
    return out


def report(builds: list[Build]) -> None:
    width = max(22, *(len(b.label) + 2 for b in builds))
    title = 56

    def line(name: str, values: list[str]) -> None:
        print(f"{name:<{title}}" + "".join(f"{v:>{width}}" for v in values))

    print()
    line("", [b.label for b in builds])
    line("dbt build, wall s (command: parse + nodes)", [f"{b.wall_s:.1f}" for b in builds])
    line("dbt's elapsed_time s (run_results.json)", [f"{b.dbt_s:.1f}" for b in builds])
    line("sum of node execution_time s", [f"{sum(b.nodes.values()):.1f}" for b in builds])
    line("nodes by status", [", ".join(f"{k} {v}" for k, v in sorted(b.statuses.items())) for b in builds])
    slowest = sorted({n for b in builds for n in b.nodes}, key=lambda n: -max(b.nodes.get(n, 0.0) for b in builds))
    for node in slowest[:8]:
        line(f"  {node.split('.', 2)[-1][: title - 4]} s", [f"{b.nodes.get(node, float('nan')):.2f}" for b in builds])
    for table in sorted({t for b in builds for t in b.rows if t.startswith("linkedin_ads__")}):
        line(f"rows, {table}"[:title], [f"{b.rows.get(table, 0):,}" for b in builds])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", action="append", required=True, help="a warehouse schema bench_sync.py kept")
    parser.add_argument("--repeat", type=int, default=1, help="builds per case, cases alternating (default 1)")
    parser.add_argument("--tables", action="store_true", help="also over the views materialized as tables")
    parser.add_argument("--keep", action="store_true", help="keep this script's schemas (reports, tables)")
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    builds: list[Build] = []
    made: list[str] = []
    try:
        for schema in args.schema:
            if args.tables:
                made.append(f"{schema}_ftables")
                seconds, count = materialize(args.pg_url, f"{schema}_fivetran", f"{schema}_ftables")
                print(
                    f"{schema}: {count} views as tables in {schema}_ftables: {seconds:.1f} s (CREATE TABLE AS, ANALYZE)"
                )
            cases = [("views", f"{schema}_fivetran")] + ([("tables", f"{schema}_ftables")] if args.tables else [])
            for repeat in range(args.repeat):
                for kind, sources in cases:
                    reports = f"{schema}_dbt_{kind}"
                    made += [reports, f"{reports}_staging"]
                    builds.append(build(f"{schema[-10:]} {kind} #{repeat + 1}", args.pg_url, sources, reports))
    finally:
        if not args.keep:
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                for schema in dict.fromkeys(made):
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    report(builds)
    return 0 if all(b.returncode == 0 for b in builds) else 1


if __name__ == "__main__":
    raise SystemExit(main())
