"""DAGSTER_HOME decides the instance (stock storages), settings come from the environment, and the CLI's queue rules.

``linkedin_assets.cli.runs`` is the CLI's side of the deployment: these tests drive its queue rule and its reaper
on a real SQLite instance with real processes (a dead one is a child that has exited).
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from linkedin_assets.cli import runs as deployment
from linkedin_assets.settings import LINKEDIN_POOL, SYNC_TAG, SettingsError, load_settings
from linkedin_assets_tests.dagster_services import ADMIN_URL, REPO_ROOT, fresh_pg_database

# ------------------------------------------------------------------------------------------------ the instance


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DAGSTER_HOME holding the repo's dagster.yaml, as ``make dev`` prepares it."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def instance(home: Path):
    with deployment.open_instance() as instance:
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
    assert not deployment.daemon_alive(instance)


def test_without_dagster_home_the_instance_is_data_dagster_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert deployment.dagster_home() == tmp_path / "data" / "dagster"


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


def _sessions_opened(database_url: str) -> int:
    """Connections PostgreSQL has accepted to ``database_url``'s database so far (its cumulative statistics)."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        name = database_url.rsplit("/", 1)[1]
        return conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (name,)).fetchone()[0]


@pytest.mark.postgres
def test_the_cli_instance_writes_events_over_held_postgres_connections(
    pg_home: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
):
    """A sync stores hundreds of events; Dagster's PostgreSQL storages would open a server connection for each write
    (a backend process each: 11.4 s instead of 7.0 s for a medium first sync) unless the process holds a pool."""
    home, url = pg_home
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_URL", url.replace("postgresql://", "postgresql+psycopg2://", 1))
    with deployment.open_instance() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization("first"))
        before = _sessions_opened(url)
        for day in range(1, 41):
            instance.report_runless_asset_event(dg.AssetMaterialization("metrics", partition=f"day-{day}"))
        opened = _sessions_opened(url) - before
        assert len(instance.fetch_materializations(dg.AssetKey("metrics"), limit=100).records) == 40
    assert opened <= 5, f"{opened} connections opened for 40 events"


@dg.asset(pool=LINKEDIN_POOL)
def api_asset() -> None:
    """Stands for an asset that calls LinkedIn: the instance tests need a run, not LinkedIn."""


# ------------------------------------------------------------------------------------------------ settings


def test_settings_are_read_from_the_environment_when_asked():
    env = {
        "LINKEDIN_ASSETS_LOOKBACK_DAYS": "7",
        "LINKEDIN_ASSETS_SNAPSHOT_DAYS": "30",
        "LINKEDIN_ASSETS_DEMOGRAPHICS_LEVEL": "campaign",
        "LINKEDIN_ASSETS_START_DATE": "2024-02-01",
        "LINKEDIN_ASSETS_EXECUTOR": "multiprocess",
        "LINKEDIN_ASSETS_ACCOUNTS_PER_STEP": "5",
        "LINKEDIN_REQUESTS_PER_SECOND": "2.5",
        "LINKEDIN_ASSETS_DATA_DIR": "/srv/linkedin",
        "LINKEDIN_ASSETS_SCHEDULE_CRON": "30 4 * * 1-5",
        "LINKEDIN_ASSETS_FRESHNESS_HOUR": "11",
    }
    settings = load_settings(env)
    assert (settings.lookback_days, settings.snapshot_days, settings.demographics_level) == (7, 30, "campaign")
    assert (settings.start_date, settings.executor, settings.accounts_per_step) == ("2024-02-01", "multiprocess", 5)
    assert settings.requests_per_second == 2.5
    assert settings.warehouse_file == "/srv/linkedin/warehouse.duckdb"
    assert settings.token_store == "/srv/linkedin/linkedin_tokens.json"
    assert settings.schedule_cron == "30 4 * * 1-5"
    assert settings.freshness_hour == 11
    defaults = load_settings({})
    assert (defaults.lookback_days, defaults.snapshot_days, defaults.demographics_level) == (30, 90, "account")
    assert (defaults.executor, defaults.accounts_per_step, defaults.requests_per_second) == ("in_process", 0, None)
    assert defaults.freshness_hour == 9


def test_state_paths_default_to_the_working_directory_not_the_package(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.warehouse_file == str(tmp_path / "data" / "warehouse.duckdb")
    assert settings.snapshots == str(tmp_path / "data" / "snapshots")
    assert settings.token_store == str(tmp_path / "data" / "linkedin_tokens.json")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LINKEDIN_ASSETS_LOOKBACK_DAYS", "a week"),
        ("LINKEDIN_ASSETS_SNAPSHOT_DAYS", "0"),
        ("LINKEDIN_ASSETS_DEMOGRAPHICS_LEVEL", "member"),
        ("LINKEDIN_ASSETS_START_DATE", "2024-13-01"),
        ("LINKEDIN_ASSETS_EXECUTOR", "dask"),
        ("LINKEDIN_ASSETS_ACCOUNTS_PER_STEP", "-1"),
        ("LINKEDIN_REQUESTS_PER_SECOND", "0"),
        ("LINKEDIN_ASSETS_FRESHNESS_HOUR", "24"),
    ],
)
def test_a_bad_setting_names_its_variable(variable: str, value: str):
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


