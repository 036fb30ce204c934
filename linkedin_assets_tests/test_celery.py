"""The daily sync on two Celery workers: Dagster's Celery executor, the local RabbitMQ, Redis, PostgreSQL.

One test, three runs of the simulator's ``medium`` profile (one account per metric step):

1. a full sync: the tables equal the ground truth, the per-account steps ran on both workers (the worker that ran a
   step is in the step's "Executing steps ... in celery worker" engine event), and the LinkedIn concurrency limit
   held across the workers (from the simulator's request log);
2. the metrics again, with the shared LinkedIn budget paused so that the per-account steps wait inside their first
   request, one on each worker: worker A is killed whole (SIGKILL to its process group: ``dagster-celery``, the
   ``celery worker`` and its pool process; a lost machine), then only the process executing worker B's step (an OOM
   kill). A's task was never acknowledged (``task_acks_late``): RabbitMQ hands it to worker B, which executes the
   step again in the same run, successfully. B's task fails with ``WorkerLostError``; the run fails once the tasks
   already queued are done (it does not hang);
3. Dagster's re-execution of that run from failure, on worker B alone: only what did not succeed runs again, and the
   tables are right again.

Isolation: a RabbitMQ virtual host, a Dagster instance database and a Redis budget namespace of the test's own
(the budget namespace is per LinkedIn app, and the simulator mints an app per server). Every wait polls a
condition against a deadline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import dagster as dg
import psycopg
import pytest

from linkedin_assets.defs.assets.common import KEY_PREFIX
from linkedin_assets.defs.partitions import RANGE_END, RANGE_START
from linkedin_assets.linkedin.redis_budget import RedisBudget
from linkedin_assets_tests import ground_truth
from linkedin_assets_tests.celery_cluster import (
    INSTANCE_YAML,
    REPO,
    alive,
    private_vhost,
    running_workers,
    steps_by_worker,
    wait_for,
)
from linkedin_assets_tests.conftest import ADMIN_URL

pytestmark = [pytest.mark.celery, pytest.mark.postgres]

REDIS = os.environ.get("LINKEDIN_ASSETS_TEST_REDIS_HOST", "redis://127.0.0.1:6379")
RABBIT = os.environ.get("LINKEDIN_ASSETS_TEST_AMQP", "pyamqp://guest:guest@127.0.0.1:5672")
MAX_CONCURRENCY = 2
METRIC_ASSETS = ("campaign_daily_metrics", "creative_daily_metrics")


# -- isolated services -----------------------------------------------------------------------------------------


@pytest.fixture
def vhost() -> Iterator[str]:
    """A RabbitMQ virtual host for this test only: no stale task of an earlier run can reach its workers."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed: cannot create a private RabbitMQ virtual host")
    with private_vhost("linkedin_assets_test") as name:
        yield name


@pytest.fixture
def instance_db() -> Iterator[str]:
    """A PostgreSQL database for the Dagster instance (runs, events): the workers write their step events there."""
    name = f"linkedin_assets_celery_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = ADMIN_URL.rpartition("/")[0]
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- reading the run back ----------------------------------------------------------------------------------------


