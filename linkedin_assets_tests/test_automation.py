"""The daily schedule, the token sensor and the sensor that starts the monthly job after each daily sync."""

import datetime as dt
import importlib
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.test_utils import create_run_for_test, create_test_daemon_workspace_context, freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.sensor import execute_sensor_iteration

import linkedin_assets.definitions
from linkedin_assets.cli.sync import plan_stages, run_stage
from linkedin_assets.definitions import build_definitions, defs
from linkedin_assets.defs.assets.metrics import campaign_daily_metrics
from linkedin_assets.defs.io_managers.warehouse import WarehouseResource
from linkedin_assets.defs.jobs import daily_sync_job, monthly_sync_job
from linkedin_assets.defs.resources import SyncSettings, TokenStoreResource
from linkedin_assets.defs.sensors import RANGE_END, RANGE_START, monthly_after_daily_sync, token_refresh_sensor
from linkedin_assets.linkedin.tokens import TokenSet, TokenStore
from linkedin_assets.settings import SYNC_TAG, load_settings
from linkedin_assets_tests.ground_truth import DEFAULTS
from linkedin_assets_tests.test_assets import YESTERDAY, definitions

UTC = dt.UTC
REPO_ROOT = Path(__file__).resolve().parent.parent
REASON_TAG = "linkedin_assets/reason"

# ------------------------------------------------------------------------------------------------- schedule


daily_sync_schedule = defs.resolve_schedule_def("daily_sync_schedule")


def test_schedule_tick_requests_the_day_before_with_a_stable_run_key():
    assert daily_sync_schedule.job_name == daily_sync_job.name
    with dg.DagsterInstance.ephemeral() as instance:

        def requests_at(when: dt.datetime) -> list[dg.RunRequest]:
            context = dg.build_schedule_context(
                instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()
            )
            return daily_sync_schedule.evaluate_tick(context).run_requests

        first = requests_at(dt.datetime(2026, 3, 10, 6, 0, tzinfo=UTC))
        again = requests_at(dt.datetime(2026, 3, 10, 6, 0, tzinfo=UTC))
        berlin = requests_at(dt.datetime(2026, 3, 10, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))))
        next_day = requests_at(dt.datetime(2026, 3, 11, 6, 0, tzinfo=UTC))
    assert len(first) == 1
    assert first[0].partition_key == "2026-03-09"
    assert again[0].run_key == berlin[0].run_key == first[0].run_key
    assert next_day[0].partition_key == "2026-03-10"
    assert next_day[0].run_key != first[0].run_key


def test_schedule_cron_defaults_to_six_utc_and_follows_the_setting():
    def cron(env: dict[str, str]) -> str:
        schedule = build_definitions(load_settings(env)).resolve_schedule_def("daily_sync_schedule")
        assert schedule.execution_timezone == "UTC"
        return schedule.cron_schedule

    assert cron({}) == "0 6 * * *"
    assert cron({"LINKEDIN_ASSETS_SCHEDULE_CRON": "30 4 * * 1-5"}) == "30 4 * * 1-5"


# ------------------------------------------------------------------------------------------------- token sensor


def stamp_of(refreshed_at: dt.datetime) -> str:
    return refreshed_at.astimezone(UTC).isoformat()


def save_token(path: Path, refreshed_at: dt.datetime) -> str:
    """Store a token minted at ``refreshed_at`` as ``auth login`` would; returns the sensor's cursor for it."""
    TokenStore(path).save(TokenSet(access_token="at", refresh_token="rt", refreshed_at=refreshed_at, source="login"))
    return stamp_of(refreshed_at)


def evaluate(
    instance: dg.DagsterInstance, tokens: Path, cursor: str | None
) -> tuple[dg.RunRequest | dg.SkipReason, str | None]:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"token_store": TokenStoreResource(path=str(tokens))}
    )
    return token_refresh_sensor(context), context.cursor


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def test_token_sensor_without_a_token_points_at_auth_login(instance, tmp_path):
    result, cursor = evaluate(instance, tmp_path / "tokens.json", None)
    assert isinstance(result, dg.SkipReason)
    assert "auth login" in result.skip_message
    assert cursor is None


