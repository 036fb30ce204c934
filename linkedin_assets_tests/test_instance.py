"""DAGSTER_HOME decides the instance (stock storages); the CLI's runs are created against the code location and
queued by Dagster; the reaper fails runs whose processes are gone (real processes: a dead one is a child that
has exited, a dead code server a socket nobody listens on)."""

import json
import os
import shutil
import socket as socketlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from linkedin_assets.cli.runs import launch, open_instance
from linkedin_assets.cli.services import code_server, daemon_alive, workspace_file
from linkedin_assets.defs.run_health import CREATOR_TAG, GRPC_INFO_TAG, dead_run_reaper, reap_dead_runs
from linkedin_assets.settings import LINKEDIN_POOL, SYNC_TAG, load_settings
from linkedin_assets_tests.dagster_services import REPO_ROOT, fresh_pg_database

# ------------------------------------------------------------------------------------------------ the instance


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh DAGSTER_HOME holding the repo's dagster.yaml, as ``make dev`` prepares it."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


@pytest.fixture
def instance(home: Path):
    with open_instance(load_settings({"DAGSTER_HOME": str(home)}).dagster_home_path) as instance:
        yield instance


def test_dagster_home_decides_the_instance_with_stock_sqlite_storage(instance: dg.DagsterInstance, home: Path):
    assert Path(instance.root_directory) == home
    assert type(instance.run_storage).__name__ == "SqliteRunStorage"
    assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
    assert (home / "history" / "runs.db").is_file()
    config = instance.get_concurrency_config()
    assert config.pool_config.pool_granularity.value == "run"
    assert config.run_queue_config.tag_concurrency_limits == [{"key": SYNC_TAG, "limit": 1}]
    assert instance.run_monitoring_enabled
    assert not instance.telemetry_enabled
    assert instance.run_coordinator.dequeue_interval_seconds == 1
    assert not daemon_alive(instance)


def test_without_dagster_home_the_instance_is_data_dagster_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).dagster_home_path == tmp_path / "data" / "dagster"


@pytest.fixture
def pg_home(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A DAGSTER_HOME holding deploy/dagster-postgres.yaml, and the URL of a fresh database for DAGSTER_PG_URL."""
    home = tmp_path / "pg_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    with fresh_pg_database() as url:
        yield home, url


@pytest.mark.postgres
def test_postgres_instance_config_uses_stock_storage_and_hides_the_password(
    pg_home: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
):
    home, url = pg_home
    # Trust auth ignores the password, which only has to stay out of what the instance shows.
    secret_url = url.replace("postgresql://postgres@", "postgresql+psycopg2://postgres:pw-s3cret@", 1)
    monkeypatch.setenv("DAGSTER_PG_URL", secret_url)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert "pw-s3cret" not in instance.info_str()
        result = dg.materialize([api_asset], instance=instance, tags={SYNC_TAG: "true"})
        assert result.success
    with dg.DagsterInstance.from_config(str(home)) as reopened:
        assert reopened.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
    assert not (home / "history").exists()


@dg.asset(pool=LINKEDIN_POOL)
def api_asset() -> None:
    """Stands for an asset that calls LinkedIn: the instance tests need a run, not LinkedIn."""


# ------------------------------------------------------------------------------------------------ runs and reaper


def _exited_pid() -> int:
    """The pid of a process that ran and exited."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def _started(instance: dg.DagsterInstance, server: dict, pid: int | None, **tags: str) -> dg.DagsterRun:
    """A run launched through the code server ``server`` whose worker, if ``pid``, reported its pid."""
    from dagster._core.events import EngineEventData  # what the run worker records; tests only

    status = dg.DagsterRunStatus.STARTED if pid else dg.DagsterRunStatus.STARTING
    run = instance.add_run(
        dg.DagsterRun(job_name="linkedin_daily_sync", status=status, tags={GRPC_INFO_TAG: json.dumps(server), **tags})
    )
    if pid:
        instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))
    return run


def test_the_reaper_fails_runs_whose_worker_or_code_server_is_gone_and_only_those(instance, tmp_path: Path):
    listening = socketlib.socket(socketlib.AF_UNIX)
    listening.bind(str(tmp_path / "alive.sock"))
    listening.listen()
    alive_server = {"host": "localhost", "socket": str(tmp_path / "alive.sock")}
    dead_server = {"host": "localhost", "socket": str(tmp_path / "gone.sock")}
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        dead_worker = _started(instance, alive_server, _exited_pid(), **{SYNC_TAG: "true"})
        live_worker = _started(instance, dead_server, worker.pid)
        starting_dead = _started(instance, dead_server, None, **{SYNC_TAG: "true"})
        starting_alive = _started(instance, alive_server, None)
        elsewhere = _started(instance, {"host": "10.1.2.3", "port": 4000}, _exited_pid())
        lines: list[str] = []

        ended = reap_dead_runs(instance, lines.append)

        runs = (dead_worker, live_worker, starting_dead, starting_alive, elsewhere)
        status = {run.run_id: instance.get_run_by_id(run.run_id).status.value for run in runs}
    finally:
        worker.kill()
        listening.close()
    assert sorted(ended) == sorted([dead_worker.run_id, starting_dead.run_id])
    assert [status[r.run_id] for r in runs] == ["FAILURE", "STARTED", "FAILURE", "STARTING", "STARTED"]
    assert any(dead_worker.run_id[:8] in line and "is gone" in line for line in lines)


