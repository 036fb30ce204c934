"""The daily schedule: yesterday's metrics (plus the lookback) every morning; demographics and the snapshot follow."""

import datetime as dt

import dagster as dg

from linkedin_assets.defs.jobs import daily_sync_job


def build_daily_sync_schedule(cron_schedule: str) -> dg.ScheduleDefinition:
    """The daily sync at ``cron_schedule`` (UTC; the ``schedule_cron`` setting)."""

    @dg.schedule(
        name="daily_sync_schedule",
        job=daily_sync_job,
        cron_schedule=cron_schedule,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def daily_sync_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """Syncs the entities and the day before the tick; the run re-reads the lookback days before it."""
        day = (context.scheduled_execution_time.astimezone(dt.UTC) - dt.timedelta(days=1)).date()
        return dg.RunRequest(
            run_key=f"schedule-{day}",
            partition_key=day.isoformat(),
            tags={"linkedin_assets/trigger": "schedule"},
        )

    return daily_sync_schedule