def test_token_sensor_with_an_unreadable_store_skips_without_advancing(instance, tmp_path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text("{not json")
    result, cursor = evaluate(instance, tokens, "2026-01-01T00:00:00+00:00")
    assert isinstance(result, dg.SkipReason)
    assert str(tokens) in result.skip_message
    assert cursor == "2026-01-01T00:00:00+00:00"


def test_new_token_with_missing_metrics_requests_one_sync(instance, tmp_path):
    tokens = tmp_path / "tokens.json"
    stamp = save_token(tokens, dt.datetime.now(UTC) - dt.timedelta(minutes=5))
    request, cursor = evaluate(instance, tokens, None)
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == f"token-refresh-{stamp}"
    assert request.partition_key == YESTERDAY.isoformat()
    assert YESTERDAY.isoformat() in request.tags[REASON_TAG]
    assert cursor == stamp

    again, cursor_after = evaluate(instance, tokens, cursor)
    assert isinstance(again, dg.SkipReason)
    assert "No new token" in again.skip_message
    assert cursor_after == stamp


def test_new_token_with_fresh_metrics_skips_and_advances(instance, tmp_path):
    tokens = tmp_path / "tokens.json"
    instance.report_runless_asset_event(
        dg.AssetMaterialization(campaign_daily_metrics.key, partition=YESTERDAY.isoformat())
    )
    stamp = save_token(tokens, dt.datetime.now(UTC))
    result, cursor = evaluate(instance, tokens, "2026-01-01T00:00:00+00:00")
    assert isinstance(result, dg.SkipReason)
    assert "fresh" in result.skip_message
    assert cursor == stamp


def test_new_token_while_a_sync_is_in_flight_waits_for_it_and_then_requests_one_if_still_due(instance, tmp_path):
    """A sync in progress (or queued) will settle whether one is due: the sensor skips, keeping its cursor, so that it
    looks again once that sync has ended, instead of queueing a second sync behind it."""
    tokens = tmp_path / "tokens.json"
    stamp = save_token(tokens, dt.datetime.now(UTC))
    in_flight = create_run_for_test(
        instance, job_name=monthly_sync_job.name, status=dg.DagsterRunStatus.STARTED, tags={SYNC_TAG: "true"}
    )
    request, cursor = evaluate(instance, tokens, "2026-01-01T00:00:00+00:00")
    assert isinstance(request, dg.SkipReason) and in_flight.run_id[:8] in request.skip_message
    assert cursor == "2026-01-01T00:00:00+00:00"
    instance.report_run_failed(in_flight)
    request, cursor = evaluate(instance, tokens, cursor)
    assert isinstance(request, dg.RunRequest)  # yesterday's metrics are still missing
    assert cursor == stamp
    assert daily_sync_job.tags[SYNC_TAG] == "true"


def test_new_token_after_a_sync_failed_for_auth_names_the_failure(make_simulator, tmp_path, monkeypatch):
    sim = make_simulator(profile="small", seed=21)
    sim.state.revoke_refresh_tokens()
    sim.state.expire_access_tokens()
    defs = definitions(WarehouseResource(duckdb_path=str(tmp_path / "warehouse.duckdb")), tmp_path, sim)
    tokens = tmp_path / "sensor_tokens.json"
    with dg.DagsterInstance.ephemeral() as instance:
        # yesterday is present, so only the failure makes a sync due
        instance.report_runless_asset_event(
            dg.AssetMaterialization(campaign_daily_metrics.key, partition=YESTERDAY.isoformat())
        )
        failed = run_stage(defs, instance, *plan_stages(YESTERDAY, YESTERDAY, DEFAULTS)[0])
        assert not failed.success
        stamp = save_token(tokens, dt.datetime.now(UTC))
        request, cursor = evaluate(instance, tokens, None)
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == f"token-refresh-{stamp}"
    assert request.tags[REASON_TAG] == f"the last sync ({failed.run_id[:8]}) failed for lack of auth"
    assert cursor == stamp


# ------------------------------------------------------------------------------------------------- restart

DAEMON_INSTANCE = """\
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
telemetry:
  enabled: false
"""


@contextmanager
def sensor_daemon(instance: dg.DagsterInstance) -> Iterator[Callable[[dt.datetime], None]]:
    """The sensor daemon's loop over the project's code location, as ``dagster-daemon`` runs it; yields a function
    that makes one pass at a given time.

    The code location reads its settings (the token store's path among them) when it loads; a real daemon's code
    server loads it in the environment of the test, so it is loaded afresh here too.
    """
    importlib.reload(linkedin_assets.definitions)
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=sys.executable, module_name="linkedin_assets.definitions", working_directory=str(REPO_ROOT)
        )
    )

    def tick(at: dt.datetime) -> None:
        with freeze_time(at):
            list(execute_sensor_iteration(workspace, logging.getLogger("sensor_daemon"), None, None))

    with create_test_daemon_workspace_context(InProcessWorkspaceLoadTarget(origin), instance) as workspace:
        yield tick


