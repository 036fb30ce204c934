"""A first sync of a simulator profile's whole history into PostgreSQL, run the way a user runs it, measured end to end.

The simulator runs in a process of its own (``python -m linkedin_assets.simulator``); the sync is the command a user
types, ``linkedin-assets sync --start ... --end ...``, in a subprocess with ``DAGSTER_HOME`` set to a fresh directory
and the environment the simulator printed. The Dagster instance (``--instance``, default both side by side): the repo's
``dagster.yaml`` (Dagster's embedded SQLite storage, as ``make demo`` uses it) or ``deploy/dagster-postgres.yaml`` on
a new PostgreSQL database (a deployment's instance). Printed per sync:

- wall seconds of the command, and the seconds its two runs took as Dagster records them (start to end, what the UI
  shows; the rest is the interpreter's start, imports, loading the code location and creating the runs); CPU
  seconds and peak RSS of the sync's processes (the command and every process it starts: CPU from
  ``getrusage(RUSAGE_CHILDREN)``, peak RSS per process from ``/proc/<pid>/status`` ``VmHWM`` and the largest sum over
  the process tree at one moment, sampled every 0.2 s), beside the simulator's own CPU and peak RSS;
- requests per endpoint as the simulator counted them, the ``adAnalytics`` requests against the plans' figure (the
  ``linkedin/planned_requests`` metadata) and against a lower bound computed from the simulator's data alone (per
  account and pivot: field chunks x ``ceil(rows / 14,999)``), the element-cap re-asks and the most requests in flight;
- per metric table: rows, seconds the write path was busy (``write_seconds`` metadata: converting, COPYing,
  upserting, committing; the time spent waiting for LinkedIn is left out) and rows/s, beside a plain text
  ``COPY ... FROM`` of the same rows into an empty, unindexed ``LIKE`` copy of the table.

    .venv/bin/python benchmarks/bench_sync.py --profile medium|large [--latency-ms 20] [--half-history]
        [--incremental] [--instance sqlite|postgres|both] [--pg-url URL] [--python PATH] [--keep]
        [--env NAME=VALUE ...] [--label TEXT] [--variant-env NAME=VALUE ... [--variant-label TEXT]]

``--half-history`` runs the same profile over half its days too (memory must be flat in history length) and prints the
two side by side; ``--incremental`` (default for ``medium``) then runs the daily incremental sync of the last day
(plus the 30-day lookback) on the first run's warehouse. ``--python PATH`` runs the sync with another interpreter,
e.g. a copy of the venv whose ``linkedin_assets`` is another checkout (``git worktree add /tmp/before <commit>``), for
before/after figures; the simulator is always this checkout's.

``--env NAME=VALUE`` sets a variable in every sync's environment (e.g. ``LINKEDIN_ASSETS_METRICS``);
``--variant-env NAME=VALUE`` then runs the same first sync again with those set on top, and prints both side by side:
adAnalytics requests per finder, pivot(s), granularity and facet (``by campaigns``: asked per campaign), seconds per
job as Dagster recorded them (``linkedin_reports`` is the dbt build), rows of every table of the warehouse schema, and
the campaign-level country and region requests per account and calendar month.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import psycopg

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("LINKEDIN_ASSETS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
METRIC_TABLES = ("campaign_daily_metrics", "creative_daily_metrics", "demographic_metrics")
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
ELEMENT_CAP = 15_000
FIELDS_PER_REQUEST = 18  # 20 names in `fields`, two of them dateRange and pivotValues
CELERY_LABEL = ", celery x"
INSTANCE_LABEL = {"postgres": "pg instance", "sqlite": "sqlite instance"}


# ---------------------------------------------------------------------------------------------------- /proc


def _status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def _kib(value: str | None) -> int:
    return int(value.split()[0]) if value else 0


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _children_of() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree(root: int) -> list[int]:
    tree, out, todo = _children_of(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, ()))
    return out


def _cmd(pid: int) -> str:
    try:
        parts = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [p.decode(errors="replace") for p in parts if p]
    words = [Path(words[0]).name, *words[1:]] if words else ["?"]
    return " ".join(words)[:70]


@dataclass
class Measured:
    """One command's figures."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    max_rss_kib: int = 0
    """``ru_maxrss`` of the reaped descendants: the largest single process."""
    peak_tree_kib: int = 0
    """The largest sum of VmRSS over the process tree at one sample."""
    processes: dict[int, tuple[str, int]] = field(default_factory=dict)
    """pid -> (command, VmHWM KiB)."""
    returncode: int = 0
    output: str = ""
    samples: list[tuple[float, int]] = field(default_factory=list)
    """(time.time(), VmRSS KiB of the tree) every 0.2 s."""

    @property
    def peak_process_kib(self) -> int:
        return max([self.max_rss_kib, *(hwm for _, hwm in self.processes.values())])


