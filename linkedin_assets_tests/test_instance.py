"""The repo's dagster.yaml: storage selection, data directory, pool limits, and run history across restarts."""

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import RunOpConcurrency
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.schedules import SqliteScheduleStorage
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from linkedin_assets.instance import (
    LINKEDIN_POOL,
    REPO_ROOT,
    SYNC_TAG,
    data_dir,
    get_instance,
    in_flight_syncs,
    postgres_url,
    wait_for_idle_sync,
)
from linkedin_assets.partitions import daily_partitions
from linkedin_assets.simulator import SimulatorConfig, SimulatorServer
from linkedin_assets_tests.dagster_services import fresh_pg_database, linkedin_deployment


@pytest.fixture
def sqlite_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    monkeypatch.setenv("LINKEDIN_ASSETS_DATA_DIR", str(tmp_path))
    with get_instance() as instance:
        yield instance


@dg.asset(pool=LINKEDIN_POOL)
def campaigns() -> None:
    """Stands for an API asset: the instance tests need a run, not LinkedIn."""


def _materialize_campaigns(instance: dg.DagsterInstance) -> str:
    result = dg.materialize([campaigns], instance=instance, tags={SYNC_TAG: "true"})
    assert result.success
    return result.run_id


def test_without_pg_url_storage_is_sqlite_under_the_data_dir(sqlite_instance: dg.DagsterInstance, tmp_path: Path):
    assert isinstance(sqlite_instance.run_storage, SqliteRunStorage)
    assert isinstance(sqlite_instance.event_log_storage, SqliteEventLogStorage)
    assert isinstance(sqlite_instance.schedule_storage, SqliteScheduleStorage)
    assert (tmp_path / "dagster" / "history" / "runs.db").is_file()
    assert sqlite_instance.root_directory == str(tmp_path / "dagster")
    assert sqlite_instance.compute_log_manager._base_dir == str(tmp_path / "dagster" / "storage")

    run_id = _materialize_campaigns(sqlite_instance)
    with get_instance() as reopened:
        run = reopened.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags[SYNC_TAG] == "true"


@pytest.mark.postgres
def test_with_pg_url_storage_is_postgres_and_the_password_stays_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LINKEDIN_ASSETS_DATA_DIR", str(tmp_path))
    with fresh_pg_database() as url:
        # Trust auth ignores the password, which only has to stay out of what the instance shows.
        monkeypatch.setenv("DAGSTER_PG_URL", url.replace("postgres@", "postgres:pw-s3cret@", 1))
        with get_instance() as instance:
            assert isinstance(instance.run_storage, PostgresRunStorage)
            assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
            assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
            assert "pw-s3cret" not in instance.info_str()
            assert "pw-s3cret" not in repr(instance.get_ref())
            run_id = _materialize_campaigns(instance)
        with get_instance() as reopened:
            assert reopened.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
    assert not (tmp_path / "dagster" / "history").exists()


def test_pool_limit_exists_before_any_run(sqlite_instance: dg.DagsterInstance):
    # The queue daemon ignores a pool without a limit row; default_limit alone creates it too late.
    limits = {pool.name: pool.limit for pool in sqlite_instance.event_log_storage.get_pool_limits()}
    assert limits[LINKEDIN_POOL] == 1


def test_pool_limit_set_by_the_user_is_kept(sqlite_instance: dg.DagsterInstance):
    sqlite_instance.event_log_storage.set_concurrency_slots(LINKEDIN_POOL, 3)
    with get_instance() as reopened:
        limits = {pool.name: pool.limit for pool in reopened.event_log_storage.get_pool_limits()}
    assert limits[LINKEDIN_POOL] == 3


def test_concurrency_settings_come_from_the_repo_yaml(sqlite_instance: dg.DagsterInstance):
    config = sqlite_instance.get_concurrency_config()
    assert config.pool_config.pool_granularity.value == "run"
    assert config.run_queue_config.tag_concurrency_limits == [{"key": SYNC_TAG, "limit": 1}]
    assert not sqlite_instance.telemetry_enabled


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql+psycopg2://u:p@h:5432/d"),
        ("postgres://u@h/d", "postgresql+psycopg2://u@h/d"),
        ("postgresql+psycopg2://u@h/d", "postgresql+psycopg2://u@h/d"),
        ("", None),
    ],
)
def test_postgres_url_forces_psycopg2(monkeypatch: pytest.MonkeyPatch, given: str, expected: str | None):
    monkeypatch.setenv("DAGSTER_PG_URL", given)
    assert postgres_url() == expected


