"""The reports run after each daily sync: started by a sensor, except after the CLI's runs (it runs them itself)."""

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from linkedin_assets.defs.jobs import daily_sync_job, reports_job
from linkedin_assets.defs.sensors import (
    TRIGGER_TAG,
    reports_after_daily_sync,
    reports_after_daily_sync_with_failed_accounts,
)


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def after_daily(instance: dg.DagsterInstance, tags: dict[str, str], sensor=reports_after_daily_sync):
    status = dg.DagsterRunStatus.SUCCESS if sensor is reports_after_daily_sync else dg.DagsterRunStatus.FAILURE
    run = create_run_for_test(instance, job_name=daily_sync_job.name, status=status, tags=tags)
    kind = dg.DagsterEventType.RUN_SUCCESS if status == dg.DagsterRunStatus.SUCCESS else dg.DagsterEventType.RUN_FAILURE
    event = dg.DagsterEvent(event_type_value=kind.value, job_name=daily_sync_job.name)
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_event=event, dagster_instance=instance, dagster_run=run
    )
    return sensor(context), run


def test_a_successful_daily_run_requests_one_reports_run_of_its_own(instance):
    request, run = after_daily(instance, {"dagster/partition": "2026-03-09"})
    assert isinstance(request, dg.RunRequest)
    assert reports_after_daily_sync.job_name == reports_job.name and request.partition_key is None
    assert request.run_key == f"reports-after-{run.run_id}"
    assert request.tags[TRIGGER_TAG] == "after_daily_sync" and request.tags["linkedin_assets/daily_run"] == run.run_id
    again, _ = after_daily(instance, {"dagster/partition": "2026-03-09"})
    assert again.run_key != request.run_key


def test_a_daily_run_of_the_cli_is_left_to_the_cli(instance):
    skipped, _ = after_daily(instance, {"dagster/partition": "2026-03-09", TRIGGER_TAG: "cli"})
    assert isinstance(skipped, dg.SkipReason) and "linkedin-assets sync" in skipped.skip_message


def test_a_daily_run_that_failed_for_more_than_refused_accounts_starts_no_reports(instance):
    skipped, _ = after_daily(instance, {}, sensor=reports_after_daily_sync_with_failed_accounts)
    assert isinstance(skipped, dg.SkipReason) and "more than refused accounts" in skipped.skip_message
    assert reports_after_daily_sync_with_failed_accounts.job_name == reports_job.name


def test_the_reports_job_carries_the_sync_tag():
    """One run at a time with the syncs: the reports read what they write, and DuckDB takes one writer."""
    from linkedin_assets.settings import SYNC_TAG

    assert reports_job.tags == {SYNC_TAG: "true"}
