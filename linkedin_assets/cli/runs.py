"""The CLI's side of the Dagster deployment: runs created against the code location and submitted to the run queue.

Every run ``linkedin-assets sync``/``demo`` makes is created against the code location (location
``linkedin_assets``, served by the command's code server, see ``cli.services``), so it carries the location's origin:
it is listed under its job, in the timeline and in the assets' history, and the UI can re-execute it. It is then
submitted to the instance's run coordinator, Dagster's ``QueuedRunCoordinator`` (status QUEUED), whose daemon starts
it when ``dagster.yaml``'s limits allow: one run tagged ``linkedin_assets/sync`` and one run using the
``linkedin_api`` pool at a time. Nothing here writes a run event or decides what the queue does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from linkedin_assets.cli.services import LOCATION
from linkedin_assets.settings import SYNC_TAG

REPOSITORY = "__repository__"
FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
IN_PROGRESS = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)

CreateRun = Callable[[str, Mapping[str, str], Mapping[str, Any]], dg.DagsterRun]


def open_instance(home: Path) -> dg.DagsterInstance:
    """The instance of ``home`` (its ``dagster.yaml``, or Dagster's defaults when it has none)."""
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.from_config(str(home))


@contextmanager
def run_factory(instance: dg.DagsterInstance, socket: str) -> Iterator[CreateRun]:
    """Creates NOT_STARTED runs of the code location's jobs, with its origin, as ``dagster job launch`` does.

    The project's only ``dagster._`` imports: Dagster 1.13 has no public API that creates a run of a code location's
    job from Python (``dagster job launch`` and the GraphQL API do it internally). ``test_instance`` pins what this
    relies on: the run it makes is listed under its job with the location's origin, and the queue starts it.
    """
    from dagster._core.definitions.selector import JobSubsetSelector
    from dagster._core.remote_origin import GrpcServerCodeLocationOrigin
    from dagster._core.remote_representation.code_location import GrpcServerCodeLocation

    origin = GrpcServerCodeLocationOrigin(host="localhost", socket=socket, location_name=LOCATION)
    with GrpcServerCodeLocation(origin, instance=instance) as location:
        repository = location.get_repository(REPOSITORY)

        def create(job_name: str, tags: Mapping[str, str], run_config: Mapping[str, Any]) -> dg.DagsterRun:
            selector = JobSubsetSelector(
                location_name=LOCATION, repository_name=REPOSITORY, job_name=job_name, op_selection=None
            )
            job = location.get_job(selector)
            plan = location.get_execution_plan(
                job, run_config, step_keys_to_execute=None, known_state=None, instance=instance
            )
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
                tags={**job.tags, **tags},
                job_snapshot=job.job_snapshot,
                execution_plan_snapshot=snapshot,
                parent_job_snapshot=job.parent_job_snapshot,
                remote_job_origin=job.get_remote_origin(),
                job_code_origin=job.get_python_origin(),
                asset_selection=None,
                asset_check_selection=None,
                asset_graph=repository.asset_graph,
            )

        yield create


def submit(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterRun:
    """Hand a created run to the instance's run coordinator (Dagster's queue: the run becomes QUEUED)."""
    if not isinstance(instance.run_coordinator, dg.QueuedRunCoordinator):
        raise RuntimeError(
            f"the instance in {instance.root_directory} does not queue runs ({type(instance.run_coordinator).__name__}):"
            " use the project's dagster.yaml (make instance), whose queue keeps one sync at a time"
        )
    # The queued coordinator only records the run as queued; the daemon resolves the code location when it launches.
    return instance.submit_run(run.run_id, workspace=None)  # type: ignore[arg-type]


def ahead_of(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[dg.DagsterRun]:
    """Runs in progress with the sync tag or a pool: what a queued sync is reported to wait for (the queue itself,
    not this function, decides when it starts)."""
    return [
        other
        for other in instance.get_runs(dg.RunsFilter(statuses=list(IN_PROGRESS)))
        if other.run_id != run.run_id
        and (SYNC_TAG in other.tags or any(key.startswith(".dagster/pool/") for key in other.tags))
    ]