def test_postgres_url_rejects_a_non_url_without_echoing_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DAGSTER_PG_URL", "host=h password=secret")
    with pytest.raises(ValueError, match="DAGSTER_PG_URL") as error:
        postgres_url()
    assert "secret" not in str(error.value)


def test_relative_data_dir_is_taken_from_the_repo_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LINKEDIN_ASSETS_DATA_DIR", "elsewhere/data")
    assert data_dir() == REPO_ROOT / "elsewhere" / "data"
    monkeypatch.delenv("LINKEDIN_ASSETS_DATA_DIR")
    assert data_dir() == REPO_ROOT / "data"


def _add_run(instance: dg.DagsterInstance, job_name: str, status: dg.DagsterRunStatus, **kwargs) -> dg.DagsterRun:
    return instance.add_run(dg.DagsterRun(job_name=job_name, status=status, **kwargs))


def test_in_flight_syncs_finds_tagged_job_and_pool_runs(sqlite_instance: dg.DagsterInstance):
    started = dg.DagsterRunStatus.STARTED
    tagged = _add_run(sqlite_instance, "token_refresh", started, tags={SYNC_TAG: "true"})
    by_job = _add_run(sqlite_instance, "linkedin_daily_sync", dg.DagsterRunStatus.NOT_STARTED)
    pool = RunOpConcurrency(
        root_key_counts={LINKEDIN_POOL: 1}, has_unconstrained_root_nodes=False, all_pools={LINKEDIN_POOL}
    )
    ui_materialize = _add_run(sqlite_instance, "__ASSET_JOB", dg.DagsterRunStatus.STARTING, run_op_concurrency=pool)
    _add_run(sqlite_instance, "__ASSET_JOB", started)
    _add_run(sqlite_instance, "other_job", started)
    _add_run(sqlite_instance, "linkedin_daily_sync", dg.DagsterRunStatus.SUCCESS, tags={SYNC_TAG: "true"})

    found = {run.run_id for run in in_flight_syncs(sqlite_instance)}

    assert found == {tagged.run_id, by_job.run_id, ui_materialize.run_id}


def test_wait_for_idle_sync_returns_once_the_sync_ends(sqlite_instance: dg.DagsterInstance):
    run = _add_run(sqlite_instance, "linkedin_daily_sync", dg.DagsterRunStatus.STARTED)
    messages: list[str] = []

    def log(message: str) -> None:
        messages.append(message)
        sqlite_instance.report_run_canceled(run)

    wait_for_idle_sync(sqlite_instance, poll_s=0.01, log=log)

    assert len(messages) == 1 and run.run_id in messages[0]
    assert not in_flight_syncs(sqlite_instance)


def test_wait_for_idle_sync_does_not_wait_without_syncs(sqlite_instance: dg.DagsterInstance):
    _add_run(sqlite_instance, "other_job", dg.DagsterRunStatus.STARTED)
    messages: list[str] = []
    wait_for_idle_sync(sqlite_instance, poll_s=0.01, log=messages.append)
    assert messages == []


@pytest.mark.slow
@pytest.mark.postgres
def test_run_history_survives_a_restart_on_postgres(tmp_path: Path, pg_url: str):
    yesterday = daily_partitions.get_last_partition_key()
    with (
        SimulatorServer(SimulatorConfig(profile="small", seed=43)) as sim,
        linkedin_deployment(tmp_path, sim, pg_url) as deployment,
    ):
        services = deployment.services
        run_id = services.launch_job("linkedin_daily_sync", partition_key=yesterday)
        assert services.wait_for_run(run_id) == "SUCCESS"
        deployment.assert_synced(written_by=run_id)

        services.restart()

        info = services.graphql("{ instance { info } }")["instance"]["info"]
        assert "PostgresRunStorage" in info
        (run,) = [run for run in services.list_runs() if run["runId"] == run_id]
        assert run["jobName"] == "linkedin_daily_sync"
        assert run["status"] == "SUCCESS"
        assert run["tags"][SYNC_TAG] == "true"
        assert run["tags"]["dagster/partition"] == yesterday
        events = services.logs_for_run(run_id)
        messages = [event["message"] for event in events]
        assert any(message.startswith("Found 1 ad account(s)") for message in messages), messages
        assert "RunSuccessEvent" in {event["__typename"] for event in events}
