"""CPU, wall time and peak memory of the snapshot step: the snapshot code of a commit (before) against this checkout's
(after), on the same warehouse, the documents compared byte for byte.

    .venv/bin/python benchmarks/bench_snapshot.py [--accounts 10 --campaigns 200 --creatives 4 --days 90]
        [--before 2b3f5a2] [--repeat 1] [--warehouse-schema NAME [--end YYYY-MM-DD]]

By default fills a throwaway PostgreSQL schema with synthetic rows of the ``large`` profile's size (10 accounts x 200
campaigns x 4 creatives over 90 days: 180,000 campaign-days, 720,000 creative-days, every metric column filled; the
generator is ``test_snapshot.fill_warehouse``, written account by account; ``--accounts 3 --campaigns 50 --creatives
3`` is ``medium``'s shape) and drops it afterwards. ``--warehouse-schema`` measures an existing schema instead, e.g.
one a ``bench_sync.py --keep`` run left (its last day is the window's end unless ``--end`` says otherwise); it is
left as it is.

Each case runs in a fresh process, ``--repeat`` times, before and after alternating (the machine is shared): the
step as the asset does it (``checks.snapshot_warnings``, then ``iter_account_snapshots`` behind a ``SnapshotStream``
written by ``SnapshotJsonIOManager`` to the snapshot and ``latest.json``, then the Markdown summary). ``after`` runs
this checkout's ``linkedin_assets``; ``before`` a copy of it (first on ``PYTHONPATH``) whose snapshot files
(``OWN_FILES``) are those of ``--before``, so only the snapshot's code differs. Printed per run: CPU seconds of
the step (user + system, ``getrusage``; imports and the Dagster context left out), of the build and write alone
(warnings left out), wall seconds, peak RSS (``ru_maxrss``, imports included), bytes. The ``latest.json`` of every run must be the same bytes (``generated_at`` aside).
PostgreSQL: ``LINKEDIN_ASSETS_BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg

BEFORE_COMMIT = "2b3f5a2"  # the snapshot's files before the column-wise rows (a model per daily row)
OWN_FILES = (
    "linkedin_assets/defs/assets/snapshot.py",
    "linkedin_assets/snapshot/schema.py",
    "linkedin_assets/defs/io_managers/snapshot_json.py",
)
"""The snapshot's own code: ``before`` is this checkout with these files as of ``--before``."""
PG_URL = os.environ.get("LINKEDIN_ASSETS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_case(case: str, schema: str, out: Path, start: date, end: date) -> dict:
    """One snapshot step in this (fresh) process, with whichever ``linkedin_assets`` is first on the path."""
    import dagster as dg

    import linkedin_assets
    from linkedin_assets.defs.assets.snapshot import iter_account_snapshots, snapshot_header, snapshot_metadata
    from linkedin_assets.defs.checks import snapshot_warnings
    from linkedin_assets.defs.io_managers.snapshot_json import SnapshotJsonIOManager
    from linkedin_assets.snapshot.schema import SnapshotStream
    from linkedin_assets.warehouse import open_warehouse

    out.mkdir(parents=True, exist_ok=True)
    context = dg.build_output_context(asset_key="snapshot")  # an ephemeral instance: not the step's cost
    manager = SnapshotJsonIOManager(base_dir=str(out))
    cpu0, wall0 = _cpu(), time.perf_counter()
    with open_warehouse(PG_URL, schema) as wh:
        warnings = snapshot_warnings(wh, start, end, "account")
        cpu1 = _cpu()
        summaries: list = []
        stream = SnapshotStream(
            snapshot_header(start, end, "bench", warnings),
            iter_account_snapshots(wh, start, end, warnings, summaries.append),
        )
        manager.handle_output(context, stream)
        summary = snapshot_metadata(start, end, summaries, len(warnings))["summary"].value
    cpu2, wall2 = _cpu(), time.perf_counter()
    return {
        "case": case,
        "cpu_s": round(cpu2 - cpu0, 3),
        "build_write_cpu_s": round(cpu2 - cpu1, 3),
        "wall_s": round(wall2 - wall0, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "bytes": (out / "latest.json").stat().st_size,
        "accounts": len(summaries),
        "warnings": len(warnings),
        "summary_lines": len(summary.splitlines()),
        "package": str(Path(linkedin_assets.__file__).parent),
    }


def _digest(path: Path) -> str:
    """SHA-256 of a snapshot file with its ``generated_at`` blanked (it is near the start; the rest is hashed in
    blocks, never parsed: a large document parsed whole would take more memory than the step measured)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        head = handle.read(1 << 12)
        digest.update(re.sub(rb'"generated_at":"[^"]*"', b'"generated_at":""', head, count=1))
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _export(ref: str, directory: Path) -> str:
    """This checkout's ``linkedin_assets`` into ``directory``, with ``OWN_FILES`` as of ``ref`` (the rest of the
    package, the warehouse reads included, is the same on both sides); the full commit id of ``ref``."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    shutil.copytree(
        ROOT / "linkedin_assets", directory / "linkedin_assets", ignore=shutil.ignore_patterns("__pycache__")
    )
    for path in OWN_FILES:
        old = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, check=True, capture_output=True).stdout
        (directory / path).write_bytes(old)
    return commit


