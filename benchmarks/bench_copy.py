"""A whole ``large`` first write of the daily metric tables into PostgreSQL, two checkouts' COPY paths alternating.

    .venv/bin/python benchmarks/bench_copy.py --before-python /tmp/before/.venv/bin/python [--repeat 2] [--accounts 10]

The frames are what the metric assets hand the warehouse on a first sync of the simulator's ``large`` profile (10
accounts x 200 campaigns x 4 creatives, 365 days): each account's CAMPAIGN and CREATIVE daily rows as LinkedIn's
responses carry them (URNs, counts as ints, money as the ``Decimal`` of its JSON string), cut into windows of at most
``MAX_ELEMENTS`` rows and turned into frames by the assets' own ``metrics_frame``. Each case runs in a process of its
own: it builds every frame, then times ``Warehouse.write`` of ``campaign_daily_metrics`` and
``creative_daily_metrics`` into the empty tables of a throwaway schema (each frame released once written). Printed per
case: rows, rows/s, wall seconds, the process's CPU, the PostgreSQL backend's CPU (``/proc/<pid>/stat``), the peak RSS
while writing (the high-water mark is reset once the frames are built) and the RSS the built frames hold.

``after`` is this checkout's ``linkedin_assets``; ``before`` runs the same script under ``--before-python``, a venv
whose ``linkedin_assets`` is another checkout (``git archive <commit> | tar -x -C /tmp/before && make -C /tmp/before
install``). Cases alternate (before, after, before, ...) so both see the same machine. PostgreSQL:
``LINKEDIN_ASSETS_BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

PG_URL = os.environ.get("LINKEDIN_ASSETS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TABLES = {"CAMPAIGN": ("campaign_id", "campaign_daily_metrics"), "CREATIVE": ("creative_id", "creative_daily_metrics")}
URN = {"CAMPAIGN": "urn:li:sponsoredCampaign:", "CREATIVE": "urn:li:sponsoredCreative:"}
TODAY = dt.date(2026, 11, 1)


# --- the frames of a first sync ------------------------------------------------------------------------------------


def metric_frames(accounts: int, pivot: str) -> Iterator[pd.DataFrame]:
    """The frames of one pivot's whole history, account by account, window by window (ordered by day, then id)."""
    from linkedin_assets.defs.assets.metrics import metrics_frame
    from linkedin_assets.linkedin.catalogue import DAILY_METRICS, DECIMAL_METRICS
    from linkedin_assets.linkedin.fields import MAX_ELEMENTS
    from linkedin_assets.linkedin.models import AnalyticsWindow
    from linkedin_assets.simulator import Dataset, SimulatorConfig
    from linkedin_assets.simulator.metrics import format_money

    dataset = Dataset(SimulatorConfig(profile="large", seed=1, accounts=accounts, today=TODAY))
    key = TABLES[pivot][0]
    for account in dataset.account_data:
        table = dataset.account_metrics(account).daily_table(pivot)
        order = np.lexsort((table[key], table["day"]))
        owner_names = ["account_id"] + (["campaign_id"] if pivot == "CREATIVE" else [])
        owners = {
            int(row[0]): dict(zip(owner_names, map(int, row[1:]), strict=True))
            for row in zip(table[key].tolist(), *(table[name].tolist() for name in owner_names), strict=True)
        }
        for start in range(0, len(order), MAX_ELEMENTS):
            rows = order[start : start + MAX_ELEMENTS]
            days = list(dataset.dates_of(table["day"][rows]))
            metrics: dict[str, list] = {}
            for metric in DAILY_METRICS:
                values = table[metric][rows].tolist()
                if metric in DECIMAL_METRICS:  # the client's Decimal of the response's money string
                    dust = table.get(f"dust_{metric}")
                    dusts = dust[rows].tolist() if dust is not None else [0] * len(values)
                    values = [Decimal(format_money(u, d)) for u, d in zip(values, dusts, strict=True)]
                metrics[metric] = values
            pivots = [(URN[pivot] + str(i),) for i in table[key][rows].tolist()]
            window = AnalyticsWindow(pivots, days, days, metrics, pivot=pivot, facet_urns=())
            yield metrics_frame(window, key, owners)