def run_measured(command: list[str], env: dict[str, str], cwd: Path) -> Measured:
    """Run ``command`` to completion, sampling its process tree; CPU from RUSAGE_CHILDREN (this script's only child
    at that moment: the simulator is a child too, but it is only reaped at the end)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
        measured = _sample(process)
        out.seek(0)
        measured.output = out.read()
    measured.wall_s = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    measured.cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of children is the largest child ever reaped (an earlier variant's simulator too): it only counts
    # when this command raised it
    measured.max_rss_kib = after.ru_maxrss if after.ru_maxrss > before.ru_maxrss else 0
    measured.returncode = process.returncode
    return measured


def _sample(process: subprocess.Popen) -> Measured:
    measured = Measured()
    while process.poll() is None:
        total = 0
        for pid in _tree(process.pid):
            status = _status(pid)
            if not status:
                continue
            total += _kib(status.get("VmRSS"))
            name, hwm = measured.processes.get(pid, (_cmd(pid), 0))
            measured.processes[pid] = (name, max(hwm, _kib(status.get("VmHWM"))))
        measured.peak_tree_kib = max(measured.peak_tree_kib, total)
        measured.samples.append((time.time(), total))
        time.sleep(0.2)
    return measured


# ---------------------------------------------------------------------------------------------------- simulator


@dataclass
class Simulator:
    process: subprocess.Popen
    url: str
    env: dict[str, str]

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=120) as response:
            return json.loads(response.read())

    def reset_log(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/_sim/requests", method="DELETE"), timeout=60)

    def requests(self) -> tuple[Counter, int, Counter]:
        """Requests per endpoint, the most in flight, and adAnalytics requests per :func:`analytics_key`."""
        body = self.get("/_sim/requests")
        counts = Counter(r["endpoint"] for r in body["requests"])
        pivots = Counter(analytics_key(r["query"]) for r in body["requests"] if r["endpoint"] == "adAnalytics")
        return counts, int(body.get("max_in_flight", 0)), pivots

    def cpu_s(self) -> float:
        return _cpu_seconds(self.process.pid)

    def peak_kib(self) -> int:
        return _kib(_status(self.process.pid).get("VmHWM"))


def analytics_key(query: str) -> str:
    """An adAnalytics request's finder, pivot(s), granularity and facet (``campaigns`` when asked per campaign)."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    pivots = (params.get("pivots") or params.get("pivot") or "?").removeprefix("List(").removesuffix(")")
    facet = next((name for name in ("campaigns", "creatives", "campaignGroups", "accounts") if name in params), "?")
    return f"{params.get('q', '?')} {pivots} {params.get('timeGranularity', '?')} by {facet}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_simulator(
    sizes: dict[str, int],
    latency_ms: float,
    seed: int,
    metric_value_budget: float | None = None,
    refuse: Sequence[int] = (),
) -> Simulator:
    port = free_port()
    command = [sys.executable, "-m", "linkedin_assets.simulator", "--port", str(port), "--profile", "custom",
               "--seed", str(seed), "--latency-ms", str(latency_ms),
               *(f"--{name.replace('_', '-')}={value}" for name, value in sizes.items())]  # fmt: skip
    if metric_value_budget is not None:  # LinkedIn's 45 million metric values per 5 minutes, lifted (e.g. 1e12)
        command.append(f"--metric-value-budget={int(metric_value_budget)}")
    command += [f"--refuse-account={index}" for index in refuse]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    printed: dict[str, str] = {}
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("export "):
            name, _, value = line[len("export ") :].strip().partition("=")
            printed[name] = value
        elif not line.strip() and printed:
            break
    if process.poll() is not None or not printed:
        raise SystemExit(f"the simulator did not start: {' '.join(command)}")
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/_sim/requests", timeout=5)
            break
        except OSError:
            time.sleep(0.1)
    return Simulator(process, url, printed)


