"""At most one LinkedIn sync runs at a time, however it is launched: the real code location, run queue and daemon."""

import time
from collections.abc import Callable, Iterator

import pytest

from linkedin_assets.defs.partitions import last_complete_day
from linkedin_assets.settings import SYNC_TAG
from linkedin_assets.simulator import SimulatorConfig, SimulatorServer
from linkedin_assets_tests.dagster_services import (
    TERMINAL_STATUSES,
    DagsterServices,
    LinkedInDeployment,
    linkedin_deployment,
    open_instance,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

IN_PROGRESS = {"STARTING", "STARTED", "CANCELING"}
JOB = "linkedin_daily_sync"
# What a user ticks in the asset catalog before "Materialize selected": the path from the accounts to the metrics.
LINKEDIN_ASSETS = [["linkedin_ads", name] for name in ("accounts", "campaigns", "campaign_daily_metrics")]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, pg_url: str) -> Iterator[LinkedInDeployment]:
    """One deployment for the module; the pool limit is set before the first run, as `make dev` does."""
    with (
        SimulatorServer(SimulatorConfig(profile="small", seed=42)) as sim,
        linkedin_deployment(tmp_path_factory.mktemp("concurrency"), sim, pg_url) as deployment,
    ):
        yield deployment


def _launch_together_and_watch(
    services: DagsterServices, launches: list[Callable[[], str]], timeout: float = 180.0
) -> tuple[list[str], list[tuple[str, ...]]]:
    """Launch back to back, then poll the statuses until all finish; return the run ids and the status samples."""
    run_ids = [launch() for launch in launches]
    samples: list[tuple[str, ...]] = []
    deadline = time.monotonic() + timeout
    while not samples or not set(samples[-1]) <= TERMINAL_STATUSES:
        assert time.monotonic() < deadline, f"runs still {samples[-1]}:\n{services.log_tail('daemon')}"
        samples.append(tuple(services.run_status(run_id) for run_id in run_ids))
        time.sleep(0.2)
    return run_ids, samples


def _assert_one_at_a_time(deployment: LinkedInDeployment, run_ids: list[str], samples: list[tuple[str, ...]]) -> str:
    """Both succeeded, one waited while the other ran, and no finished runs overlap; return the run that ended last."""
    assert samples[-1] == ("SUCCESS", "SUCCESS")
    assert all(len(IN_PROGRESS.intersection(sample)) <= 1 for sample in samples), samples
    assert any("QUEUED" in sample and "STARTED" in sample for sample in samples), samples
    with open_instance(deployment.home) as instance:
        # Every run of this instance is a sync, the daily runs' follow-ups by the sensor included.
        records = [record for record in instance.get_run_records() if record.end_time is not None]
    intervals = sorted((record.start_time, record.end_time, record.dagster_run.run_id) for record in records)
    assert set(run_ids) <= {run_id for _, _, run_id in intervals}
    for (_, first_end, _), (second_start, _, _) in zip(intervals, intervals[1:], strict=False):
        assert first_end <= second_start, intervals
    return max((end, run_id) for _, end, run_id in intervals if run_id in run_ids)[1]


def test_two_launches_of_the_sync_job_run_one_after_the_other(deployment: LinkedInDeployment):
    services = deployment.services
    yesterday = last_complete_day().isoformat()

    def launch() -> str:
        return services.launch_job(JOB, partition_key=yesterday)

    run_ids, samples = _launch_together_and_watch(services, [launch, launch])

    last = _assert_one_at_a_time(deployment, run_ids, samples)
    deployment.assert_synced(written_by=last)


def test_a_ui_materialization_of_linkedin_assets_and_the_sync_job_run_one_after_the_other(
    deployment: LinkedInDeployment,
):
    services = deployment.services
    yesterday = last_complete_day().isoformat()

    run_ids, samples = _launch_together_and_watch(
        services,
        [
            lambda: services.launch_assets(LINKEDIN_ASSETS, partition_key=yesterday),
            lambda: services.launch_job(JOB, partition_key=yesterday),
        ],
    )

    (materialization,) = [run for run in services.list_runs() if run["runId"] == run_ids[0]]
    assert materialization["jobName"] == "__ASSET_JOB" and SYNC_TAG not in materialization["tags"]
    last = _assert_one_at_a_time(deployment, run_ids, samples)
    deployment.assert_synced(written_by=last)


def test_a_run_whose_worker_is_killed_is_marked_failed_and_the_next_sync_runs(deployment: LinkedInDeployment):
    import os
    import re
    import signal

    services = deployment.services
    yesterday = last_complete_day().isoformat()
    deployment.sim.configure(latency_ms=300)  # long enough to kill the worker mid-run
    try:
        run_id = services.launch_job(JOB, partition_key=yesterday)
        deadline = time.monotonic() + 180
        pid = None
        while pid is None:
            assert time.monotonic() < deadline, services.log_tail("daemon")
            for event in services.logs_for_run(run_id):
                found = re.search(r"Started process for run \(pid: (\d+)\)", event.get("message") or "")
                if found:
                    pid = int(found.group(1))
            time.sleep(0.5)
        os.kill(pid, signal.SIGKILL)  # the run worker: its steps execute in it (in-process executor)
    finally:
        deployment.sim.configure(latency_ms=0)

    # The code server that started the worker sees it exit and fails the run (had the code server died too, the
    # dead_run_reaper sensor would, within a minute); the queue then starts the next sync.
    assert services.wait_for_run(run_id, timeout=240) == "FAILURE"
    messages = [event.get("message") or "" for event in services.logs_for_run(run_id)]
    assert any("Run execution process for" in m or f"(pid {pid}) is gone" in m for m in messages), messages[-5:]
    next_run = services.launch_job(JOB, partition_key=yesterday)
    assert services.wait_for_run(next_run, timeout=240) == "SUCCESS"
