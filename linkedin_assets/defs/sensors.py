"""Sensors: a sync when the OAuth token is refreshed and one is due, and demographics and the reports after each daily
sync."""

import datetime as dt

import dagster as dg

from linkedin_assets.defs.account_failures import failed_only_on_accounts
from linkedin_assets.defs.assets.metrics import campaign_daily_metrics
from linkedin_assets.defs.jobs import daily_sync_job, monthly_sync_job, reports_job
from linkedin_assets.defs.partitions import RANGE_END, RANGE_START, last_complete_day, months_fetched
from linkedin_assets.defs.resources import SyncSettings, TokenStoreResource
from linkedin_assets.linkedin.tokens import TokenStoreError
from linkedin_assets.settings import SYNC_TAG

TRIGGER_TAG = "linkedin_assets/trigger"
"""Who asked for a run: schedule, token_refresh, after_daily_sync, cli."""
PENDING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]

AUTH_ERRORS = ("LinkedInAuthError",)


def failed_for_auth(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Whether ``run`` failed because LinkedIn refused the credentials."""
    failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    for record in failures:
        error = record.dagster_event.step_failure_data.error if record.dagster_event else None
        while error is not None:
            if error.cls_name in AUTH_ERRORS or any(name in error.message for name in AUTH_ERRORS):
                return True
            error = error.cause
    return False


def sync_due(instance: dg.DagsterInstance, now: dt.datetime) -> str | None:
    """Why a sync is due (the last one failed for auth, or yesterday's metrics are missing), or None."""
    last = instance.get_runs(
        dg.RunsFilter(
            job_name=daily_sync_job.name,
            statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED],
        ),
        limit=1,
    )
    if last and last[0].status == dg.DagsterRunStatus.FAILURE and failed_for_auth(instance, last[0]):
        return f"the last sync ({last[0].run_id[:8]}) failed for lack of auth"
    yesterday = (now.astimezone(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
    if yesterday not in instance.get_materialized_partitions(campaign_daily_metrics.key):
        return f"the metrics of {yesterday} are missing"
    return None


@dg.sensor(job=daily_sync_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def token_refresh_sensor(context: dg.SensorEvaluationContext, token_store: TokenStoreResource):
    """Requests one sync per new token (``auth login``, ``auth refresh`` or the client's own refresh) when one is due.

    The cursor is the ``refreshed_at`` of the last token it acted on; the run key makes one refresh one run. A sync
    already in progress needs no check here: the run queue holds the requested run until that one ends.
    """
    try:
        refreshed_at = token_store.store().refreshed_at()
    except TokenStoreError as exc:
        return dg.SkipReason(str(exc))
    if refreshed_at is None:
        return dg.SkipReason("No token stored yet: run `linkedin-assets auth login`")
    stamp = refreshed_at.isoformat()
    if context.cursor == stamp:
        return dg.SkipReason(f"No new token since {stamp}")
    pending = context.instance.get_runs(dg.RunsFilter(tags={SYNC_TAG: "true"}, statuses=PENDING), limit=1)
    if pending:
        return dg.SkipReason(f"New token from {stamp}, but sync {pending[0].run_id[:8]} is {pending[0].status.value}")
    reason = sync_due(context.instance, dt.datetime.now(dt.UTC))
    context.update_cursor(stamp)
    if reason is None:
        return dg.SkipReason(f"New token from {stamp}, but the last sync succeeded and the metrics are fresh")
    yesterday = last_complete_day().isoformat()
    context.log.info(f"New token from {stamp}: requesting a sync because {reason}")
    return dg.RunRequest(
        run_key=f"token-refresh-{stamp}",
        partition_key=yesterday,
        tags={"linkedin_assets/trigger": "token_refresh", "linkedin_assets/reason": reason},
    )


def _day_range(run: dg.DagsterRun) -> tuple[dt.date, dt.date] | None:
    tags = run.tags
    if "dagster/partition" in tags:
        day = dt.date.fromisoformat(tags["dagster/partition"])
        return day, day
    if RANGE_START in tags and RANGE_END in tags:
        return dt.date.fromisoformat(tags[RANGE_START]), dt.date.fromisoformat(tags[RANGE_END])
    return None


def _monthly_request(context: dg.RunStatusSensorContext, settings: SyncSettings) -> dg.RunRequest | dg.SkipReason:
    """The monthly run after a daily one: the demographics of the months it fetched (its lookback included), their
    names, and the snapshot. Not after a ``linkedin-assets sync`` run: that command submits its monthly run itself."""
    if context.dagster_run.tags.get(TRIGGER_TAG) == "cli":
        return dg.SkipReason(
            f"Run {context.dagster_run.run_id[:8]} came from linkedin-assets sync, which queues its own"
        )
    days = _day_range(context.dagster_run)
    if days is None:
        return dg.SkipReason(f"Run {context.dagster_run.run_id[:8]} has no day partition")
    first, last = months_fetched(*days, settings.lookback_days, dt.date.fromisoformat(settings.start_date))
    tags = {"linkedin_assets/trigger": "after_daily_sync", "linkedin_assets/daily_run": context.dagster_run.run_id}
    if first == last:
        return dg.RunRequest(run_key=f"after-{context.dagster_run.run_id}", partition_key=first, tags=tags)
    return dg.RunRequest(
        run_key=f"after-{context.dagster_run.run_id}", tags={**tags, RANGE_START: first, RANGE_END: last}
    )


AFTER_DAILY_SYNC: dict = {
    "monitored_jobs": [daily_sync_job],
    "request_job": monthly_sync_job,
    "default_status": dg.DefaultSensorStatus.RUNNING,
    "minimum_interval_seconds": 30,
}
"""The two sensors that start the monthly run after a daily one (on success, and on a failure of refused accounts)."""


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, **AFTER_DAILY_SYNC)
def monthly_after_daily_sync(context: dg.RunStatusSensorContext, settings: SyncSettings):
    """After a daily sync succeeds: the demographics of the months it fetched, their names, and the snapshot."""
    return _monthly_request(context, settings)


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.FAILURE, **AFTER_DAILY_SYNC)
def monthly_after_daily_sync_with_failed_accounts(context: dg.RunStatusSensorContext, settings: SyncSettings):
    """After a daily sync that failed only because LinkedIn refused some accounts: the monthly run, as after a
    success, for the other accounts (one account's failure never holds back another's)."""
    if not failed_only_on_accounts(context.instance, context.dagster_run):
        return dg.SkipReason(f"Run {context.dagster_run.run_id[:8]} failed for more than refused accounts")
    return _monthly_request(context, settings)


def _reports_request(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    """The reports run after a daily one (unpartitioned: the package rebuilds its reports whole). Not after a
    ``linkedin-assets sync`` run: that command runs the reports itself, after its monthly run."""
    run = context.dagster_run
    if run.tags.get(TRIGGER_TAG) == "cli":
        return dg.SkipReason(f"Run {run.run_id[:8]} came from linkedin-assets sync, which runs the reports itself")
    return dg.RunRequest(
        run_key=f"reports-after-{run.run_id}",
        tags={TRIGGER_TAG: "after_daily_sync", "linkedin_assets/daily_run": run.run_id},
    )


REPORTS_AFTER_DAILY_SYNC: dict = {**AFTER_DAILY_SYNC, "request_job": reports_job}
"""The two sensors that start the reports after a daily run (on success, and on a failure of refused accounts)."""


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, **REPORTS_AFTER_DAILY_SYNC)
def reports_after_daily_sync(context: dg.RunStatusSensorContext):
    """After a daily sync succeeds: Fivetran's reports (dbt build) over the warehouse, and their checks."""
    return _reports_request(context)


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.FAILURE, **REPORTS_AFTER_DAILY_SYNC)
def reports_after_daily_sync_with_failed_accounts(context: dg.RunStatusSensorContext):
    """After a daily sync that failed only because LinkedIn refused some accounts: the reports, for the others."""
    if not failed_only_on_accounts(context.instance, context.dagster_run):
        return dg.SkipReason(f"Run {context.dagster_run.run_id[:8]} failed for more than refused accounts")
    return _reports_request(context)
