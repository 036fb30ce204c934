"""Soak: syncs under LinkedIn's faults and SIGKILLs must leave exactly the ground truth.

    python benchmarks/soak.py [--trials 3] [--kill-trials 10] [--profile medium] [--kill-profile small] [--seed 1]

Part 1, faults: ``--trials`` full syncs (daily + monthly) of ``--profile`` into a fresh PostgreSQL schema each, the
simulator injecting 10 % 500 + 10 % 503, 3 % timeouts, 5 % truncated bodies and admitting 5 requests/s (429
beyond). Every table is compared, every column, with the independently computed ground truth
(``linkedin_assets_tests/ground_truth.py``).

Part 2, kills: ``--kill-trials`` times, a ``linkedin-assets sync`` process group is SIGKILLed at a random (seeded)
moment (after the Nth request LinkedIn answered, or N ms after start), then a normal sync runs; it must exit 0 and
leave the ground truth. Reported: the moment, the recovery sync's wall time, rows compared and differences.

Prints one line per trial and a summary; exits 1 when any difference is found or any sync fails.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ADMIN_URL = os.environ.get("LINKEDIN_ASSETS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
FAULTS = {"rate_500": 0.10, "rate_503": 0.10, "rate_timeout": 0.03, "rate_truncated_body": 0.05}
REQUESTS_PER_SECOND = 5.0
CLIENT_TIMEOUT_S = 3.0
"""The client's timeout for the soak (60 s by default): the simulator holds an injected timeout 10 s, so each is a
real client timeout, and the soak does not spend a minute per timeout."""


def _drop(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def fault_trials(args: argparse.Namespace, pg_url: str) -> list[dict]:
    import psycopg
    import pytest

    from linkedin_assets.defs.resources import LinkedInResource
    from linkedin_assets.simulator import SimulatorConfig, SimulatorServer
    from linkedin_assets_tests.ground_truth import (
        diff_count,
        expected_tables,
        read_tables,
        sync_in_process,
    )

    config_of = LinkedInResource.config

    def short_timeout(self):  # configuration for the soak, not a change of behaviour: see CLIENT_TIMEOUT_S
        return dataclasses.replace(config_of(self), timeout_s=CLIENT_TIMEOUT_S)

    out = []
    for trial in range(args.trials):
        seed = args.seed + trial
        config = SimulatorConfig(profile=args.profile, seed=seed, latency_ms=args.latency_ms, timeout_s=10.0,
                                 requests_per_second=REQUESTS_PER_SECOND, **FAULTS)  # fmt: skip
        schema = f"soak_{uuid.uuid4().hex[:10]}"
        with SimulatorServer(config) as sim, pytest.MonkeyPatch.context() as mp, \
                tempfile.TemporaryDirectory() as tmp:  # fmt: skip
            mp.setattr(LinkedInResource, "config", short_timeout)
            injected: collections.Counter[str] = collections.Counter()
            draw = sim.state.draw_fault

            def counting_draw(draw=draw, injected=injected):
                fault = draw()
                if fault:
                    injected[fault] += 1
                return fault

            mp.setattr(sim.state, "draw_fault", counting_draw)
            dataset = sim.state.dataset
            start, end = dataset.history_start, dataset.today - dt.timedelta(days=1)
            began = time.monotonic()
            run = sync_in_process(sim, pg_url, schema, Path(tmp), start, end)
            wall = time.monotonic() - began
            log = list(sim.state.request_log)
            ok = all(r.success for r in run.results) and len(run.results) == 2
            expected = expected_tables(dataset, start, end, run.months).tables
            with psycopg.connect(pg_url) as conn:
                compared, differences = diff_count(expected, read_tables(conn, schema, expected))
        _drop(pg_url, schema)
        throttled = sum(r.status == 429 for r in log)
        # a truncated body and a held (timed-out) request are logged with status 200 but never reached the client
        answered = sum(r.status == 200 for r in log) - injected["truncated"] - injected["timeout"]
        row = {
            "trial": trial + 1,
            "seed": seed,
            "success": ok,
            "wall_s": round(wall, 1),
            "requests": len(log),
            "faults": dict(injected),
            "throttled_429": throttled,
            "retries": len(log) - answered,
            "rows_compared": compared,
            "differences": differences if ok else -1,
        }
        print(
            f"fault trial {row['trial']}: {'ok' if ok else 'FAILED'} in {row['wall_s']} s, {row['requests']} requests,"
            f" faults {row['faults']}, {throttled} x 429 (5 req/s), {row['retries']} retried,"
            f" {compared} rows compared, {row['differences']} differences",
            flush=True,
        )
        out.append(row)
    return out


def kill_trials(args: argparse.Namespace, pg_url: str) -> list[dict]:
    from linkedin_assets.simulator import SimulatorConfig, SimulatorServer
    from linkedin_assets_tests.test_crash_safety import CrashHarness

    rng = random.Random(args.seed)
    out = []
    config = SimulatorConfig(profile=args.kill_profile, seed=args.seed, latency_ms=args.latency_ms,
                             access_token_ttl_s=3600)  # fmt: skip
    with SimulatorServer(config) as sim, tempfile.TemporaryDirectory() as tmp:
        harness = CrashHarness(sim, pg_url, Path(tmp))
        try:
            # two uninterrupted syncs first: the second shows how many requests and seconds a repeated sync takes
            # (post names and demographic names are cached, tokens stored: fewer requests than the first), so that
            # the kills spread over all of a sync (start-up, both runs, writes, the snapshot)
            for attempt in ("first", "repeated"):
                sim.state.reset_log()
                code, output, duration = harness.run_to_end()
                total = len(sim.state.request_log)
                print(f"uninterrupted {attempt} sync: exit {code} in {duration:.1f} s, {total} requests", flush=True)
                if code != 0:
                    print(output[-3000:], flush=True)
            for n in range(args.kill_trials):
                trial = harness.trial(rng, total, duration)
                row = {
                    "trial": n + 1,
                    "moment": trial.moment,
                    "requests_before_kill": trial.killed_after_requests,
                    "killed_after_s": round(trial.killed_after_s, 2),
                    "reaped": trial.reaped,
                    "recovery_exit": trial.recovery_exit,
                    "recovery_s": round(trial.recovery_s, 1),
                    "left_in_progress": trial.left_in_progress,
                    "orphans": trial.orphans,
                    "rows_compared": trial.rows_compared,
                    "differences": trial.differences,
                }
                print(
                    f"kill trial {n + 1}: killed {trial.moment} ({trial.killed_after_s:.1f} s in);"
                    f" recovery exit {trial.recovery_exit} in {trial.recovery_s:.1f} s"
                    f"{', reaped the dead run' if trial.reaped else ''}; {trial.rows_compared} rows compared,"
                    f" {trial.differences} differences; runs left in progress: {len(trial.left_in_progress)}"
                    + (f"; left NOT_STARTED (blocks nothing): {trial.orphans}" if trial.orphans else ""),
                    flush=True,
                )
                if trial.recovery_exit != 0:
                    print(trial.output[-3000:], flush=True)
                out.append(row)
        finally:
            harness.drop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3, help="syncs under the fault mix (default 3)")
    parser.add_argument("--kill-trials", type=int, default=10, help="killed syncs, each followed by a clean one")
    parser.add_argument("--profile", default="medium", help="simulator profile of the fault trials")
    parser.add_argument("--kill-profile", default="small", help="simulator profile of the kill trials")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg-url", default=ADMIN_URL, help="PostgreSQL server for the warehouse schemas")
    args = parser.parse_args(argv)

    began = time.monotonic()
    print(f"soak: {args.trials} x {args.profile} under {FAULTS} + {REQUESTS_PER_SECOND:g} req/s;"
          f" {args.kill_trials} kill trials on {args.kill_profile}", flush=True)  # fmt: skip
    faults = fault_trials(args, args.pg_url)
    kills = kill_trials(args, args.pg_url)

    injected = collections.Counter()
    for row in faults:
        injected.update(row["faults"])
    bad = [r for r in faults if not r["success"] or r["differences"] != 0] + [
        r for r in kills if r["recovery_exit"] != 0 or r["differences"] != 0 or r["left_in_progress"]
    ]
    recovery = sorted(r["recovery_s"] for r in kills)
    print()
    print(f"fault trials:     {len(faults)} ({args.profile}), {sum(r['success'] for r in faults)} succeeded")
    print(f"faults injected:  {sum(injected.values())} {dict(injected)}; 429 from the 5 req/s limit:"
          f" {sum(r['throttled_429'] for r in faults)}")  # fmt: skip
    print(f"retries:          {sum(r['retries'] for r in faults)} of {sum(r['requests'] for r in faults)} requests")
    print(f"kill trials:      {len(kills)} ({args.kill_profile}), {sum(r['recovery_exit'] == 0 for r in kills)}"
          f" recovered, {sum(r['reaped'] for r in kills)} reaped a dead run")  # fmt: skip
    if recovery:
        print(f"time to recovery: median {recovery[len(recovery) // 2]:.1f} s, max {recovery[-1]:.1f} s"
              " (the whole clean sync after the kill)")  # fmt: skip
    print(f"rows compared:    {sum(r['rows_compared'] for r in faults) + sum(r['rows_compared'] for r in kills)}")
    print(f"differences:      {sum(max(r['differences'], 0) for r in faults + kills)}"
          f" ({len(bad)} trial(s) not clean)")  # fmt: skip
    print(f"soak wall time:   {time.monotonic() - began:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