def _last_day(schema: str) -> date:
    with psycopg.connect(PG_URL) as conn:
        (last,) = conn.execute(f'SELECT max(date) FROM "{schema}".campaign_daily_metrics').fetchone()
    if last is None:
        raise SystemExit(f"{schema}.campaign_daily_metrics is empty: give --end")
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--creatives", type=int, default=4)
    parser.add_argument("--days", type=int, default=90, help="days of synthetic rows and of the window (default 90)")
    parser.add_argument("--before", default=BEFORE_COMMIT, help=f"commit of the before code (default {BEFORE_COMMIT})")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case, alternating (default 1)")
    parser.add_argument("--warehouse-schema", help="measure this existing schema (kept) instead of synthetic rows")
    parser.add_argument("--end", help="the window's last day (default: yesterday, or the schema's last day)")
    parser.add_argument("--case", choices=["before", "after"], help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--start", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case:  # the child: one step, its figures as one JSON line
        window = date.fromisoformat(args.start), date.fromisoformat(args.end)
        print(json.dumps(run_case(args.case, args.schema, Path(args.out), *window)))
        return

    sys.path.insert(0, str(ROOT))
    schema = args.warehouse_schema or f"bench_snapshot_{uuid.uuid4().hex[:8]}"
    try:
        if args.warehouse_schema:
            end = date.fromisoformat(args.end) if args.end else _last_day(schema)
        else:
            from linkedin_assets.warehouse import open_warehouse
            from linkedin_assets_tests.test_snapshot import fill_warehouse

            end = date.fromisoformat(args.end) if args.end else date.today() - timedelta(days=1)
            began = time.perf_counter()
            with open_warehouse(PG_URL, schema) as wh:
                fill_warehouse(
                    wh,
                    accounts=args.accounts,
                    campaigns=args.campaigns,
                    creatives=args.creatives,
                    days=args.days,
                    end=end,
                )
            print(
                f"filled {schema}: {args.accounts} accounts x {args.campaigns} campaigns x {args.creatives} creatives "
                f"x {args.days} days in {time.perf_counter() - began:.0f} s",
                flush=True,
            )
        start = end - timedelta(days=args.days - 1)
        with tempfile.TemporaryDirectory() as tmp:
            before_tree = Path(tmp) / "before_tree"
            commit = _export(args.before, before_tree)
            head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
            dirty = subprocess.run(["git", "status", "--porcelain", "--", "linkedin_assets"], cwd=ROOT,
                                   capture_output=True, text=True).stdout.strip()  # fmt: skip
            print(f"window {start}..{end}; before = snapshot files of {commit[:7]}; after = this checkout (HEAD "
                  f"{head[:7]}{', linkedin_assets modified' if dirty else ''}); load average {os.getloadavg()}",
                  flush=True)  # fmt: skip
            results: dict[str, list[dict]] = {"before": [], "after": []}
            digests = set()
            for run in range(args.repeat):
                for case in ("before", "after"):
                    out = Path(tmp) / f"{case}_{run}"
                    env = dict(os.environ)
                    if case == "before":
                        env["PYTHONPATH"] = os.pathsep.join([str(before_tree), env.get("PYTHONPATH", "")]).rstrip(
                            os.pathsep
                        )
                    command = [sys.executable, __file__, "--case", case, "--schema", schema, "--out", str(out)]
                    command += ["--start", start.isoformat(), "--end", end.isoformat()]
                    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
                    if done.returncode:
                        raise SystemExit(f"{case} failed:\n{done.stderr}")
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                    expected = before_tree if case == "before" else ROOT
                    if not result["package"].startswith(str(expected)):
                        raise SystemExit(f"{case} imported {result['package']}, not {expected}")
                    results[case].append(result)
                    print(json.dumps(result), flush=True)
                    digests.add(_digest(out / "latest.json"))
                    for path in out.iterdir():
                        path.unlink()  # a large document is 0.8 GB: one run's files at a time
            for case, runs in results.items():
                print(
                    f"{case}: CPU s median {statistics.median(r['cpu_s'] for r in runs):.3f} "
                    f"(build+write {statistics.median(r['build_write_cpu_s'] for r in runs):.3f}), "
                    f"wall s median {statistics.median(r['wall_s'] for r in runs):.3f}, "
                    f"peak RSS max {max(r['peak_rss_mib'] for r in runs)} MiB"
                )
            print(f"documents byte-identical (generated_at aside): {len(digests) == 1}")
            print(f"load average {os.getloadavg()}")
    finally:
        if not args.warehouse_schema:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