def _in_a_fresh_process(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LINKEDIN_", "DAGSTER_"))}
    done = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_code_location_takes_its_settings_from_the_environment_it_loads_in(tmp_path: Path):
    code = """
import json
import dagster as dg
from linkedin_assets.definitions import defs
from linkedin_assets.defs.partitions import daily_partitions
settings = defs.resources["settings"]
linkedin = defs.resources["linkedin"]
print(json.dumps({
    "first_day": daily_partitions.get_first_partition_key(),
    "lookback": settings.lookback_days, "snapshot": settings.snapshot_days,
    "level": settings.demographics_level, "per_step": settings.accounts_per_step,
    "freshness_hour": settings.freshness_hour_utc,
    "secret_is_env_var": isinstance(linkedin.client_secret, dg.EnvVar),
    "secret_shown_as": linkedin.client_secret.env_var_name,
    "rps": linkedin.requests_per_second,
    "duckdb": defs.resources["warehouse"].duckdb_path,
    "executor": defs.resolve_job_def("linkedin_daily_sync").executor_def.name,
    "cron": [s.cron_schedule for s in defs.schedules][0],
}))
"""
    import json

    out = json.loads(
        _in_a_fresh_process(
            code,
            LINKEDIN_ASSETS_START_DATE="2024-03-05",
            LINKEDIN_ASSETS_LOOKBACK_DAYS="3",
            LINKEDIN_ASSETS_SNAPSHOT_DAYS="14",
            LINKEDIN_ASSETS_DEMOGRAPHICS_LEVEL="campaign",
            LINKEDIN_ASSETS_ACCOUNTS_PER_STEP="2",
            LINKEDIN_CLIENT_SECRET="s3cret-value",
            LINKEDIN_REQUESTS_PER_SECOND="4",
            LINKEDIN_ASSETS_DATA_DIR=str(tmp_path),
            LINKEDIN_ASSETS_EXECUTOR="multiprocess",
            LINKEDIN_ASSETS_SCHEDULE_CRON="15 3 * * *",
            LINKEDIN_ASSETS_FRESHNESS_HOUR="7",
        )
    )
    assert out == {
        "first_day": "2024-03-05",
        "lookback": 3,
        "snapshot": 14,
        "level": "campaign",
        "per_step": 2,
        "freshness_hour": 7,
        "secret_is_env_var": True,
        "secret_shown_as": "LINKEDIN_CLIENT_SECRET",
        "rps": 4.0,
        "duckdb": str(tmp_path / "warehouse.duckdb"),
        "executor": "multiprocess",
        "cron": "15 3 * * *",
    }


def test_the_production_import_path_needs_no_simulator():
    code = """
import sys
import linkedin_assets.definitions, linkedin_assets.cli, linkedin_assets.cli.runs
print(sorted(m for m in sys.modules if m.split(".")[0] in ("starlette", "uvicorn") or ".simulator" in m))
"""
    assert _in_a_fresh_process(code) == "[]"


# ------------------------------------------------------------------------------------------------ queue and reaper


def _dead_process() -> str:
    """The identity a process had: a child that ran and exited."""
    child = subprocess.run(
        [sys.executable, "-c", "from linkedin_assets.cli.runs import this_process; print(this_process())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return child.stdout.strip()


def _run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus, job: str = "linkedin_daily_sync", **tags: str):
    """A run in ``status``; queued runs are made as the CLI makes them (Dagster requires an origin for those)."""
    if status != dg.DagsterRunStatus.QUEUED:
        return instance.add_run(dg.DagsterRun(job_name=job, status=status, tags=tags))
    with deployment.code_location(instance) as location:
        run = deployment.create_run(instance, location, job, {}, {})
    deployment.enqueue(instance, run)
    instance.add_run_tags(run.run_id, tags)
    return instance.get_run_by_id(run.run_id)


def test_reaper_fails_runs_whose_process_is_gone_and_cancels_their_queued_runs(instance: dg.DagsterInstance):
    started, queued = dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.QUEUED
    dead = _dead_process()
    killed = _run(instance, started, **{SYNC_TAG: "true", deployment.PROCESS_TAG: dead})
    orphan = _run(instance, queued, **{SYNC_TAG: "true", deployment.SUBMITTER_TAG: dead})
    alive = _run(instance, started, **{SYNC_TAG: "true", deployment.PROCESS_TAG: deployment.this_process()})
    remote = _run(instance, started, **{deployment.PROCESS_TAG: "another-host:1:1"})
    by_daemon = _run(instance, started, **{SYNC_TAG: "true"})
    # created by a CLI that was killed before it queued the run: nothing would ever start it
    not_started = dg.DagsterRunStatus.NOT_STARTED
    stranded = _run(instance, not_started, **{SYNC_TAG: "true", deployment.SUBMITTER_TAG: dead})
    being_queued = _run(
        instance, not_started, **{SYNC_TAG: "true", deployment.SUBMITTER_TAG: deployment.this_process()}
    )
    lines: list[str] = []

    ended = deployment.reap_dead_runs(instance, lines.append)

    assert sorted(ended) == sorted([killed.run_id, orphan.run_id, stranded.run_id])
    runs = (killed, orphan, alive, remote, by_daemon, stranded, being_queued)
    status = {run.run_id: instance.get_run_by_id(run.run_id).status for run in runs}
    assert status == {
        killed.run_id: dg.DagsterRunStatus.FAILURE,
        orphan.run_id: dg.DagsterRunStatus.CANCELED,
        alive.run_id: started,
        remote.run_id: started,
        by_daemon.run_id: started,
        stranded.run_id: dg.DagsterRunStatus.CANCELED,
        being_queued.run_id: not_started,
    }
    assert any(killed.run_id[:8] in line and "is gone" in line for line in lines)


def test_queue_rule_waits_for_syncs_and_pool_runs_in_progress_and_earlier_live_syncs(instance: dg.DagsterInstance):
    queued = dg.DagsterRunStatus.QUEUED
    me = deployment.this_process()
    earlier_dead = _run(instance, queued, **{SYNC_TAG: "true", deployment.SUBMITTER_TAG: _dead_process()})
    mine = _run(instance, queued, **{SYNC_TAG: "true", deployment.SUBMITTER_TAG: me})
    assert deployment.blockers(instance, mine) == []  # a queued run nobody will start does not hold the queue

    other_job = _run(instance, dg.DagsterRunStatus.STARTED, job="unrelated")
    assert deployment.blockers(instance, mine) == []
    pool_run = _run(instance, dg.DagsterRunStatus.STARTED, job="__ASSET_JOB", **{deployment.POOL_TAG: "true"})
    assert [r.run_id for r in deployment.blockers(instance, mine)] == [pool_run.run_id]
    instance.report_run_failed(pool_run)

    later = _run(instance, queued, **{SYNC_TAG: "true", deployment.SUBMITTER_TAG: me})
    assert [r.run_id for r in deployment.blockers(instance, later)] == [mine.run_id]
    assert deployment.try_start(instance, later.run_id) is None
    started = deployment.try_start(instance, mine.run_id)
    assert started is not None and started.status == dg.DagsterRunStatus.STARTING
    assert started.tags[deployment.PROCESS_TAG] == me
    assert [r.run_id for r in deployment.blockers(instance, later)] == [mine.run_id]
    assert {earlier_dead.run_id, other_job.run_id}.isdisjoint(r.run_id for r in deployment.blockers(instance, later))


def test_reaper_fails_a_daemon_launched_run_whose_worker_died_and_the_sensor_runs_it(instance: dg.DagsterInstance):
    from dagster._core.events import EngineEventData  # what the run worker records; tests only

    from linkedin_assets.defs.sensors import dead_run_reaper

    dead_pid = int(_dead_process().split(":")[1])
    grpc_info = {deployment.GRPC_INFO_TAG: '{"host": "localhost", "port": 4266}'}
    worker_died = _run(instance, dg.DagsterRunStatus.STARTED, **{SYNC_TAG: "true"}, **grpc_info)
    instance.report_engine_event(
        f"Started process for run (pid: {dead_pid}).", worker_died, EngineEventData.in_process(dead_pid)
    )
    worker_alive = _run(instance, dg.DagsterRunStatus.STARTED, **grpc_info)
    instance.report_engine_event("Started process", worker_alive, EngineEventData.in_process(os.getpid()))
    elsewhere = _run(instance, dg.DagsterRunStatus.STARTED, **{deployment.GRPC_INFO_TAG: '{"host": "10.1.2.3"}'})
    instance.report_engine_event("Started process", elsewhere, EngineEventData.in_process(dead_pid))

    result = dead_run_reaper(dg.build_sensor_context(instance=instance))

    assert "Marked 1 run(s)" in result.skip_message
    statuses = {run.run_id: instance.get_run_by_id(run.run_id).status for run in (worker_died, worker_alive, elsewhere)}
    assert statuses == {
        worker_died.run_id: dg.DagsterRunStatus.FAILURE,
        worker_alive.run_id: dg.DagsterRunStatus.STARTED,
        elsewhere.run_id: dg.DagsterRunStatus.STARTED,
    }
