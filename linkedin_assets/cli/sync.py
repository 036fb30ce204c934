"""linkedin-assets sync: submit the sync's runs to the Dagster instance, follow them, report a failure in short."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg

from linkedin_assets.cli.errors import UsageError

if TYPE_CHECKING:
    from linkedin_assets.cli.services import Daemons
    from linkedin_assets.settings import Settings

TRIGGER_TAG = "linkedin_assets/trigger"
REPORTS_JOB = "linkedin_reports"
"""The last stage of a sync: Fivetran's reports (dbt) over what the first two wrote."""
EVENT_BATCH_SIZE = "1000"
"""``DAGSTER_EVENT_BATCH_SIZE`` of the run workers unless set: Dagster then stores a range run's per-partition
materialization events in batches, one INSERT each on dagster-postgres (benchmarks/README.md has the figures)."""


def plan_stages(start: dt.date | None, end: dt.date | None, settings: Settings) -> list[tuple[str, dict[str, str]]]:
    """The runs of a sync of ``[start, end]``: (job name, partition tags) for the daily job, and for the monthly job
    over every month the daily run fetches (its lookback included). The command runs the reports after them."""
    from linkedin_assets.defs.partitions import last_complete_day, months_fetched, partition_tags

    first, last = settings.start_date, last_complete_day()
    end = end or last
    start = start or end
    if start > end:
        raise UsageError(f"--start {start} is after --end {end}")
    if start < first or end > last:
        raise UsageError(
            f"{start}..{end} is outside the daily partitions {first}..{last} "
            "(LINKEDIN_ASSETS_START_DATE sets the first; the last is yesterday, UTC)"
        )
    return [
        ("linkedin_daily_sync", partition_tags(start.isoformat(), end.isoformat())),
        ("linkedin_monthly_sync", partition_tags(*months_fetched(start, end, settings.lookback_days, first))),
    ]


def run_stage(
    defs: dg.Definitions, instance: dg.DagsterInstance, job_name: str, tags: dict[str, str]
) -> dg.ExecuteInProcessResult:
    """Run one sync job in this process without the queue (tests and benchmarks of the asset graph only)."""
    tags = dict(tags)
    partition = tags.pop("dagster/partition", None)
    return defs.resolve_job_def(job_name).execute_in_process(
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        instance=instance,
        partition_key=partition,
        tags=tags,
        raise_on_error=False,
    )


def run_config(accounts: str | None) -> dict[str, Any]:
    """The run config of a CLI run: ``--accounts`` for the LinkedIn resource; a silent console logger when the run
    executes in this process (the event log keeps everything; this command prints its own progress and failures)."""
    config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    if accounts:
        config["resources"] = {"linkedin": {"config": {"account_ids": accounts}}}
    return config


def _step_label(step: str | None) -> str:
    """A step key as a person reads it: ``linkedin_ads__campaigns`` -> ``campaigns``,
    ``linkedin_ads__x.x__sync_shard[k]`` -> ``x/sync_shard[k]``."""
    step = (step or "").removeprefix("linkedin_ads__")
    graph, dot, op = step.partition(".")
    if dot and op.startswith(graph + "__"):
        step = graph + "/" + op.removeprefix(graph + "__")
    return step.replace("__", "/")


def _root_error(error: Any) -> Any:
    """The error a person cares about: the first one in the chain not raised by Dagster itself."""
    while error is not None and error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    return error


