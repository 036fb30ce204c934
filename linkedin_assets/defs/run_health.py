"""Runs whose process is gone: the one thing Dagster's own run monitoring cannot see with the default run launcher.

A run launched by the daemon executes in a worker process (``dagster api execute_run``) that its code server
started. When the worker dies, the code server fails the run; run monitoring (``dagster.yaml``) fails runs stuck in
STARTING. When the worker *and* its code server die together (a machine's OOM killer, a SIGKILL of the whole process
group of ``linkedin-assets sync``), nothing does, and the run holds the sync queue forever. ``reap_dead_runs`` fails
such runs through public APIs: the worker's pid is in the run's "Started process for run (pid: N)" engine event, and a
process that is gone (or is now another program) on this host is dead. Runs launched on another host are left alone.
A run that ``linkedin-assets sync`` created and that had not started when the command was killed (NOT_STARTED: killed
between creating and queuing it; QUEUED) carries the command's ``host:pid`` (``CREATOR_TAG``): once that command is
gone it is marked canceled, so it neither lingers nor runs ahead of the sync that replaces it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

GRPC_INFO_TAG = ".dagster/grpc_info"
"""Set by Dagster's DefaultRunLauncher: the code server that started the run's worker process."""
IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _local_server(run: dg.DagsterRun) -> dict | None:
    """The code server that launched ``run``'s worker, when it ran on this host (else None: not ours to judge)."""
    try:
        server = json.loads(run.tags.get(GRPC_INFO_TAG, ""))
    except ValueError:
        return None
    return server if isinstance(server, dict) and (server.get("socket") or server.get("host") in LOCAL_HOSTS) else None


def server_alive(server: dict) -> bool:
    """Whether the code server still accepts connections (its Unix socket, or its port on this host)."""
    family, address = (
        (socket.AF_UNIX, server["socket"]) if server.get("socket") else (socket.AF_INET, ("127.0.0.1", server["port"]))
    )
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(address)
        except OSError:
            return False
    return True


def worker_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[int, float] | None:
    """The pid of the worker executing ``run`` and when it said so (its "Started process for run" engine event)."""
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data is not None else None
        if pid is not None and str(pid.value).isdigit():
            return int(pid.value), entry.timestamp
    return None


def worker_alive(pid: int, reported_at: float) -> bool:
    """Whether the process ``pid`` that reported itself at ``reported_at`` still runs: it exists, is no zombie, and
    started before it reported (a process that started later got the pid when the worker's was free again)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
    except (OSError, IndexError, StopIteration):
        return False
    started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return fields[0] != "Z" and started <= reported_at + 1


def why_dead(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str | None:
    """Why an in-progress run launched on this host can never finish, or None while it may."""
    server = _local_server(run)
    if server is None:
        return None
    worker = worker_pid(instance, run)
    if worker is not None:
        pid, reported_at = worker
        return None if worker_alive(pid, reported_at) else f"The process that executed this run (pid {pid}) is gone"
    if server.get("socket") or server.get("port"):
        return None if server_alive(server) else "The code server that was starting this run is gone"
    return None


CREATOR_TAG = "linkedin_assets/created_by"
"""``host:pid`` of the ``linkedin-assets`` command that created a run (``dagster job launch`` creates it, then queues
it: a command killed in between leaves it NOT_STARTED)."""


def creator_tag() -> dict[str, str]:
    """The tag naming this process as the creator of a run."""
    return {CREATOR_TAG: f"{socket.gethostname()}:{os.getpid()}"}


def _abandoned(record: Any) -> bool:
    """A run not started yet, created by a command of this host that is gone: left NOT_STARTED nobody will queue it;
    left QUEUED it would run for nobody, ahead of the sync that replaces it."""
    host, _, pid = record.dagster_run.tags.get(CREATOR_TAG, "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    created = record.create_timestamp
    created = created if created.tzinfo else created.replace(tzinfo=dt.UTC)  # storages differ: naive means UTC
    return not worker_alive(int(pid), created.timestamp())


def reap_dead_runs(instance: dg.DagsterInstance, echo: Callable[[str], None] = print) -> list[str]:
    """Fail the in-progress runs launched on this host whose worker (or, before it started, code server) is gone, and
    cancel the runs a killed command created and never queued."""
    ended = []
    waiting = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED]
    for record in instance.get_run_records(dg.RunsFilter(statuses=waiting)):
        if _abandoned(record):
            run = record.dagster_run
            message = "The linkedin-assets command that created this run was killed before it started."
            instance.report_run_canceled(run, message=message)
            echo(f"Run {run.run_id[:8]} ({run.job_name}, {run.status.value}): {message} Marked canceled.")
            ended.append(run.run_id)
    for run in instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS)):
        reason = why_dead(instance, run)
        if reason is None:
            continue
        message = f"{reason}: it was killed or crashed."
        instance.report_run_failed(run, message=message)
        echo(f"Run {run.run_id[:8]} ({run.job_name}, {run.status.value}): {message} Marked failed.")
        ended.append(run.run_id)
    return ended


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def dead_run_reaper(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Marks failed the runs whose worker and code server both died, so they never hold the sync queue."""
    ended = reap_dead_runs(context.instance, context.log.info)
    return dg.SkipReason(f"Marked {len(ended)} run(s) whose process is gone" if ended else "No run's process is gone")