def started_steps(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    return {entry.step_key for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}


def finished_steps(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    return {
        entry.step_key
        for entry in instance.all_logs(
            run_id, of_type={dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
        )
    }


def is_account_step(step_key: str) -> bool:
    """A step that syncs accounts of a metric asset: a mapped shard step (``...[<shard>]``)."""
    return "[" in step_key and any(asset in step_key for asset in METRIC_ASSETS)


# -- the test ----------------------------------------------------------------------------------------------------


def test_sync_on_two_celery_workers_then_kill_one_whole_and_reexecute(
    make_simulator, pg_url, pg_schema, vhost, instance_db, tmp_path, monkeypatch
):
    sim = make_simulator(profile="medium", seed=3, latency_ms=20)
    dataset = sim.state.dataset
    start, end = dataset.history_start, dataset.today - dt.timedelta(days=1)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    env = {
        **os.environ,
        **sim.client_env(),
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": instance_db.replace("postgresql://", "postgresql+psycopg2://", 1),
        "LINKEDIN_ASSETS_DATA_DIR": str(tmp_path / "data"),
        "LINKEDIN_TOKEN_STORE": str(tmp_path / "tokens.json"),
        "LINKEDIN_ASSETS_DATABASE_URL": pg_url,
        "LINKEDIN_ASSETS_SCHEMA": pg_schema,
        "LINKEDIN_ASSETS_START_DATE": start.isoformat(),
        "LINKEDIN_ASSETS_EXECUTOR": "celery",
        "CELERY_BROKER_URL": f"{RABBIT}/{vhost}",
        "CELERY_BACKEND_URL": f"{REDIS}/14",
        "LINKEDIN_ASSETS_REDIS_URL": f"{REDIS}/15",
        "LINKEDIN_ASSETS_ACCOUNTS_PER_STEP": "1",
        "LINKEDIN_MAX_CONCURRENCY": str(MAX_CONCURRENCY),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("LINKEDIN_ACCOUNT_IDS", None)
    monkeypatch.setenv("DAGSTER_PG_URL", env["DAGSTER_PG_URL"])
    range_tags = json.dumps({RANGE_START: start.isoformat(), RANGE_END: end.isoformat()})

    def orchestrate(*args: str) -> subprocess.Popen:
        """The run's orchestrating process, as a run launcher starts it (here: ``celery_runs``)."""
        with open(tmp_path / f"orchestrator-{args[0]}-{time.monotonic_ns()}.log", "wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "linkedin_assets_tests.celery_runs", *args],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    with (
        dg.DagsterInstance.from_config(str(home)) as instance,  # created here, before the workers open it
        running_workers(2, env, tmp_path, create_instance=False) as (workers, hostnames),
    ):
        worker_a, worker_b = workers

        def newest_run() -> dg.DagsterRun | None:
            runs = instance.get_runs(limit=1)
            return runs[0] if runs else None

        # 1. A full sync on both workers.
        sim.state.reset_log()
        assert orchestrate("run", range_tags).wait(timeout=300) == 0
        first = newest_run()
        assert first is not None and first.status == dg.DagsterRunStatus.SUCCESS
        ground_truth.assert_warehouse_matches(sim, pg_url, pg_schema, written_by=first.run_id)
        account_steps = {
            worker: {s for s in steps if is_account_step(s)}
            for worker, steps in steps_by_worker(instance, first.run_id).items()
        }
        assert {w for w, steps in account_steps.items() if steps} == set(hostnames.values()), account_steps
        assert 1 <= sim.state.max_in_flight() <= MAX_CONCURRENCY

        # 2. The metrics again, with the tables emptied and the shared LinkedIn budget paused (requests wait), so that
        #    each worker is executing a per-account step when it is hit: worker A is killed whole (a lost machine),
        #    then only the process executing worker B's step (an OOM kill).
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for table in METRIC_ASSETS:
                conn.execute(f'TRUNCATE "{pg_schema}"."{table}"')
        budget = RedisBudget(
            env["LINKEDIN_ASSETS_REDIS_URL"], MAX_CONCURRENCY, namespace=f"linkedin_assets:budget:{sim.client_id}"
        )
        asyncio.run(budget.hold(600))
        sim.state.reset_log()
        orchestrator = orchestrate("run", range_tags, ",".join(f"{KEY_PREFIX}/{a}" for a in METRIC_ASSETS))
        host_a, host_b = hostnames[worker_a.name], hostnames[worker_b.name]
        try:
            second = wait_for(
                "the metrics run to start",
                lambda: (run := newest_run()) is not None and run.run_id != first.run_id and run,
                timeout=60,
            )

            def waiting_step_on(host: str) -> str | None:
                on_host = steps_by_worker(instance, second.run_id).get(host, set())
                started = {s for s in on_host if is_account_step(s)} & started_steps(instance, second.run_id)
                waiting = started - finished_steps(instance, second.run_id)
                return min(waiting) if waiting else None

            killed_on_a = wait_for("a per-account step started on worker A", lambda: waiting_step_on(host_a), 120)
            killed_on_b = wait_for("a per-account step started on worker B", lambda: waiting_step_on(host_b), 120)
            victims = worker_a.kill()
            wait_for("every process of worker A to be gone", lambda: not any(alive(p) for p in victims), timeout=30)
            victims = worker_b.execution_processes()
            assert victims, worker_b.tail()
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            wait_for("worker B's execution process to die", lambda: not any(alive(p) for p in victims), timeout=30)
            assert not finished_steps(instance, second.run_id) & {killed_on_a, killed_on_b}
            assert not sim.state.request_log  # nothing reached LinkedIn: both steps were waiting for the budget
        finally:
            asyncio.run(budget.resume())
        # Worker A's task was never acknowledged (acks late): RabbitMQ hands it to worker B as soon as A's connection
        # drops, and B executes the step again in the same run. B's own step failed with WorkerLostError (its task
        # acknowledged): the run fails once the tasks already queued are done, rather than waiting forever.
        try:
            assert orchestrator.wait(timeout=300) == 1
        except subprocess.TimeoutExpired:
            orchestrator.kill()
            raise AssertionError("the run with a killed worker did not end\n" + worker_b.tail()) from None
        assert instance.get_run_by_id(second.run_id).status == dg.DagsterRunStatus.FAILURE
        on_b = steps_by_worker(instance, second.run_id).get(host_b, set())
        assert killed_on_a in on_b, on_b
        succeeded = {
            entry.step_key for entry in instance.all_logs(second.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
        }
        assert killed_on_a in succeeded and killed_on_b not in succeeded

        # 3. Re-execute the failed run from failure on the surviving worker: worker B's killed step runs again, and the
        #    tables equal the ground truth again.
        assert orchestrate("reexecute", second.run_id).wait(timeout=300) == 0
        third = newest_run()
        assert third.parent_run_id == second.run_id and third.status == dg.DagsterRunStatus.SUCCESS
        assert killed_on_b in steps_by_worker(instance, third.run_id).get(host_b, set())
        assert killed_on_a not in set().union(*steps_by_worker(instance, third.run_id).values())
        expected = ground_truth.expected_tables(dataset, start, end).tables
        with psycopg.connect(pg_url) as conn:
            actual = ground_truth.read_tables(conn, pg_schema, expected)
        ground_truth.assert_tables_equal(expected, actual)
        for table in METRIC_ASSETS:
            assert {row["_dagster_run_id"] for row in actual[table]} <= {second.run_id, third.run_id}
