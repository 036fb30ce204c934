"""The CLI's side of the Dagster deployment: runs launched against the code location into the run queue.

Every run ``linkedin-assets sync``/``demo`` makes is launched with Dagster's own ``dagster job launch`` against the
code location (``linkedin_assets``, served by the command's code server, see ``cli.services``), so it carries the
location's origin: it is listed under its job, in the timeline and in the assets' history, and the UI can re-execute
it. ``job launch`` hands it to the instance's run coordinator, Dagster's ``QueuedRunCoordinator`` (status QUEUED),
whose daemon starts it when ``dagster.yaml``'s limits allow: one run tagged ``linkedin_assets/sync`` and one run using
the ``linkedin_api`` pool at a time. Nothing here writes a run event, decides what the queue does, or imports
Dagster's private modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from linkedin_assets.cli.services import LOCATION, ServiceError
from linkedin_assets.settings import SYNC_TAG

LAUNCH_TIMEOUT_S = 120.0
FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
IN_PROGRESS = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)


def open_instance(home: Path) -> dg.DagsterInstance:
    """The instance of ``home`` (its ``dagster.yaml``, or Dagster's defaults when it has none)."""
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.from_config(str(home))


def launch(
    instance: dg.DagsterInstance,
    workspace: Path,
    job_name: str,
    tags: Mapping[str, str],
    run_config: Mapping[str, Any],
    env: Mapping[str, str],
) -> dg.DagsterRun:
    """A run of ``job_name`` created against the code location of ``workspace`` and handed to the instance's run
    coordinator, by Dagster's own ``dagster job launch`` (the run is QUEUED when it returns)."""
    run_id = str(uuid.uuid4())
    command = [
        str(Path(sys.executable).parent / "dagster"), "job", "launch", "-w", str(workspace), "-l", LOCATION,
        "-j", job_name, "--run-id", run_id, "--tags", json.dumps(dict(tags)), "--config-json", json.dumps(run_config),
    ]  # fmt: skip
    done = subprocess.run(command, env=dict(env), capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)
    run = instance.get_run_by_id(run_id)
    if done.returncode != 0 or run is None:
        last = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ServiceError(f"dagster job launch of {job_name} failed: " + " / ".join(last))
    return run


def ahead_of(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[dg.DagsterRun]:
    """Runs in progress with the sync tag or a pool: what a queued sync is reported to wait for (the queue itself,
    not this function, decides when it starts)."""
    return [
        other
        for other in instance.get_runs(dg.RunsFilter(statuses=list(IN_PROGRESS)))
        if other.run_id != run.run_id
        and (SYNC_TAG in other.tags or any(key.startswith(".dagster/pool/") for key in other.tags))
    ]