def lower_bound(sizes: dict[str, int], seed: int, start: dt.date, end: dt.date, months: bool) -> int:
    """The fewest adAnalytics requests that can fetch the simulator's rows in ``[start, end]``, from its data alone."""
    from linkedin_assets.linkedin.catalogue import DAILY_METRICS, DEMOGRAPHIC_METRICS
    from linkedin_assets.linkedin.fields import MEMBER_PIVOTS
    from linkedin_assets.simulator.config import SimulatorConfig
    from linkedin_assets.simulator.data import Dataset

    dataset = Dataset(SimulatorConfig(profile="custom", seed=seed, **sizes))
    first, last = (start - dataset.history_start).days, (end - dataset.history_start).days
    chunks = math.ceil(len(DAILY_METRICS) / FIELDS_PER_REQUEST)
    demographic_chunks = math.ceil(len(DEMOGRAPHIC_METRICS) / FIELDS_PER_REQUEST)
    bound = 0
    for account in dataset.account_data:
        metrics = dataset.account_metrics(account)
        delivered = False
        for pivot in ("CAMPAIGN", "CREATIVE"):
            days = metrics.daily_table(pivot)["day"]
            rows = int(((days >= first) & (days <= last)).sum())
            bound += chunks * math.ceil(rows / (ELEMENT_CAP - 1))
            delivered = delivered or rows > 0
        if months and delivered:
            bound += demographic_chunks * len(MEMBER_PIVOTS)  # one request per MEMBER_* pivot at the least
        metrics.tables.clear()
    return bound


# ---------------------------------------------------------------------------------------------------- the sync


@dataclass
class Run:
    label: str
    measured: Measured
    sim_cpu_s: float
    sim_peak_kib: int
    requests: Counter
    max_in_flight: int
    bound: int
    metadata: dict[str, dict[str, float]]
    copies: dict[str, tuple[int, float]]
    step_peaks: dict[str, int] = field(default_factory=dict)
    """Step -> the largest sampled tree RSS (KiB) while it ran."""
    run_seconds: float = float("nan")
    """The runs' own durations as Dagster records them (start to end, summed): what the UI shows for them."""
    pivots: Counter = field(default_factory=Counter)
    """adAnalytics requests per :func:`analytics_key`."""
    job_seconds: dict[str, float] = field(default_factory=dict)
    """Job name -> its runs' start-to-end seconds."""
    tables: dict[str, int] = field(default_factory=dict)
    """Rows of every table of the warehouse schema after the sync."""
    accounts_months: tuple[int, int] = (0, 0)
    """A first sync's accounts and calendar months (the per-account-and-month figures divide by them)."""
    delivering_campaigns: int = 0
    """Campaigns with rows in campaign_daily_metrics after the sync."""


def run_seconds(dagster_home: Path, since: float) -> dict[str, float]:
    """The start-to-end seconds of the runs created after ``since``, summed per job."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    out: dict[str, float] = {}
    with dg.DagsterInstance.get() as instance:
        for r in instance.get_run_records():
            if r.create_timestamp.timestamp() >= since and r.start_time and r.end_time:
                out[r.dagster_run.job_name] = out.get(r.dagster_run.job_name, 0.0) + r.end_time - r.start_time
    return out


def step_peaks(dagster_home: Path, since: float, samples: list[tuple[float, int]]) -> dict[str, int]:
    """The largest sampled RSS while each step of the runs started after ``since`` ran (from STEP_START to its end)."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    peaks: dict[str, int] = {}
    with dg.DagsterInstance.get() as instance:
        for run in instance.get_runs():
            started: dict[str, float] = {}
            for record in instance.all_logs(run.run_id):
                event = record.dagster_event
                if event is None or not record.step_key:
                    continue
                if event.event_type == dg.DagsterEventType.STEP_START:
                    started[record.step_key] = record.timestamp
                elif event.is_step_success or event.is_step_failure:
                    first = started.get(record.step_key, record.timestamp)
                    during = [kib for at, kib in samples if first <= at <= record.timestamp and at >= since]
                    if during:
                        name = record.step_key.removeprefix("linkedin_ads__")
                        peaks[name] = max([peaks.get(name, 0), *during])
    return peaks


