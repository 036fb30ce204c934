"""The daily sync of a simulator profile on one machine and on N Celery workers, side by side, in one run.

Both runs execute the code location's daily job (entities, daily campaign and creative metrics over the profile's
history) through the same orchestrating process (``python -m linkedin_assets_tests.celery_runs``, what a run
launcher starts), on a PostgreSQL Dagster instance and a PostgreSQL warehouse schema of their own, against the same
simulator (in this process, ``--latency-ms`` per request):

- ``one machine``: ``LINKEDIN_ASSETS_EXECUTOR=in_process``, all accounts in one step per metric asset (the default);
- ``celery xN``: ``LINKEDIN_ASSETS_EXECUTOR=celery``, one account per metric step
  (``LINKEDIN_ASSETS_ACCOUNTS_PER_STEP``), N workers (``dagster-celery worker start``, one execution process each)
  on a private RabbitMQ virtual host, the LinkedIn budget shared in Redis. Workers are started (and their start-up
  timed) before the run: a deployment keeps them running.

Printed: wall seconds of the run; CPU seconds of the orchestrating process and of the workers (their pool processes
included); peak RSS of the largest process; requests per endpoint and adAnalytics against the lower bound (from the
simulator's data alone, ``ground_truth.request_lower_bound``); the most requests in flight at the simulator; rows
per metric table; whether every table equals the ground truth; steps per worker.

    .venv/bin/python benchmarks/bench_celery.py [--profile medium|large] [--workers 2] [--latency-ms 20]
        [--max-concurrency 4] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from linkedin_assets.defs.partitions import RANGE_END, RANGE_START  # noqa: E402
from linkedin_assets.simulator import SimulatorConfig, SimulatorServer  # noqa: E402
from linkedin_assets_tests import ground_truth  # noqa: E402
from linkedin_assets_tests.celery_cluster import (  # noqa: E402
    INSTANCE_YAML,
    _hwm_kib,
    private_vhost,
    running_workers,
    steps_by_worker,
)

PG_URL = os.environ.get("LINKEDIN_ASSETS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("LINKEDIN_ASSETS_BENCH_REDIS", "redis://127.0.0.1:6379")
RABBIT = os.environ.get("LINKEDIN_ASSETS_BENCH_AMQP", "pyamqp://guest:guest@127.0.0.1:5672")
TABLES = ("campaign_daily_metrics", "creative_daily_metrics")


@dataclass
class Result:
    label: str
    wall_s: float = 0.0
    orchestrator_cpu_s: float = 0.0
    orchestrator_rss_kib: int = 0
    workers_cpu_s: float = 0.0
    workers_rss_kib: int = 0
    worker_start_s: float = 0.0
    requests: Counter = field(default_factory=Counter)
    max_in_flight: int = 0
    bound: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    table_bytes: dict[str, int] = field(default_factory=dict)
    exact: str = "?"
    differences: str = ""
    steps: dict[str, int] = field(default_factory=dict)


def run_orchestrator(env: dict[str, str], tags: dict[str, str], log: Path) -> tuple[int, float, float, int]:
    """(exit code, wall s, CPU s, peak RSS KiB) of one orchestrating process: CPU from its rusage (wait4), peak RSS
    from its ``VmHWM`` sampled every 0.2 s. Not ``ru_maxrss``: Linux carries the high-water mark over ``exec``, so a
    child started by this process (which holds a large profile's ground truth) would report this process's size."""
    started = time.perf_counter()
    peak_kib = 0
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "linkedin_assets_tests.celery_runs", "run", json.dumps(tags)],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        while True:
            peak_kib = max(peak_kib, _hwm_kib(process.pid))
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.2)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.perf_counter() - started, usage.ru_utime + usage.ru_stime, peak_kib


def one_run(label: str, sim: SimulatorServer, args: argparse.Namespace, work: Path, celery: bool) -> Result:
    dataset = sim.state.dataset
    start, end = dataset.history_start, dataset.today - dt.timedelta(days=1)
    result = Result(label)
    schema = f"bench_celery_{uuid.uuid4().hex[:8]}"
    database = f"bench_celery_{uuid.uuid4().hex[:8]}"
    home = work / label.replace(" ", "_")
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    base = args.pg_url.rpartition("/")[0]
    with psycopg.connect(args.pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LINKEDIN_", "DAGSTER_", "CELERY_"))}
        env.update(sim.client_env())
        env.update(
            DAGSTER_HOME=str(home),
            DAGSTER_PG_URL=f"{base}/{database}".replace("postgresql://", "postgresql+psycopg2://", 1),
            LINKEDIN_ASSETS_DATA_DIR=str(home / "data"),
            LINKEDIN_TOKEN_STORE=str(home / "tokens.json"),
            LINKEDIN_ASSETS_DATABASE_URL=args.pg_url,
            LINKEDIN_ASSETS_SCHEMA=schema,
            LINKEDIN_ASSETS_START_DATE=start.isoformat(),
            LINKEDIN_MAX_CONCURRENCY=str(args.max_concurrency),
            LINKEDIN_ASSETS_EXECUTOR="celery" if celery else "in_process",
            LINKEDIN_ASSETS_ACCOUNTS_PER_STEP="1" if celery else "0",
        )
        tags = {RANGE_START: start.isoformat(), RANGE_END: end.isoformat()}
        if celery:
            with private_vhost("linkedin_assets_bench") as vhost:
                env.update(CELERY_BROKER_URL=f"{RABBIT}/{vhost}", CELERY_BACKEND_URL=f"{REDIS}/14")
                if not args.local_budget:
                    env["LINKEDIN_ASSETS_REDIS_URL"] = f"{REDIS}/15"
                began = time.perf_counter()
                with running_workers(args.workers, env, home, prefix="bench") as (workers, _):
                    result.worker_start_s = time.perf_counter() - began
                    cpu_before = sum(w.cpu_s() for w in workers)
                    sim.state.reset_log()
                    code, result.wall_s, result.orchestrator_cpu_s, result.orchestrator_rss_kib = run_orchestrator(
                        env, tags, home / "orchestrator.log"
                    )
                    result.workers_cpu_s = sum(w.cpu_s() for w in workers) - cpu_before
                    result.workers_rss_kib = max(w.peak_rss_kib() for w in workers)
        else:
            sim.state.reset_log()
            code, result.wall_s, result.orchestrator_cpu_s, result.orchestrator_rss_kib = run_orchestrator(
                env, tags, home / "orchestrator.log"
            )
        if code != 0:
            print((home / "orchestrator.log").read_text()[-3000:])
            raise SystemExit(f"{label}: the run failed")
        result.requests = Counter(ground_truth.requests_made(sim.state.request_log))
        result.max_in_flight = sim.state.max_in_flight()
        # the plan caps daily windows that ask for reach at 92 days (LinkedIn leaves reach out of longer ranges)
        expected = ground_truth.expected_tables(dataset, start, end, window_days=ground_truth.REACH_MAX_DAYS)
        with psycopg.connect(args.pg_url) as conn:
            actual = ground_truth.read_tables(conn, schema, expected.tables)
            for table in TABLES:
                result.rows[table] = len(actual[table])
                (result.table_bytes[table],) = conn.execute(
                    "SELECT pg_total_relation_size(%s::regclass)", (f'"{schema}"."{table}"',)
                ).fetchone()
            try:
                ground_truth.assert_tables_equal(expected.tables, actual)
                result.exact = "yes"
            except AssertionError as exc:
                result.exact = f"NO ({str(exc).splitlines()[0]})"
                result.differences = "\n".join(str(exc).splitlines()[:12])
        result.bound = ground_truth.request_lower_bound(dataset, expected)["adAnalytics"]
        import dagster as dg

        saved = os.environ.get("DAGSTER_PG_URL")
        os.environ["DAGSTER_PG_URL"] = env["DAGSTER_PG_URL"]
        try:
            with dg.DagsterInstance.from_config(str(home)) as instance:
                run = instance.get_runs(limit=1)[0]
                result.steps = {w: len(s) for w, s in steps_by_worker(instance, run.run_id).items()}
                if not result.steps:
                    result.steps = {"(one process)": len(instance.get_run_step_stats(run.run_id))}
        finally:
            if saved is None:
                os.environ.pop("DAGSTER_PG_URL", None)
            else:
                os.environ["DAGSTER_PG_URL"] = saved
        return result
    finally:
        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def report(results: list[Result]) -> None:
    width = 24
    print("\n" + f"{'':<30}" + "".join(f"{r.label:>{width}}" for r in results))

    def line(title: str, values: list[str]) -> None:
        print(f"{title:<30}" + "".join(f"{v:>{width}}" for v in values))

    line("wall s (run)", [f"{r.wall_s:.1f}" for r in results])
    line("CPU s, orchestrator", [f"{r.orchestrator_cpu_s:.1f}" for r in results])
    line("CPU s, workers", [f"{r.workers_cpu_s:.1f}" for r in results])
    line("CPU s, all", [f"{r.orchestrator_cpu_s + r.workers_cpu_s:.1f}" for r in results])
    line("peak RSS orchestrator MiB", [f"{r.orchestrator_rss_kib / 1024:.0f}" for r in results])
    line("peak RSS, one worker MiB", [f"{r.workers_rss_kib / 1024:.0f}" for r in results])
    line("worker start-up s", [f"{r.worker_start_s:.1f}" for r in results])
    line("requests, all endpoints", [str(sum(v for k, v in r.requests.items() if ":" not in k)) for r in results])
    line("adAnalytics made", [str(r.requests.get("adAnalytics", 0)) for r in results])
    line("adAnalytics lower bound", [str(r.bound) for r in results])
    line("max requests in flight", [str(r.max_in_flight) for r in results])
    for table in TABLES:
        line(f"{table} rows", [str(r.rows.get(table, 0)) for r in results])
        line(
            f"{table} bytes/row",
            [f"{r.table_bytes.get(table, 0) / max(1, r.rows.get(table, 0)):.0f}" for r in results],
        )
    line("tables = ground truth", [r.exact[:width] for r in results])
    for r in results:
        if r.differences:
            print(f"\n{r.label}: the tables differ from the ground truth:\n{r.differences}")
    print("\nsteps executed per worker:")
    for r in results:
        print(f"  {r.label}: " + ", ".join(f"{w}: {n}" for w, n in sorted(r.steps.items())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="medium", choices=("small", "medium", "large"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--max-concurrency", type=int, default=4, help="LINKEDIN_MAX_CONCURRENCY (default 4)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument(
        "--metric-value-budget",
        type=float,
        default=45e6,
        help="simulator's adAnalytics metric values per 5 minutes (LinkedIn: 45 million); 1e12 to measure CPU only",
    )
    parser.add_argument(
        "--local-budget", action="store_true", help="Celery without the Redis budget (each step its own limit)"
    )
    parser.add_argument(
        "--only", choices=("one-machine", "celery"), help="run one side only (e.g. to repeat the Celery run of large)"
    )
    parser.add_argument("--keep-logs", metavar="DIR", help="keep the workers' and orchestrators' logs in DIR")
    args = parser.parse_args()
    print(
        f"profile={args.profile} latency={args.latency_ms:.0f} ms max_concurrency={args.max_concurrency} "
        f"workers={args.workers}; daily job over the profile's history"
    )
    config = SimulatorConfig(
        profile=args.profile,
        seed=args.seed,
        latency_ms=args.latency_ms,
        metric_value_budget=int(args.metric_value_budget),
    )
    if args.keep_logs:
        Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
    with (
        SimulatorServer(config) as sim,
        contextlib.nullcontext(args.keep_logs)
        if args.keep_logs
        else tempfile.TemporaryDirectory(prefix="bench_celery_") as work,
    ):
        results = []
        if args.only != "celery":
            results.append(one_run("one machine", sim, args, Path(work), celery=False))
        if args.only != "one-machine":
            results.append(one_run(f"celery x{args.workers}", sim, args, Path(work), celery=True))
    report(results)
    print(
        f"\n(this process's CPU, the simulator's included: {resource.getrusage(resource.RUSAGE_SELF).ru_utime:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def run_on_celery(run_measured, command: list[str], env: dict[str, str], cwd: Path, workers: int = 2):
    """``bench_sync.py --executor celery``: ``run_measured(command, env, cwd)`` with the Celery executor, one account
    per metric step, the LinkedIn budget in Redis and ``workers`` workers (a private RabbitMQ virtual host) started
    beforehand with the same environment; their CPU is added to the figures and their processes to the list."""
    env.update(
        LINKEDIN_ASSETS_EXECUTOR="celery",
        LINKEDIN_ASSETS_ACCOUNTS_PER_STEP="1",
        CELERY_BACKEND_URL=f"{REDIS}/14",
        LINKEDIN_ASSETS_REDIS_URL=f"{REDIS}/15",
    )
    with private_vhost("linkedin_assets_bench") as vhost:
        env["CELERY_BROKER_URL"] = f"{RABBIT}/{vhost}"
        # the workers load the code location from the working directory the sync uses
        with running_workers(workers, {**os.environ, **env}, cwd, prefix="bench") as (started, _):
            cpu_before = sum(w.cpu_s() for w in started)
            measured = run_measured(command, env, cwd)
            measured.cpu_s += sum(w.cpu_s() for w in started) - cpu_before
            for worker in started:
                for pid, peak in worker.peaks_kib().items():
                    measured.processes[pid] = (f"celery worker {worker.name}", peak)
    return measured
