"""At most one LinkedIn sync runs at a time, however it is launched (the run queue, enforced by a real daemon)."""

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from linkedin_assets_tests.dagster_services import (
    STANDIN_MODULE,
    TERMINAL_STATUSES,
    DagsterHome,
    DagsterServices,
    isolated_dagster_home,
    open_instance,
)
from linkedin_assets_tests.fixtures import standin_defs

pytestmark = pytest.mark.slow

IN_PROGRESS = {"STARTING", "STARTED", "CANCELING"}


@pytest.fixture
def dagster(tmp_path: Path) -> Iterator[tuple[DagsterHome, DagsterServices]]:
    """A fresh instance per test: the first dequeue pass on an empty instance is the case that needs proving."""
    with (
        isolated_dagster_home(tmp_path) as home,
        DagsterServices(home.path, STANDIN_MODULE, env={**home.env, "STANDIN_STEP_SECONDS": "2"}) as services,
    ):
        yield home, services


def _launch_two_and_watch(
    services: DagsterServices, launch: Callable[[], str], timeout: float = 180.0
) -> tuple[list[str], list[tuple[str, ...]]]:
    """Launch twice back to back, then poll both statuses until they finish; return run ids and status samples."""
    run_ids = [launch(), launch()]
    samples: list[tuple[str, ...]] = []
    deadline = time.monotonic() + timeout
    while not samples or not set(samples[-1]) <= TERMINAL_STATUSES:
        assert time.monotonic() < deadline, f"runs still {samples[-1]}:\n{services.log_tail('daemon')}"
        samples.append(tuple(services.run_status(run_id) for run_id in run_ids))
        time.sleep(0.2)
    return run_ids, samples


def _assert_one_at_a_time(home: DagsterHome, run_ids: list[str], samples: list[tuple[str, ...]]) -> None:
    assert samples[-1] == ("SUCCESS", "SUCCESS")
    assert all(len(IN_PROGRESS.intersection(sample)) <= 1 for sample in samples), samples
    assert any("QUEUED" in sample and "STARTED" in sample for sample in samples), samples
    with open_instance(home) as instance:
        records = instance.get_run_records()
        intervals = sorted(
            (record.start_time, record.end_time) for record in records if record.dagster_run.run_id in run_ids
        )
    assert len(intervals) == 2
    (first_start, first_end), (second_start, second_end) = intervals
    assert first_start < first_end <= second_start < second_end


def test_two_launches_of_the_sync_job_run_one_after_the_other(dagster: tuple[DagsterHome, DagsterServices]):
    home, services = dagster
    partition = standin_defs.daily.get_last_partition_key()

    run_ids, samples = _launch_two_and_watch(
        services, lambda: services.launch_job("linkedin_daily_sync", partition_key=partition)
    )

    _assert_one_at_a_time(home, run_ids, samples)


def test_two_untagged_ui_materializations_of_pool_assets_run_one_after_the_other(
    dagster: tuple[DagsterHome, DagsterServices],
):
    home, services = dagster

    run_ids, samples = _launch_two_and_watch(services, lambda: services.launch_assets([["campaigns"]]))

    assert all("linkedin_assets/sync" not in run["tags"] for run in services.list_runs())
    _assert_one_at_a_time(home, run_ids, samples)