def materialization_metadata(dagster_home: Path, since: float) -> dict[str, dict[str, float]]:
    """The numeric metadata of each metric asset's latest materialization recorded after ``since``."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    out: dict[str, dict[str, float]] = {}
    with dg.DagsterInstance.get() as instance:
        for table in METRIC_TABLES:
            event = instance.get_latest_materialization_event(dg.AssetKey(["linkedin_ads", table]))
            if event is None or event.timestamp < since or event.asset_materialization is None:
                continue
            out[table] = {
                k: v.value for k, v in event.asset_materialization.metadata.items() if isinstance(v.value, int | float)
            }
    return out


def plain_copies(url: str, schema: str, directory: Path) -> dict[str, tuple[int, float]]:
    """Rows and seconds of a plain text ``COPY ... FROM`` of each metric table's rows into an empty ``LIKE`` copy."""
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for table in METRIC_TABLES:
            source, target = f'"{schema}"."{table}"', f'"{schema}"."plain_{table}"'
            dump = directory / f"{table}.copy"
            with dump.open("wb") as file, conn.cursor().copy(f"COPY {source} TO STDOUT") as copy:
                for chunk in copy:
                    file.write(chunk)
            conn.execute(f"CREATE TABLE {target} (LIKE {source})")
            started = time.perf_counter()
            with conn.transaction(), dump.open("rb") as file, conn.cursor().copy(f"COPY {target} FROM STDIN") as copy:
                while chunk := file.read(1 << 20):
                    copy.write(chunk)
            seconds = time.perf_counter() - started
            (rows,) = conn.execute(f"SELECT count(*) FROM {target}").fetchone()
            conn.execute(f"DROP TABLE {target}")
            dump.unlink()
            out[table] = (rows, seconds)
    return out


def sync_command(python: str | None) -> list[str]:
    """``linkedin-assets sync``: the console script next to the interpreter, else ``python -m linkedin_assets.cli``."""
    interpreter = Path(python or sys.executable)
    script = interpreter.parent / "linkedin-assets"
    if script.exists():
        return [str(interpreter), str(script), "sync"]
    return [str(interpreter), "-m", "linkedin_assets.cli", "sync"]