def _describe(record: dg.EventLogEntry, verbose: bool) -> str | None:
    """One line per step (done, FAILED), per check that did not pass and per run start and end; with ``verbose``,
    also every log line (the request plans), materialization and passed check."""
    event = record.dagster_event
    step = _step_label(record.step_key)
    if event is None:
        return f"{step:<24} {record.user_message}" if verbose and record.level >= 20 else None
    kind = event.event_type
    if kind == dg.DagsterEventType.STEP_SUCCESS:
        return f"{step:<24} done in {event.event_specific_data.duration_ms / 1000:.1f} s"
    if kind == dg.DagsterEventType.ASSET_MATERIALIZATION and verbose:
        mat = event.step_materialization_data.materialization
        rows = mat.metadata.get("dagster/row_count")
        partition = f" [{mat.partition}]" if mat.partition else ""
        return f"{step:<24} materialized {mat.asset_key.to_user_string()}{partition}" + (
            f": {rows.value} rows" if rows else ""
        )
    if kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
        data = event.event_specific_data
        # A WARN check judges LinkedIn's numbers: its rows landed, so it is a warning, not a failure.
        verdict = "passed" if data.passed else "warning" if data.severity == dg.AssetCheckSeverity.WARN else "FAILED"
        # A step that checks several assets (the reports' checks) names the asset: one name per line is ambiguous.
        asset = data.asset_key.path[-1]
        name = data.check_name if asset in (record.step_key or "") else f"{asset} {data.check_name}"
        return f"{step:<24} check {name}: {verdict}" if verbose or not data.passed else None
    if kind == dg.DagsterEventType.STEP_FAILURE:
        return f"{step:<24} FAILED"
    if kind in (dg.DagsterEventType.RUN_START, dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE):
        return f"{step:<24} {event.message}"
    return None


