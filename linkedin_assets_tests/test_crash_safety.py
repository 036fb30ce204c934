"""Crash safety, proven: ``linkedin-assets sync`` killed with SIGKILL (its whole process group) at a seeded moment,
then a normal sync, converges to exactly the tables of an uninterrupted one.

After every kill: no process of the group survives; ``latest.json`` and the token store, if present, parse. After the
clean sync: it exits 0 (nothing left STARTED or QUEUED blocks it), no run is left in progress, every table equals the
ground truth (every column), the snapshot parses. The Dagster instance is a ``DAGSTER_HOME`` of the test (SQLite, the
repo's ``dagster.yaml``), the warehouse a PostgreSQL schema of the test, LinkedIn the simulator in this process.

The harness (``CrashHarness``) is also what ``benchmarks/soak.py`` runs for its kill trials.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from linkedin_assets_tests.ground_truth import (
    Expected,
    assert_tables_equal,
    diff_count,
    expected_tables,
    months_between,
    read_tables,
    request_lower_bound,
)

REPO = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "linkedin-assets"
IN_PROGRESS = ("STARTING", "STARTED", "CANCELING", "QUEUED")
"""Statuses of a run that holds the queue's sync slot or waits for it: left behind, they would block a sync."""
ORPHANED = ("NOT_STARTED",)
"""A run created but never submitted (the CLI killed between creating and enqueuing it): it blocks nothing."""


@dataclass
class KillTrial:
    """What one kill-and-recover trial saw."""

    moment: str
    killed_after_requests: int
    killed_after_s: float
    recovery_s: float
    recovery_exit: int
    rows_compared: int
    differences: int
    left_in_progress: list[str]
    output: str = field(repr=False, default="")
    orphans: list[str] = field(default_factory=list)
    """Runs left NOT_STARTED (created, never queued): they block nothing, but stay listed in the UI."""
    stranded: list[str] = field(default_factory=list)
    """Runs the kill left in progress or created and not queued (none when it landed between or after the runs)."""

    @property
    def reaped(self) -> bool:
        """The sync after the kill found the killed run in progress and marked it failed (or canceled)."""
        return "Marked failed" in self.output or "Marked canceled" in self.output


class CrashHarness:
    """A private DAGSTER_HOME, data dir and warehouse schema for syncs of ``sim`` run as real CLI processes."""

    def __init__(self, sim: Any, pg_url: str, root: Path, schema: str | None = None) -> None:
        self.sim = sim
        self.pg_url = pg_url
        self.root = root
        self.schema = schema or f"crash_{uuid.uuid4().hex[:10]}"
        self.home = root / "dagster_home"
        self.data = root / "data"
        self.home.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "dagster.yaml", self.home / "dagster.yaml")
        dataset = sim.state.dataset
        self.start = dataset.history_start
        self.end = dataset.today - dt.timedelta(days=1)

    @property
    def snapshot_dir(self) -> Path:
        return self.data / "snapshots"

    @property
    def token_store(self) -> Path:
        return self.data / "linkedin_tokens.json"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LINKEDIN_", "DAGSTER_"))}
        env.update(self.sim.client_env())
        env.pop("LINKEDIN_ACCESS_TOKEN", None)  # every sync refreshes and writes the token store, crash or not
        env.update(
            {
                "DAGSTER_HOME": str(self.home),
                "LINKEDIN_ASSETS_DATA_DIR": str(self.data),
                "LINKEDIN_ASSETS_DATABASE_URL": self.pg_url,
                "LINKEDIN_ASSETS_SCHEMA": self.schema,
                "LINKEDIN_TOKEN_STORE": str(self.token_store),
                "LINKEDIN_ASSETS_START_DATE": self.start.isoformat(),
            }
        )
        return env

    def command(self) -> list[str]:
        return [str(CLI), "sync", "--start", self.start.isoformat(), "--end", self.end.isoformat()]

    def spawn(self) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(),
            cwd=self.root,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: the kill reaches every process it started
        )

    def kill_group(self, process: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()
        deadline = time.monotonic() + 10
        while True:  # the group is gone once no member is left (children may take a moment to be reaped)
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"processes of the killed sync's group {process.pid} survived SIGKILL")
            time.sleep(0.05)

    def run_to_end(self, timeout_s: float = 300) -> tuple[int, str, float]:
        started = time.monotonic()
        done = subprocess.run(self.command(), cwd=self.root, env=self.env(), capture_output=True, text=True,
                              timeout=timeout_s, start_new_session=True)  # fmt: skip
        return done.returncode, done.stdout + done.stderr, time.monotonic() - started

    def kill_at(self, rng: random.Random, total_requests: int, duration_s: float = 6.0) -> tuple[str, int, float]:
        """Start a sync and SIGKILL its group at a moment drawn from ``rng``: after the Nth request the simulator
        answered (1 <= N <= ``total_requests``), or N ms after start (up to ``duration_s``: start-up, planning,
        writes, the snapshot)."""
        self.sim.state.reset_log()
        process = self.spawn()
        started = time.monotonic()
        if rng.random() < 0.7:
            target = rng.randint(1, max(1, total_requests))
            moment = f"after request {target}/{total_requests}"
            while len(self.sim.state.request_log) < target and process.poll() is None:
                time.sleep(0.002)
        else:
            delay = rng.uniform(0.2, duration_s)
            moment = f"after {delay * 1000:.0f} ms"
            while time.monotonic() - started < delay and process.poll() is None:
                time.sleep(0.002)
        elapsed = time.monotonic() - started
        requests = len(self.sim.state.request_log)
        finished_first = process.poll() is not None
        self.kill_group(process)
        if finished_first:
            moment += " (the sync had already finished)"
        return moment, requests, elapsed

    def check_files(self) -> None:
        """No half-written snapshot, no corrupt token store: whatever exists parses."""
        latest = self.snapshot_dir / "latest.json"
        if latest.exists():
            json.loads(latest.read_text())
        if self.token_store.exists():
            stored = json.loads(self.token_store.read_text())
            assert isinstance(stored, dict) and stored.get("access_token")

    def runs_in_progress(self, statuses: tuple[str, ...] = IN_PROGRESS) -> list[str]:
        import dagster as dg

        with dg.DagsterInstance.from_config(str(self.home)) as instance:
            return [
                f"{r.run_id[:8]} {r.job_name} {r.status.value}"
                for r in instance.get_runs()
                if r.status.value in statuses
            ]

    def last_run_ids(self) -> dict[str, str]:
        import dagster as dg

        with dg.DagsterInstance.from_config(str(self.home)) as instance:
            out: dict[str, str] = {}
            for run in reversed(instance.get_runs()):  # oldest first: the last successful run of each job wins
                if run.status == dg.DagsterRunStatus.SUCCESS:
                    out[run.job_name] = run.run_id
            return out

    def expected(self) -> Expected:
        return expected_tables(self.sim.state.dataset, self.start, self.end, months_between(self.start, self.end))

    def actual(self, tables) -> dict[str, list[dict[str, Any]]]:
        with psycopg.connect(self.pg_url) as conn:
            return read_tables(conn, self.schema, tables)

    def trial(self, rng: random.Random, total_requests: int, duration_s: float = 6.0) -> KillTrial:
        moment, requests, elapsed = self.kill_at(rng, total_requests, duration_s)
        stranded = self.runs_in_progress((*IN_PROGRESS, *ORPHANED))
        self.check_files()
        code, output, recovery = self.run_to_end()
        self.check_files()
        expected = self.expected().tables
        compared, differences = diff_count(expected, self.actual(expected)) if code == 0 else (0, -1)
        return KillTrial(moment, requests, elapsed, recovery, code, compared, differences, self.runs_in_progress(),
                         output, self.runs_in_progress(ORPHANED), stranded)  # fmt: skip

    def drop(self) -> None:
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


