"""Peak memory and time of the JSON snapshot: the whole-document build (before) against the streamed one (after).

    .venv/bin/python benchmarks/bench_snapshot.py [--accounts 10 --campaigns 200 --creatives 4 --days 90]

Fills a throwaway PostgreSQL schema with synthetic rows of the ``large`` profile's size (10 accounts x 200 campaigns x
4 creatives over 90 days: 180,000 campaign-days, 720,000 creative-days, every metric column filled; the generator is
``test_snapshot.fill_warehouse``, written account by account), then builds and writes the 90-day snapshot twice, each
in a fresh process so each peak RSS (``ru_maxrss``) is its own (imports included):

- ``before``: the asset's code as of commit ``df3f89e`` (read with ``git show``): every table read whole, nested into
  one ``Snapshot``, its Markdown summary, then ``model_dump_json()`` written to the snapshot and ``latest.json``;
- ``after``: the current ``iter_account_snapshots`` behind a ``SnapshotStream``, written by ``SnapshotJsonIOManager``.

Both compute the warnings the same way (``checks.snapshot_warnings``) and the two documents are compared (parsed,
``generated_at`` aside). PostgreSQL: ``LINKEDIN_ASSETS_BENCH_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); the schema is dropped afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import types
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg

BEFORE_COMMIT = "df3f89e"
PG_URL = os.environ.get("LINKEDIN_ASSETS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ROOT = Path(__file__).resolve().parent.parent


def _window(end: date, days: int) -> tuple[date, date]:
    return end - timedelta(days=days - 1), end


def run_case(case: str, schema: str, out: Path, end: date, days: int) -> dict:
    """One build in this (fresh) process: peak RSS and wall seconds of the build and the write."""
    import dagster as dg

    from linkedin_assets.checks import snapshot_warnings
    from linkedin_assets.io_managers.snapshot_json import SnapshotJsonIOManager, write_atomically
    from linkedin_assets.warehouse import open_warehouse

    start, end = _window(end, days)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with open_warehouse(PG_URL, schema) as wh:
        warnings = snapshot_warnings(wh, start, end, "account")
        if case == "before":
            source = subprocess.run(
                ["git", "show", f"{BEFORE_COMMIT}:linkedin_assets/assets/snapshot.py"],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            # The functions only: the old @dg.asset definition is not needed (and is not re-declared here).
            source = source[: source.index("@dg.asset(")] + source[source.index("CENT = ") :]
            old = types.ModuleType("snapshot_before")
            exec(compile(source, "snapshot_before.py", "exec"), old.__dict__)
            document = old.build_snapshot(wh, start, end, "bench", warnings)
            summary = old.summary_markdown(document)
            data = document.model_dump_json().encode()
            path = out / "before.json"
            write_atomically(path, data)
            write_atomically(out / "latest.json", data)
        else:
            from linkedin_assets.assets.snapshot import iter_account_snapshots, snapshot_header, snapshot_metadata
            from linkedin_assets.snapshot_schema import SnapshotStream

            summaries: list = []
            stream = SnapshotStream(
                snapshot_header(start, end, "bench", warnings),
                iter_account_snapshots(wh, start, end, warnings, summaries.append),
            )
            context = dg.build_output_context(asset_key="snapshot")
            SnapshotJsonIOManager(base_dir=str(out)).handle_output(context, stream)
            summary = snapshot_metadata(start, end, summaries, len(warnings))["summary"].value
            path = next(p for p in out.iterdir() if p.name != "latest.json")
    seconds = time.perf_counter() - began
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "case": case,
        "peak_rss_mib": round(peak_kib / 1024),
        "seconds": round(seconds, 1),
        "bytes": path.stat().st_size,
        "warnings": len(warnings),
        "summary_lines": len(summary.splitlines()),
    }


def _digest(path: Path) -> str:
    """SHA-256 of a snapshot file with its ``generated_at`` blanked (it is near the start; the rest is hashed in
    blocks, never parsed: a large document parsed whole would be the memory hog this benchmark is about)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        head = handle.read(1 << 12)
        digest.update(re.sub(rb'"generated_at":"[^"]*"', b'"generated_at":""', head, count=1))
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--creatives", type=int, default=4)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--case", choices=["before", "after"], help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--end", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case:  # the child: one build, its figures as one JSON line
        print(json.dumps(run_case(args.case, args.schema, Path(args.out), date.fromisoformat(args.end), args.days)))
        return

    sys.path.insert(0, str(ROOT))
    from linkedin_assets.warehouse import open_warehouse
    from linkedin_assets_tests.test_snapshot import fill_warehouse

    end = date.today() - timedelta(days=1)
    schema = f"bench_snapshot_{uuid.uuid4().hex[:8]}"
    try:
        began = time.perf_counter()
        with open_warehouse(PG_URL, schema) as wh:
            fill_warehouse(
                wh, accounts=args.accounts, campaigns=args.campaigns, creatives=args.creatives, days=args.days, end=end
            )
        print(
            f"filled {schema}: {args.accounts} accounts x {args.campaigns} campaigns x {args.creatives} creatives x "
            f"{args.days} days in {time.perf_counter() - began:.0f} s",
            flush=True,
        )
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            for case in ("before", "after"):
                out = str(Path(tmp) / case)
                command = [sys.executable, __file__, "--case", case, "--schema", schema, "--out", out]
                command += ["--end", end.isoformat(), "--days", str(args.days)]
                done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
                if done.returncode:
                    raise SystemExit(f"{case} failed:\n{done.stderr}")
                line = done.stdout
                results[case] = json.loads(line.strip().splitlines()[-1])
                print(json.dumps(results[case]), flush=True)
            same = _digest(Path(tmp) / "before" / "latest.json") == _digest(Path(tmp) / "after" / "latest.json")
            print(f"documents byte-identical (generated_at aside): {same}")
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