class Follower(threading.Thread):
    """Prints a run's progress from the event log while the run executes (here or elsewhere)."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        run_id: str,
        echo: Callable[[str], None],
        verbose: bool = False,
        poll_s: float = 0.5,
    ):
        super().__init__(daemon=True, name=f"follow-{run_id[:8]}")
        self.instance, self.run_id, self.echo, self.verbose, self.poll_s = instance, run_id, echo, verbose, poll_s
        self.cursor: str | None = None
        self.records: list[dg.EventLogEntry] = []
        self._done = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._done.wait(self.poll_s):
            self.drain()

    def drain(self) -> None:
        with self._lock:
            while True:
                connection = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, limit=500)
                for record in connection.records:
                    entry = record.event_log_entry
                    self.records.append(entry)
                    line = _describe(entry, self.verbose)
                    if line:
                        self.echo(f"{dt.datetime.fromtimestamp(entry.timestamp, dt.UTC):%H:%M:%S} {line}")
                self.cursor = connection.cursor
                if not connection.has_more:
                    return

    def finish(self) -> list[dg.EventLogEntry]:
        """Stop following, print what is left, and return every event of the run."""
        self._done.set()
        if self.is_alive():
            self.join()
        self.drain()
        return self.records


def failure_report(run: dg.DagsterRun, events: list[dg.EventLogEntry], verbose: bool) -> list[str]:
    """One short block: what failed, why, what to do (stack traces only with ``verbose``)."""
    from linkedin_assets.defs.failures import what_to_do

    lines = [f"{run.job_name} FAILED (run {run.run_id})"]
    failures = [e for e in events if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.STEP_FAILURE]
    for entry in failures:
        data = entry.dagster_event.step_failure_data
        error = _root_error(data.error)
        user = data.user_failure_data
        metadata = {key: value.value for key, value in (user.metadata if user else {}).items()}
        if user is not None and user.description:
            why = user.description
            if error is not None and error.cls_name == "Failure" and error.cause is not None:
                error = error.cause
        elif error is not None:
            why = f"{error.cls_name}: {error.message.strip()}"
        else:
            why = "unknown (see the run's log)"
        where = [f"asset {(entry.step_key or '').replace('__', '/')}"]
        where += [f"{key} {metadata[key]}" for key in ("account_id", "endpoint", "url", "table") if key in metadata]
        todo = metadata.get("what to do") or what_to_do(error.cls_name if error is not None else "")
        lines += [f"  what:  {', '.join(where)}", f"  why:   {why.splitlines()[0]}", f"  do:    {todo}"]
        if verbose and data.error is not None:
            lines += ["", data.error.to_string()]
    if not failures:
        run_failures = [
            e for e in events if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.RUN_FAILURE
        ]
        message = run_failures[-1].dagster_event.message if run_failures else f"the run ended {run.status.value}"
        lines += [f"  why:   {message}", "  do:    Run the sync again; the run's log in the UI has the details."]
    if not verbose:
        lines.append("  log:   the run's page in the UI (make dev, then Runs), or this command with --verbose")
    lines.append("exit status 1")
    return lines


def sync(
    start: dt.date | None,
    end: dt.date | None,
    accounts: str | None,
    settings: Settings,
    echo: Callable[[str], None] = print,
    verbose: bool = False,
    env: Mapping[str, str] | None = None,
    require_local: bool = False,
) -> int:
    """Submit the sync's runs to the instance's queue one after the other, follow them, and return the exit status.

    ``env``: the environment of the Dagster processes the command starts (default: this process's); the demo passes
    its simulator's. ``require_local``: refuse when a daemon of the deployment would execute the runs elsewhere.
    """
    from linkedin_assets.cli.runs import launch, open_instance
    from linkedin_assets.cli.services import daemon_alive, services
    from linkedin_assets.defs.account_failures import failed_only_on_accounts
    from linkedin_assets.defs.run_health import creator_tag, reap_dead_runs

    stages = [*plan_stages(start, end, settings), (REPORTS_JOB, {})]  # the reports: unpartitioned, rebuilt whole
    env = {**(os.environ if env is None else env), "DAGSTER_HOME": str(settings.dagster_home_path)}
    env.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
    with open_instance(settings.dagster_home_path) as instance:
        if require_local and daemon_alive(instance):
            raise UsageError(
                f"a dagster-daemon serves {settings.dagster_home_path}: stop it (make dev) first, the demo's "
                "simulator lives in this process"
            )
        reap_dead_runs(instance, echo)
        status = 0
        with services(instance, env, echo) as (workspace, daemons):
            daemons.ensure()  # a daemon of our own, when needed, starts while the first run is created
            for job_name, tags in stages:
                config = run_config(None if job_name == REPORTS_JOB else accounts)  # the reports call no LinkedIn
                run = launch(instance, workspace, job_name, {**tags, TRIGGER_TAG: "cli", **creator_tag()}, config, env)
                echo(f"== {job_name} " + " ".join(f"{k.rsplit('/', 1)[-1]}={v}" for k, v in tags.items()))
                echo(f"run {run.run_id}")
                follower = Follower(instance, run.run_id, echo, verbose)
                follower.start()
                try:
                    finished = _wait(instance, run, daemons, echo)
                finally:
                    events = follower.finish()
                if finished.status != dg.DagsterRunStatus.SUCCESS:
                    for line in failure_report(finished, events, verbose):
                        echo(line)
                    if not failed_only_on_accounts(instance, finished):
                        return 1
                    status = 1  # the other accounts landed: the next stage goes on for them
    return status


def _wait(
    instance: dg.DagsterInstance, run: dg.DagsterRun, daemons: Daemons, echo: Callable[[str], None], poll_s: float = 0.2
) -> dg.DagsterRun:
    """Until ``run`` finishes: keep a daemon serving the queue, and say what a queued run waits for."""
    from linkedin_assets.cli.runs import FINISHED, ahead_of

    waiting_for: tuple[str, ...] = ()
    while True:
        current = instance.get_run_by_id(run.run_id)
        if current.status in FINISHED:
            return current
        daemons.ensure()
        if current.status == dg.DagsterRunStatus.QUEUED:
            ahead = ahead_of(instance, current)
            if ahead and tuple(r.run_id for r in ahead) != waiting_for:
                waiting_for = tuple(r.run_id for r in ahead)
                echo("queued behind " + ", ".join(f"{r.run_id[:8]} ({r.job_name}, {r.status.value})" for r in ahead))
        time.sleep(poll_s)