# -- the test ---------------------------------------------------------------------------------------------------


@pytest.fixture
def harness(make_simulator, pg_url, tmp_path):
    # 15 ms per request: a small sync takes a few seconds, so kills land inside it, not after it.
    sim = make_simulator(profile="small", seed=9, latency_ms=15, access_token_ttl_s=3600)
    crash = CrashHarness(sim, pg_url, tmp_path)
    yield crash
    crash.drop()


@pytest.mark.postgres
def test_killed_syncs_converge_to_the_uninterrupted_tables(harness):
    """Two kills at seeded moments (each followed by a normal sync), on top of each other's leftovers. An
    uninterrupted sync leaves exactly the ground truth (``test_exact_sync``), so converging means equal to it."""
    bound = request_lower_bound(harness.sim.state.dataset, harness.expected())
    total = sum(v for k, v in bound.items() if ":" not in k)  # the requests of one whole sync, about
    rng = random.Random(20261128)
    trials = [harness.trial(rng, total) for _ in range(2)]

    for trial in trials:
        assert trial.recovery_exit == 0, f"{trial.moment}: the sync after the kill failed:\n{trial.output}"
        assert trial.left_in_progress == [], trial
        assert trial.differences == 0, trial
    # A kill can land between the two runs or after the last one (a small sync takes a few seconds): only a kill that
    # left a run in progress (or created and not queued) leaves something for the next sync to reap.
    mid_run = [t for t in trials if t.stranded]
    assert mid_run, "a kill should land while a run is in progress"
    assert all(t.reaped for t in mid_run), [(t.stranded, t.output[:2000]) for t in mid_run if not t.reaped]
    expected = harness.expected().tables
    ids = harness.last_run_ids()
    actual = harness.actual(expected)
    # every row of a rewritten table comes from the last successful run of its job (demographic_values keeps the
    # rows of names resolved earlier: only values still without a name are written again)
    daily = (
        "accounts",
        "campaign_groups",
        "campaigns",
        "creatives",
        "campaign_daily_metrics",
        "creative_daily_metrics",
    )
    assert_tables_equal({t: expected[t] for t in daily}, actual, written_by=ids["linkedin_daily_sync"])
    assert_tables_equal({"demographic_metrics": expected["demographic_metrics"]}, actual,
                        written_by=ids["linkedin_monthly_sync"])  # fmt: skip
    assert_tables_equal({"demographic_values": expected["demographic_values"]}, actual)
    document = json.loads((harness.snapshot_dir / "latest.json").read_text())
    assert document["accounts"]
