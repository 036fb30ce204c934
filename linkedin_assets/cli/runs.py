"""The CLI's side of the Dagster deployment: submit runs of the code location's jobs, start them when no daemon does.

Every run ``linkedin-assets sync``/``demo`` makes is created against the code location (location ``linkedin_assets``,
module ``linkedin_assets.definitions``, as in ``workspace.yaml``), so it carries the location's origin: it is listed
under its job, in the timeline and in the assets' history, and the UI can re-execute it. It then enters the
instance's run queue (status QUEUED), which applies ``dagster.yaml``'s limits: one run tagged ``linkedin_assets/sync``
and one run using the ``linkedin_api`` pool at a time.

Who starts a queued run:

* a ``dagster-daemon`` heartbeating on the instance (``make dev``): it dequeues and launches the run in its code
  server, as for a UI click;
* no daemon: this process. Under a file lock in ``$DAGSTER_HOME`` (one dequeuer at a time, as the daemon is one),
  it starts its run once no sync or pool run is in progress and no earlier queued sync waits, then executes the run
  in this process (as the daemon's run worker would, without a second interpreter start).

Crash safety: a run started here is tagged with this process's identity (host, pid, start time); a run a daemon
launched has its worker's pid in its event log. ``reap_dead_runs`` marks failed every in-progress run whose process
is gone (and, with no daemon, cancels queued runs whose submitting process is gone), so a SIGKILLed sync never blocks
the next one. The CLI calls it before submitting; with a daemon, the ``dead_run_reaper`` sensor calls it every minute
(Dagster's run monitoring cannot health-check the default launcher's workers; it only fails runs stuck in STARTING).
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from linkedin_assets.settings import LINKEDIN_POOL, SYNC_TAG, environ

MODULE = "linkedin_assets.definitions"
LOCATION = "linkedin_assets"
REPOSITORY = "__repository__"
DEFAULT_DAGSTER_HOME = "data/dagster"

PROCESS_TAG = "linkedin_assets/process"
"""host:pid:start of the process executing a run started without a daemon (how a dead one is recognised)."""
SUBMITTER_TAG = "linkedin_assets/submitted_by"
"""host:pid:start of the CLI that queued a run (a queued run whose CLI is gone is canceled)."""
POOL_TAG = f".dagster/pool/{LINKEDIN_POOL}"
"""The tag Dagster's run storage gives every run that contains an asset of the pool."""

QUEUED = dg.DagsterRunStatus.QUEUED
NOT_STARTED = dg.DagsterRunStatus.NOT_STARTED
IN_PROGRESS = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)
FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
DAEMON_FRESH_S = 90.0
"""A queue daemon heartbeat younger than this means a daemon serves the instance (it beats every 30 s)."""


# ------------------------------------------------------------------------------------------------ the instance


def dagster_home() -> Path:
    """``$DAGSTER_HOME``, or ``data/dagster`` under the working directory (what ``make dev`` and ``make demo`` set)."""
    return Path(environ().get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).absolute()


def open_instance() -> dg.DagsterInstance:
    """The instance of ``dagster_home()`` (its ``dagster.yaml``, or Dagster's defaults when it has none)."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)  # so that every Dagster component of this process agrees
    instance = dg.DagsterInstance.get()
    # This process stores every event of the runs it executes (about 250 for a medium sync, 600 for its first).
    # Dagster's PostgreSQL storages open a new server connection per write unless the process asks for a pool, as
    # dagster-webserver does; measured on a medium first sync: 11.4 s -> 7.0 s wall. No-op on SQLite.
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
    return instance


def daemon_alive(instance: dg.DagsterInstance) -> bool:
    """Whether a daemon that dequeues runs has beaten recently on this instance."""
    beat = instance.get_daemon_heartbeats().get("QUEUED_RUN_COORDINATOR")
    return beat is not None and time.time() - beat.timestamp < DAEMON_FRESH_S


# ------------------------------------------------------------------------------------------------ processes


def _start_time(pid: int) -> str:
    """The kernel's start time of ``pid`` (so a recycled pid is not taken for the original), "" if unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def this_process() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def process_alive(identity: str) -> bool | None:
    """Whether the process ``host:pid:start`` still runs; None when it ran on another host (cannot tell)."""
    host, _, rest = identity.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    return not start or _start_time(pid) in ("", start)