def test_the_reaper_cancels_runs_a_killed_command_left_unstarted(instance):
    """``dagster job launch`` creates a run, then queues it: a command killed in between leaves it NOT_STARTED, one
    killed later leaves it QUEUED. Once the command that created it (tagged ``host:pid``) is gone it is canceled; one
    whose command still runs, or that another host or nobody created, is left alone."""
    host = socketlib.gethostname()

    def created_by(creator: str | None) -> dg.DagsterRun:
        tags = {CREATOR_TAG: creator} if creator else {}
        return instance.add_run(
            dg.DagsterRun(job_name="linkedin_daily_sync", status=dg.DagsterRunStatus.NOT_STARTED, tags=tags)
        )

    killed = created_by(f"{host}:{_exited_pid()}")
    running = created_by(f"{host}:{os.getpid()}")
    elsewhere = created_by(f"another-host:{_exited_pid()}")
    untagged = created_by(None)
    lines: list[str] = []

    assert reap_dead_runs(instance, lines.append) == [killed.run_id]
    status = [instance.get_run_by_id(r.run_id).status.value for r in (killed, running, elsewhere, untagged)]
    assert status == ["CANCELED", "NOT_STARTED", "NOT_STARTED", "NOT_STARTED"]
    assert any(killed.run_id[:8] in line and "Marked canceled" in line for line in lines)


def test_the_reaper_sensor_runs_in_the_code_location(instance, tmp_path: Path):
    dead = _started(instance, {"host": "localhost", "socket": str(tmp_path / "gone.sock")}, _exited_pid())
    result = dead_run_reaper(dg.build_sensor_context(instance=instance))
    assert "Marked 1 run(s)" in result.skip_message
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE


def test_runs_are_created_against_the_code_server_and_queued_by_dagster(instance, tmp_path: Path):
    """Runs are launched with Dagster's public ``dagster job launch`` against the command's code server: the run
    carries the code location's origin and the stock queue holds it."""
    env = {**os.environ, "DAGSTER_HOME": instance.root_directory}
    with code_server(env, tmp_path) as (socket, _):
        tags = {"dagster/partition": "2026-01-02", SYNC_TAG: "true"}
        run = launch(instance, workspace_file(socket, tmp_path), "linkedin_daily_sync", tags, {}, env)
    assert run.status == dg.DagsterRunStatus.QUEUED
    assert run.remote_job_origin.location_name == "linkedin_assets"
    assert run.remote_job_origin.repository_origin.repository_name == "__repository__"
    assert run.job_code_origin.repository_origin.code_pointer.module == "linkedin_assets.definitions"
    assert run.tags[SYNC_TAG] == "true" and run.tags["dagster/partition"] == "2026-01-02"
    listed = instance.get_runs(dg.RunsFilter(job_name="linkedin_daily_sync", statuses=[dg.DagsterRunStatus.QUEUED]))
    assert [r.run_id for r in listed] == [run.run_id]


def test_a_queued_run_whose_command_was_killed_is_canceled_by_the_reaper(instance, tmp_path: Path):
    """A command killed while its run waited in the queue: the run would run for nobody, ahead of the sync that
    replaces it. Once its creator is gone the reaper cancels it; a queued run of a live command stays queued."""
    env = {**os.environ, "DAGSTER_HOME": instance.root_directory}
    host = socketlib.gethostname()
    with code_server(env, tmp_path) as (socket, _):
        workspace = workspace_file(socket, tmp_path)
        orphan = launch(instance, workspace, "linkedin_daily_sync", {CREATOR_TAG: f"{host}:{_exited_pid()}"}, {}, env)
        live = launch(instance, workspace, "linkedin_daily_sync", {CREATOR_TAG: f"{host}:{os.getpid()}"}, {}, env)
    assert reap_dead_runs(instance, lambda _: None) == [orphan.run_id]
    assert instance.get_run_by_id(orphan.run_id).status == dg.DagsterRunStatus.CANCELED
    assert instance.get_run_by_id(live.run_id).status == dg.DagsterRunStatus.QUEUED