def run_sync(
    label: str,
    sim: Simulator,
    home: Path,
    schema: str,
    args: argparse.Namespace,
    start: dt.date,
    end: dt.date,
    bound: int,
    extra_env: dict[str, str],
) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINKEDIN_", "DAGSTER_"))}
    env.update(sim.env)
    if "DAGSTER_PG_URL" in os.environ:
        env["DAGSTER_PG_URL"] = os.environ["DAGSTER_PG_URL"]
    env.update(
        DAGSTER_HOME=str(home / "dagster"),
        LINKEDIN_ASSETS_DATABASE_URL=args.pg_url,
        LINKEDIN_ASSETS_SCHEMA=schema,
        LINKEDIN_ASSETS_DATA_DIR=str(home / "data"),
        LINKEDIN_TOKEN_STORE=str(home / "data" / "tokens.json"),
        LINKEDIN_ASSETS_START_DATE=(end - dt.timedelta(days=400)).isoformat(),
    )
    env.update(extra_env)  # --env, then the variant's own (--variant-env)
    command = [*sync_command(args.python), "--start", start.isoformat(), "--end", end.isoformat()]
    sim.reset_log()
    sim_cpu = sim.cpu_s()
    since = time.time()
    if CELERY_LABEL in label:  # --executor celery: the same command, its steps on Celery workers (bench_celery.py)
        from bench_celery import run_on_celery

        measured = run_on_celery(run_measured, command, env, home / "work", args.workers)
    else:
        measured = run_measured(command, env, home / "work")
    requests, in_flight, pivots = sim.requests()
    if args.show_output:
        print(f"--- {label}: {' '.join(command)}\n{measured.output}---")
    if measured.returncode != (1 if args.refuse_account else 0):  # a refused account fails the sync, after the rest
        print(measured.output[-4000:])
        raise SystemExit(f"{label}: `{' '.join(command)}` exited {measured.returncode}")
    if args.refuse_account:
        print(f"{label}: exit status {measured.returncode}; rows landed per table: {table_rows(args.pg_url, schema)}")
        print("\n".join(line for line in measured.output.splitlines() if line.startswith("  why:")))
    metadata = materialization_metadata(home / "dagster", since)
    try:
        peaks = step_peaks(home / "dagster", since, measured.samples)
    except Exception as exc:  # noqa: BLE001 - an older checkout may keep its instance elsewhere
        print(f"({label}: no per-step figures: {exc})")
        peaks = {}
    run = Run(label, measured, sim.cpu_s() - sim_cpu, sim.peak_kib(), requests, in_flight, bound, metadata, {})
    run.step_peaks, run.pivots = peaks, pivots
    run.job_seconds = run_seconds(home / "dagster", since)
    run.run_seconds = sum(run.job_seconds.values())
    run.tables = schema_rows(args.pg_url, schema)
    with psycopg.connect(args.pg_url) as conn:
        query = f'SELECT count(DISTINCT campaign_id) FROM "{schema}".campaign_daily_metrics'
        run.delivering_campaigns = conn.execute(query).fetchone()[0]
    return run


def table_rows(pg_url: str, schema: str) -> dict[str, int]:
    """Rows of each warehouse table of ``schema``."""
    from linkedin_assets.warehouse import HISTORY, TABLES

    with psycopg.connect(pg_url) as conn:
        names = [*TABLES, *(spec.name for spec in HISTORY.values())]
        return {name: conn.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0] for name in names}


def schema_rows(pg_url: str, schema: str) -> dict[str, int]:
    """Rows of every table of ``schema`` (the project's tables, the per-rule tables, the custom reports')."""
    with psycopg.connect(pg_url) as conn:
        names = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE'"
                " ORDER BY table_name",
                (schema,),
            )
        ]
        return {name: conn.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0] for name in names}