GRPC_INFO_TAG = ".dagster/grpc_info"
"""Set by Dagster's DefaultRunLauncher: the code server that started the run's worker process."""
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _worker_identity(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str | None:
    """host:pid: of the process executing ``run``, when this host can judge it.

    Runs this module started carry it as a tag. Runs a daemon launched through a code server on this host (Dagster's
    DefaultRunLauncher, whose workers run monitoring cannot health-check) have the worker's pid in their
    "Started process for run (pid: N)" engine event.
    """
    if PROCESS_TAG in run.tags:
        return run.tags[PROCESS_TAG]
    grpc_info = run.tags.get(GRPC_INFO_TAG, "")
    if not any(f'"host": "{host}"' in grpc_info for host in LOCAL_HOSTS):
        return None
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data is not None else None
        if pid is not None and str(pid.value).isdigit():
            return f"{socket.gethostname()}:{pid.value}:"
    return None


def reap_dead_runs(instance: dg.DagsterInstance, echo: Callable[[str], None] = print) -> list[str]:
    """Fail in-progress runs whose executing process is gone; cancel queued runs whose submitting CLI is gone.

    Judged: runs started by this module (their process tag) and runs a daemon launched on this host (their worker's
    pid); runs executing elsewhere are left to the daemon that launched them. Called by ``linkedin-assets sync``
    before it submits and while it waits with no daemon, and by the ``dead_run_reaper`` sensor when a daemon runs.
    Returns the ids of the runs it ended.
    """
    ended = []
    # A queued run whose CLI is gone is only stranded when no daemon will start it; a run the CLI created but did
    # not get to queue (killed in between) is stranded either way: nothing ever starts a NOT_STARTED run.
    statuses = [*IN_PROGRESS, NOT_STARTED] if daemon_alive(instance) else [*IN_PROGRESS, NOT_STARTED, QUEUED]
    for run in instance.get_runs(dg.RunsFilter(statuses=statuses)):
        waiting = run.status in (QUEUED, NOT_STARTED)
        identity = run.tags.get(SUBMITTER_TAG) if waiting else _worker_identity(instance, run)
        if identity is None or process_alive(identity) is not False:
            continue
        pid = identity.split(":")[1]
        if waiting:
            message = (
                f"The command that queued this run (pid {pid}) is gone and no daemon serves the queue."
                if run.status == QUEUED
                else f"The command that created this run (pid {pid}) was killed before it queued it."
            )
            instance.report_run_canceled(run, message=message)
        else:
            message = f"The process that executed this run (pid {pid}) is gone: it was killed or crashed."
            instance.report_run_failed(run, message=message)
        outcome = "canceled" if waiting else "failed"
        echo(f"Run {run.run_id[:8]} ({run.job_name}, {run.status.value}): {message} Marked {outcome}.")
        ended.append(run.run_id)
    return ended


# ------------------------------------------------------------------------------------------------ the queue


def _competes(run: dg.DagsterRun) -> bool:
    """Whether ``run`` is limited with the syncs (the sync tag or the LinkedIn API pool)."""
    return SYNC_TAG in run.tags or POOL_TAG in run.tags


def blockers(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[dg.DagsterRun]:
    """The runs ``run`` waits for in the queue: syncs in progress, and earlier queued syncs someone will start."""
    in_progress = [
        other
        for other in instance.get_runs(dg.RunsFilter(statuses=list(IN_PROGRESS)))
        if other.run_id != run.run_id and _competes(other)
    ]
    mine = instance.get_run_record_by_id(run.run_id)
    earlier = []
    if mine is not None:
        for record in instance.get_run_records(dg.RunsFilter(statuses=[QUEUED], created_before=mine.create_timestamp)):
            other = record.dagster_run
            # With no daemon, a queued run is started only by the live CLI that submitted it.
            submitter = other.tags.get(SUBMITTER_TAG)
            if other.run_id != run.run_id and _competes(other) and submitter and process_alive(submitter):
                earlier.append(other)
    return in_progress + earlier


@contextmanager
def _dequeue_lock(instance: dg.DagsterInstance) -> Iterator[None]:
    """One dequeuer at a time on this instance (the daemon is a single process; so are we, under this lock)."""
    path = Path(instance.root_directory) / ".linkedin_assets_queue.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def try_start(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun | None:
    """Move the queued run to STARTING, owned by this process, if the queue's limits allow it now."""
    with _dequeue_lock(instance):
        run = instance.get_run_by_id(run_id)
        if run is None or run.status != QUEUED or blockers(instance, run):
            return None
        instance.add_run_tags(run_id, {PROCESS_TAG: this_process()})
        instance.report_dagster_event(
            dg.DagsterEvent(event_type_value=dg.DagsterEventType.PIPELINE_STARTING.value, job_name=run.job_name),
            run_id=run_id,
        )
        return instance.get_run_by_id(run_id)


def enqueue(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Put a created run in the queue, as ``QueuedRunCoordinator.submit_run`` does (status QUEUED)."""
    instance.report_dagster_event(
        dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_ENQUEUED.value, job_name=run.job_name),
        run_id=run.run_id,
    )


# ------------------------------------------------------------------------------------------------ what the public API lacks
# Dagster 1.13 offers two public ways to create a run of a code location's job with the location's origin:
# `dagster job launch -w workspace.yaml` and GraphQL `launchPipelineExecution` against a webserver. Both load the
# location in a code server subprocess (measured here: 37 s wall / 4.2 s CPU for one `dagster job launch` on the shared
# 2-core box), and neither starts a queued run without the daemon. These two functions do in this process what
# `dagster job launch` (dagster/_cli/job.py: _create_run) and the run worker (`dagster api execute_run`) do; they are
# the project's only dagster._* imports. The missing public API: "create a run of job J of this code location" and
# "execute this existing run here".


@contextmanager
def code_location(instance: dg.DagsterInstance) -> Iterator[Any]:
    """The project's code location loaded in this process, under the name ``workspace.yaml`` gives it."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.remote_representation.code_location import InProcessCodeLocation
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name=MODULE, working_directory=os.getcwd()),
        location_name=LOCATION,
    )
    with InProcessCodeLocation(origin, instance) as location:
        yield location


def create_run(
    instance: dg.DagsterInstance,
    location: Any,
    job_name: str,
    tags: Mapping[str, str],
    run_config: Mapping[str, Any],
) -> dg.DagsterRun:
    """A NOT_STARTED run of ``job_name`` with the location's origin, exactly as ``dagster job launch`` creates it."""
    from dagster._core.definitions.selector import JobSubsetSelector

    repository = location.get_repository(REPOSITORY)
    selector = JobSubsetSelector(
        location_name=LOCATION, repository_name=REPOSITORY, job_name=job_name, op_selection=None
    )
    job = location.get_job(selector)
    plan = location.get_execution_plan(job, run_config, step_keys_to_execute=None, known_state=None, instance=instance)
    snapshot = plan.execution_plan_snapshot
    return instance.create_run(
        job_name=job_name,
        run_id=None,
        run_config=run_config,
        resolved_op_selection=job.resolved_op_selection,
        step_keys_to_execute=snapshot.step_keys_to_execute,
        op_selection=None,
        status=None,
        root_run_id=None,
        parent_run_id=None,
        # The submitter from the start: a run whose CLI dies before queueing it is recognised as stranded.
        tags={**job.tags, **tags, SUBMITTER_TAG: this_process()},
        job_snapshot=job.job_snapshot,
        execution_plan_snapshot=snapshot,
        parent_job_snapshot=job.parent_job_snapshot,
        remote_job_origin=job.get_remote_origin(),
        job_code_origin=job.get_python_origin(),
        asset_selection=None,
        asset_check_selection=None,
        asset_graph=repository.asset_graph,
    )


def execute(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Execute a STARTING run in this process, as the run worker does (events go to the instance's event log)."""
    from dagster._core.execution.api import execute_run
    from dagster._utils.hosted_user_process import recon_job_from_origin

    execute_run(recon_job_from_origin(run.job_code_origin), run, instance)


# ------------------------------------------------------------------------------------------------ one run, end to end


def wait_or_start(
    instance: dg.DagsterInstance,
    run_id: str,
    on_wait: Callable[[list[dg.DagsterRun]], None],
    poll_s: float = 0.5,
) -> dg.DagsterRun:
    """Until the run finishes: let a live daemon start it, or start and execute it here when none serves the queue.

    ``on_wait`` is told what the run waits for whenever that changes; the run itself stays QUEUED meanwhile.
    """
    waiting_for: tuple[str, ...] | None = None
    while True:
        run = instance.get_run_by_id(run_id)
        assert run is not None
        if run.status in FINISHED:
            return run
        if run.status == QUEUED and not daemon_alive(instance):
            reap_dead_runs(instance, echo=lambda _line: None)
            started = try_start(instance, run_id)
            if started is not None:
                execute(instance, started)
                continue
            ahead = blockers(instance, run)
            if tuple(r.run_id for r in ahead) != waiting_for:
                waiting_for = tuple(r.run_id for r in ahead)
                on_wait(ahead)
        time.sleep(poll_s)