def restarted_daemon(home: str, newer_token_at: str) -> None:
    """The daemon after a restart: a fresh process and instance that tick, see a newer token, and tick twice more
    (each pass past the sensor's 30 s minimum interval)."""
    start = dt.datetime.now(UTC)
    with dg.DagsterInstance.from_config(home) as instance, sensor_daemon(instance) as tick:
        tick(start + dt.timedelta(seconds=31))
        save_token(Path(home) / "tokens.json", dt.datetime.fromisoformat(newer_token_at))
        tick(start + dt.timedelta(seconds=62))
        tick(start + dt.timedelta(seconds=93))


def token_ticks(instance: dg.DagsterInstance) -> tuple[list, str | None]:
    """The token sensor's ticks, oldest first, and the cursor the daemon stored for it."""
    (state,) = (s for s in instance.all_instigator_state() if s.name == token_refresh_sensor.name)
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
    return ticks[::-1], state.instigator_data.cursor


def test_token_sensor_cursor_survives_a_daemon_restart(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAEMON_INSTANCE)
    monkeypatch.setenv("LINKEDIN_TOKEN_STORE", str(home / "tokens.json"))
    monkeypatch.setenv("LINKEDIN_ASSETS_DATA_DIR", str(tmp_path / "data"))
    now = dt.datetime.now(UTC).replace(microsecond=0)
    first = save_token(home / "tokens.json", now - dt.timedelta(hours=1))
    newer = stamp_of(now)

    with dg.DagsterInstance.from_config(str(home)) as instance, sensor_daemon(instance) as tick:
        tick(dt.datetime.now(UTC))
        (queued,) = instance.get_runs()
        assert queued.tags["dagster/run_key"] == f"token-refresh-{first}"
        instance.report_run_canceled(queued)

    restarted = subprocess.run(
        [sys.executable, "-c", f"from {__name__} import restarted_daemon; restarted_daemon({str(home)!r}, {newer!r})"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert restarted.returncode == 0, restarted.stderr[-4000:]

    with dg.DagsterInstance.from_config(str(home)) as instance:
        ticks, cursor = token_ticks(instance)
        runs = instance.get_runs()
    assert [t.status for t in ticks] == [TickStatus.SUCCESS, TickStatus.SKIPPED, TickStatus.SUCCESS, TickStatus.SKIPPED]
    assert ticks[1].skip_reason == f"No new token since {first}"
    assert ticks[2].run_keys == [f"token-refresh-{newer}"]
    assert ticks[3].skip_reason == f"No new token since {newer}"
    assert sorted(r.tags["dagster/run_key"] for r in runs) == sorted(
        [f"token-refresh-{first}", f"token-refresh-{newer}"]
    )
    assert cursor == newer


# ------------------------------------------------------------------------------------------------- monthly after daily


def after_daily(
    instance: dg.DagsterInstance, tags: dict[str, str], lookback_days: int = 30
) -> dg.RunRequest | dg.SkipReason:
    run = create_run_for_test(instance, job_name=daily_sync_job.name, status=dg.DagsterRunStatus.SUCCESS, tags=tags)
    event = dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_SUCCESS.value, job_name=daily_sync_job.name)
    context = dg.build_run_status_sensor_context(
        sensor_name=monthly_after_daily_sync.name,
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=run,
        resources={"settings": SyncSettings.of(load_settings({}, lookback_days=lookback_days))},
    )
    return monthly_after_daily_sync(context)


def test_daily_run_of_one_day_requests_the_months_its_lookback_reached(instance):
    """The daily run re-read the 30 days before its day: LinkedIn revises them in every pivot, so the demographics
    of every month those days touch are fetched again."""
    request = after_daily(instance, {"dagster/partition": "2026-03-09"})
    assert isinstance(request, dg.RunRequest)
    assert monthly_after_daily_sync.job_name == monthly_sync_job.name
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2026-02-01", "2026-03-01")
    same_month = after_daily(instance, {"dagster/partition": "2026-03-29"}, lookback_days=7)
    assert same_month.partition_key == "2026-03-01" and RANGE_START not in same_month.tags


def test_daily_range_across_months_requests_the_month_range(instance):
    request = after_daily(instance, {RANGE_START: "2025-12-20", RANGE_END: "2026-03-09"})
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key is None
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2025-12-01", "2026-03-01")


def test_each_daily_run_gets_its_own_monthly_run_key(instance):
    first = after_daily(instance, {"dagster/partition": "2026-03-09"})
    second = after_daily(instance, {"dagster/partition": "2026-03-09"})
    assert first.run_key != second.run_key


def test_daily_run_without_partitions_is_skipped(instance):
    assert isinstance(after_daily(instance, {}), dg.SkipReason)