@contextmanager
def dagster_instance(kind: str, home: Path, pg_url: str, python: str | None) -> Iterator[None]:
    """A fresh Dagster instance in ``home``: ``sqlite`` (the repo's ``dagster.yaml``, Dagster's embedded storage) or
    ``postgres`` (``deploy/dagster-postgres.yaml`` on a new database of ``pg_url``'s server, migrated beforehand as a
    deployment's instance is). ``DAGSTER_PG_URL`` is set in this process, for the syncs and for reading their runs."""
    home.mkdir()
    if kind == "sqlite":
        if (REPO / "dagster.yaml").exists():
            shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
        yield
        return
    database = f"bench_dagster_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    # SQLAlchemy 2.1 reads postgresql:// as psycopg 3, which dagster-postgres's NOTIFY cannot use (see dagster.yaml)
    url = urlsplit(pg_url)._replace(scheme="postgresql+psycopg2", path=f"/{database}").geturl()
    os.environ["DAGSTER_PG_URL"] = url
    shutil.copy(REPO / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    try:
        subprocess.run(
            [python or sys.executable, "-m", "dagster", "instance", "migrate"],
            env={**os.environ, "DAGSTER_HOME": str(home)},
            check=True,
            capture_output=True,
        )
        yield
    finally:
        os.environ.pop("DAGSTER_PG_URL", None)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def first_sync(
    label: str,
    sizes: dict[str, int],
    args: argparse.Namespace,
    schema: str,
    instance: str,
    incremental: bool,
    extra_env: dict[str, str],
) -> list[Run]:
    """A first sync of the whole history, then (``incremental``) the daily incremental run."""
    sim = start_simulator(sizes, args.latency_ms, args.seed, args.metric_value_budget, args.refuse_account)
    home = Path(tempfile.mkdtemp(prefix="bench_sync_"))
    try:
        (home / "work").mkdir()
        with dagster_instance(instance, home / "dagster", args.pg_url, args.python):
            today = dt.datetime.now(dt.UTC).date()
            end = today - dt.timedelta(days=1)
            start = end - dt.timedelta(days=sizes["days"] - 1)
            bound = lower_bound(sizes, args.seed, start, end, True)
            runs = [run_sync(label, sim, home, schema, args, start, end, bound, extra_env)]
            runs[0].copies = plain_copies(args.pg_url, schema, home)
            months = {(start + dt.timedelta(days=i)).strftime("%Y-%m") for i in range((end - start).days + 1)}
            runs[0].accounts_months = (sizes["accounts"], len(months))
            if incremental:
                lookback = end - dt.timedelta(days=29)
                bound = lower_bound(sizes, args.seed, lookback, end, True)
                incremental_label = f"{label}: daily incremental"
                runs.append(run_sync(incremental_label, sim, home, schema, args, end, end, bound, extra_env))
            return runs
    finally:
        sim.process.terminate()
        sim.process.wait()
        shutil.rmtree(home, ignore_errors=True)


def run_variants(args: argparse.Namespace, sizes: dict[str, int]) -> list[Run]:
    """Every variant's first sync (and incremental), one after the other, each in a schema of its own."""
    env, variant_env = _pairs(args.env), _pairs(args.variant_env)
    instances = ("postgres", "sqlite") if args.instance == "both" else (args.instance,)
    variants = [(args.label or f"{args.profile}, {INSTANCE_LABEL[kind]}", sizes, kind, env) for kind in instances]
    if args.half_history:
        variants.append((f"{args.profile}, half history", {**sizes, "days": sizes["days"] // 2}, instances[0], env))
    if args.executor == "celery":
        variants.append((f"{args.profile}{CELERY_LABEL}{args.workers}", sizes, instances[0], env))
    if variant_env:
        variants.append((args.variant_label, sizes, instances[0], {**env, **variant_env}))
    runs: list[Run] = []
    schemas = []
    try:
        for label, variant, instance, extra_env in variants:
            schema = f"bench_sync_{uuid.uuid4().hex[:10]}"
            schemas.append(schema)
            incremental = args.incremental and variant is sizes and CELERY_LABEL not in label  # on the full history
            runs += first_sync(label, variant, args, schema, instance, incremental, extra_env)
    finally:
        if not args.keep:
            drop_schemas(args.pg_url, schemas)
        else:
            print(f"kept schemas {', '.join(schemas)} (and their _fivetran, _reports, _reports_staging)")
    return runs


def drop_schemas(pg_url: str, schemas: list[str]) -> None:
    """Each warehouse schema with its Fivetran views' schema and the reports' schemas."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for schema in schemas:
            for suffix in ("_reports_staging", "_reports", "_fivetran", ""):
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}{suffix}" CASCADE')


# ---------------------------------------------------------------------------------------------------- report


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def report(runs: list[Run]) -> None:
    width = max(26, *(len(r.label) + 2 for r in runs))
    print("\n" + f"{'':<28}" + "".join(f"{r.label[:width]:>{width}}" for r in runs))

    def line(title: str, values: list[str]) -> None:
        print(f"{title:<28}" + "".join(f"{v:>{width}}" for v in values))

    line("wall s", [f"{r.measured.wall_s:.1f}" for r in runs])
    line("CPU s (sync processes)", [f"{r.measured.cpu_s:.1f}" for r in runs])
    line("runs' own s (Dagster)", [f"{r.run_seconds:.1f}" for r in runs])
    line("peak RSS, one process", [mib(r.measured.peak_process_kib) for r in runs])
    line("peak RSS, tree at once", [mib(r.measured.peak_tree_kib) for r in runs])
    line("simulator CPU s", [f"{r.sim_cpu_s:.1f}" for r in runs])
    line("simulator peak RSS", [mib(r.sim_peak_kib) for r in runs])
    line("requests, all endpoints", [str(sum(r.requests.values())) for r in runs])
    planned = [int(sum(m.get("linkedin/planned_requests", 0) for m in r.metadata.values())) for r in runs]
    line("adAnalytics made", [str(r.requests.get("adAnalytics", 0)) for r in runs])
    line("adAnalytics planned", [str(p) for p in planned])
    line("adAnalytics lower bound", [str(r.bound) for r in runs])
    resplits = [int(sum(m.get("linkedin/resplits", 0) for m in r.metadata.values())) for r in runs]
    line(
        "cap re-asks (% analytics)",
        [
            f"{s} ({100 * s / max(1, r.requests.get('adAnalytics', 0)):.1f} %)"
            for s, r in zip(resplits, runs, strict=True)
        ],
    )
    line("max requests in flight", [str(r.max_in_flight) for r in runs])
    for table in METRIC_TABLES:
        line(
            f"{table[:22]} rows",
            [
                str(r.copies[table][0] if r.copies else int(r.metadata.get(table, {}).get("dagster/row_count", 0)))
                for r in runs
            ],  # fmt: skip
        )
    print("\nlargest RSS of the process tree while a step ran (top 6 steps):")
    for r in runs:
        top = sorted(r.step_peaks.items(), key=lambda item: -item[1])[:6]
        print(f"  {r.label}: " + "; ".join(f"{step} {mib(kib)}" for step, kib in top))
    print("\nper process (VmHWM):")
    for r in runs:
        print(f"  {r.label}:")
        for pid, (name, hwm) in sorted(r.measured.processes.items()):
            print(f"    {pid:>7} {mib(hwm):>10}  {name}")
    for r in runs:
        if not r.copies:
            continue
        print(f"\nwarehouse writes of {r.label} (write path busy, LinkedIn waits left out) vs a plain COPY:")
        print(f"  {'table':<24}{'rows':>10}{'write s':>9}{'rows/s':>10}{'COPY s':>9}{'rows/s':>10}{'ratio':>7}")
        for table in METRIC_TABLES:
            rows, copy_s = r.copies.get(table, (0, 0.0))
            write_s = float(r.metadata.get(table, {}).get("write_seconds", float("nan")))
            if not rows:
                print(f"  {table:<24}{rows:>10}  (nothing written)")
                continue
            print(
                f"  {table:<24}{rows:>10}{write_s:>9.2f}{rows / write_s:>10,.0f}{copy_s:>9.2f}{rows / copy_s:>10,.0f}"
                f"{write_s / copy_s:>7.1f}"
            )


def _pairs(values: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` arguments as a mapping (a value may hold commas and ``=``)."""
    pairs = [value.partition("=") for value in values]
    bad = [name for name, sep, _ in pairs if not sep or not name]
    if bad:
        raise SystemExit(f"expected NAME=VALUE, got {', '.join(bad)}")
    return {name: value for name, _, value in pairs}


def _variant_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set NAME=VALUE in every sync's environment (repeatable), e.g. LINKEDIN_ASSETS_METRICS=impressions,clicks",
    )
    parser.add_argument(
        "--variant-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="then the same first sync again with these set on top of --env (repeatable), side by side",
    )
    parser.add_argument("--label", help="the first syncs' label (default: profile, instance)")
    parser.add_argument("--variant-label", default="variant", help="the --variant-env sync's label")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="medium", choices=("small", "medium", "large"))
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulator latency per request (default 20)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--half-history", action="store_true", help="also sync half the days, side by side")
    parser.add_argument("--days", type=int, help="sync this many days instead of the profile's")
    parser.add_argument(
        "--incremental",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="then run the daily incremental sync (default: on for medium)",
    )
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument(
        "--instance",
        default="both",
        choices=("sqlite", "postgres", "both"),
        help="the Dagster instance's storage: embedded SQLite (make demo), PostgreSQL (deploy/dagster-postgres.yaml, "
        "on --pg-url's server), or both side by side (default)",
    )
    parser.add_argument("--python", help="interpreter that runs the sync (another checkout, for before/after figures)")
    parser.add_argument("--keep", action="store_true", help="keep the schemas (their names are printed)")
    parser.add_argument("--show-output", action="store_true", help="print what the sync command printed")
    parser.add_argument(
        "--executor",
        default="in_process",
        choices=("in_process", "celery"),
        help="celery: then the same sync on --workers Celery workers (one account per step), side by side",
    )
    parser.add_argument("--workers", type=int, default=2, help="Celery workers for --executor celery (default 2)")
    parser.add_argument(
        "--metric-value-budget",
        type=float,
        help="the simulator's adAnalytics metric values per 5 minutes (default LinkedIn's 45 million); 1e12 lifts the "
        "throttle, to measure the sync rather than LinkedIn's pauses",
    )
    parser.add_argument(
        "--refuse-account",
        type=int,
        action="append",
        default=[],
        metavar="INDEX",
        help="LinkedIn refuses the INDEX-th account (0-based; repeatable): the sync exits 1 after the others land",
    )
    _variant_options(parser)
    args = parser.parse_args()
    if args.incremental is None:
        args.incremental = args.profile == "medium"
    return args


CAMPAIGN_DEMOGRAPHICS = ("MEMBER_COUNTRY_V2", "MEMBER_REGION_V2")


def report_requests(runs: list[Run]) -> None:
    """adAnalytics requests per finder, pivot, granularity and facet; seconds per job; rows per table; what the
    campaign-level demographics cost per account and month."""
    width = max(26, *(len(r.label) + 2 for r in runs))
    keys = sorted({key for r in runs for key in r.pivots})
    tables = sorted({table for r in runs for table in r.tables})
    jobs = sorted({job for r in runs for job in r.job_seconds})
    key_width = max([40, *(len(k) + 2 for k in keys), *(len(t) + 7 for t in tables), *(len(j) + 9 for j in jobs)])

    def line(title: str, values: list[str]) -> None:
        print(f"{title:<{key_width}}" + "".join(f"{v:>{width}}" for v in values))

    print("\nadAnalytics requests per finder, pivot(s), granularity and facet:")
    line("", [r.label[: width - 2] for r in runs])
    for key in keys:
        line(key, [str(r.pivots.get(key, 0)) for r in runs])
    line("adAnalytics, all", [str(sum(r.pivots.values())) for r in runs])
    line("requests, all endpoints", [str(sum(r.requests.values())) for r in runs])
    line("wall s (command)", [f"{r.measured.wall_s:.1f}" for r in runs])
    for job in jobs:
        line(f"run s, {job}", [f"{r.job_seconds.get(job, float('nan')):.1f}" for r in runs])
    for table in tables:
        line(f"rows, {table}", [f"{r.tables.get(table, 0):,}" for r in runs])
    print("\ncampaign-level demographics (adAnalytics by campaigns, MEMBER_COUNTRY_V2 / MEMBER_REGION_V2):")
    for r in runs:
        accounts, months = r.accounts_months
        if not accounts:
            continue
        asked = sum(n for key, n in r.pivots.items() if key.endswith("by campaigns") and key.split()[1] in
                    CAMPAIGN_DEMOGRAPHICS)  # fmt: skip
        print(
            f"  {r.label}: {asked} requests, {accounts} accounts x {months} months: "
            f"{asked / (accounts * months):.1f} per account and month; delivering campaigns "
            f"{r.delivering_campaigns} x 2 pivots = {2 * r.delivering_campaigns}"
        )


def main() -> int:
    args = parse_args()

    from linkedin_assets.simulator.config import PROFILES

    profile = PROFILES[args.profile]
    sizes = {
        "accounts": profile.accounts,
        "campaigns_per_account": profile.campaigns_per_account,
        "creatives_per_campaign": profile.creatives_per_campaign,
        "days": args.days or profile.days,
    }
    print(
        f"profile={args.profile} ({profile.accounts} accounts x {profile.campaigns_per_account} campaigns x "
        f"{profile.creatives_per_campaign} creatives, {sizes['days']} days) latency={args.latency_ms:.0f} ms "
        f"sync={args.python or sys.executable}"
    )
    runs = run_variants(args, sizes)
    report(runs)
    report_requests(runs)
    if args.half_history and len(runs) >= 2:
        full = runs[0]
        half = next(r for r in runs if "half" in r.label)
        ratio = full.measured.peak_tree_kib / max(1, half.measured.peak_tree_kib)
        print(f"\npeak RSS full / half history: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