def _released(frames: deque[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The frames one by one, each dropped from the queue before it is handed over (the warehouse holds one)."""
    while frames:
        yield frames.popleft()


# --- one case, in a process of its own -------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_case(accounts: int, schema: str) -> dict[str, float | str]:
    """Build the frames, then write both tables into ``schema``; the figures of the writes."""
    import linkedin_assets
    from linkedin_assets.warehouse import open_warehouse

    built = {pivot: deque(metric_frames(accounts, pivot)) for pivot in TABLES}
    rows = sum(len(frame) for frames in built.values() for frame in frames)
    rss_frames = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark: the writes' peak from here
    with open_warehouse(PG_URL, schema) as warehouse:
        warehouse.ensure_schema()
        backend = int(warehouse.query("SELECT pg_backend_pid() AS pid")["pid"][0])
        server, wall, cpu = _cpu_of(backend), time.perf_counter(), time.process_time()
        written = 0
        for pivot, frames in built.items():
            accounts_of = sorted({int(a) for frame in frames for a in frame["account_id"].unique()})
            result = warehouse.write(
                TABLES[pivot][1],
                _released(frames),
                account_ids=accounts_of,
                date_range=(TODAY - dt.timedelta(days=365), TODAY - dt.timedelta(days=1)),
                run_id="bench",
            )
            written += result.inserted
        wall, cpu, server = time.perf_counter() - wall, time.process_time() - cpu, _cpu_of(backend) - server
    if written != rows:
        raise SystemExit(f"{written} rows inserted, {rows} built")
    return {
        "code": str(Path(linkedin_assets.__file__).parent.parent),
        "rows": rows,
        "wall": wall,
        "cpu": cpu,
        "server_cpu": server,
        "peak_rss_mib": _status_kib("VmHWM") / 1024,
        "frames_rss_mib": rss_frames / 1024,
    }


# --- the comparison --------------------------------------------------------------------------------------------


def _child(python: str, accounts: int) -> dict[str, float | str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        command = [python, __file__, "--case", "--accounts", str(accounts), "--schema", schema]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _line(label: str, r: dict[str, float | str]) -> str:
    rows, wall = float(r["rows"]), float(r["wall"])
    return (
        f"{label:<8}{rows:>11,.0f}{rows / wall:>11,.0f}{wall:>8.2f}{float(r['cpu']):>8.2f}"
        f"{float(r['server_cpu']):>11.2f}{float(r['peak_rss_mib']):>10.0f}{float(r['frames_rss_mib']):>12.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-python", required=False, help="python of a venv with the other checkout")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--accounts", type=int, default=10, help="accounts of the large profile (default all 10)")
    parser.add_argument("--case", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:  # a child: one case, its figures as JSON on the last line
        print(json.dumps(run_case(args.accounts, args.schema)))
        return

    variants = {"after": sys.executable}
    if args.before_python:
        variants = {"before": args.before_python, **variants}
    print(f"large profile, {args.accounts} account(s), {TODAY - dt.timedelta(days=365)} .. {TODAY}; load average "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'case':<8}{'rows':>11}{'rows/s':>11}{'wall s':>8}{'CPU s':>8}{'server CPU':>11}{'peak MiB':>10}"
          f"{'frames MiB':>12}")  # fmt: skip
    results: dict[str, list[dict[str, float | str]]] = {label: [] for label in variants}
    for _ in range(args.repeat):
        for label, python in variants.items():
            result = _child(python, args.accounts)
            results[label].append(result)
            print(_line(label, result), f"  ({result['code']})", flush=True)
    print("medians:")
    for label, runs in results.items():
        print(_line(label, {k: statistics.median(float(r[k]) for r in runs) for k in runs[0] if k != "code"}))


if __name__ == "__main__":
    main()
