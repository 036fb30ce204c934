"""The real webserver and daemon: the UI in headless Chromium, GraphQL, and the runs the CLI and the demo make.

Screenshots go to pytest's temporary directory (printed), never into the repository.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkedin_assets.defs.partitions import last_complete_day
from linkedin_assets.settings import SYNC_TAG
from linkedin_assets.simulator import SimulatorConfig, SimulatorServer
from linkedin_assets_tests.dagster_services import (
    REPO_ROOT,
    DagsterServices,
    LinkedInDeployment,
    linkedin_deployment,
    set_pool_limit,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.postgres]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
JOB = "linkedin_daily_sync"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, pg_url: str) -> Iterator[LinkedInDeployment]:
    """One deployment for the module: its tests sync the same simulator into the same schema, one after the other.

    The browser test goes first: it alone waits for the sensor's follow-up run, and waits less on a quiet queue.
    """
    with (
        SimulatorServer(SimulatorConfig(profile="small", seed=41)) as sim,
        linkedin_deployment(tmp_path_factory.mktemp("ui"), sim, pg_url) as deployment,
    ):
        yield deployment


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("LINKEDIN_ASSETS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and LINKEDIN_ASSETS_REQUIRE_BROWSER=1")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def _screenshot(page, folder: Path, name: str) -> None:
    path = folder / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def _dismiss_nux(services: DagsterServices) -> None:
    # As for a user who dismissed it once: the "Join the Dagster community" dialog pops up over whatever is open.
    services.graphql("mutation { setNuxSeen }")


def test_materialize_the_latest_partition_from_the_ui(deployment: LinkedInDeployment, browser, screenshots: Path):
    from playwright.sync_api import expect

    services = deployment.services
    _dismiss_nux(services)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{services.url}/locations/{services.location_name}/jobs/{JOB}")

    page.get_by_role("button", name="Materialize all…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Latest", exact=True).click()
    dialog.get_by_role("button", name="Launch 1 run").click()
    page.get_by_role("link", name="View", exact=True).click()  # in the "Launched run" toast
    page.wait_for_url("**/runs/*")
    run_id = page.url.rstrip("/").rsplit("/", 1)[-1]

    assert services.wait_for_run(run_id) == "SUCCESS"
    expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=30_000)
    _screenshot(page, screenshots, "ui-run")
    page.close()

    (run,) = [run for run in services.list_runs() if run["runId"] == run_id]
    assert run["jobName"] == JOB
    assert run["tags"]["dagster/partition"] == last_complete_day().isoformat()
    assert run["tags"][SYNC_TAG] == "true"
    deployment.assert_synced(written_by=run_id)

    # The sensor monthly_after_daily_sync (minimum interval 30 s) follows up with the demographics and the snapshot.
    monthly = services.wait_for_run_tagged("linkedin_assets/daily_run", run_id, timeout=90)
    assert monthly["jobName"] == "linkedin_monthly_sync"
    assert services.wait_for_run(monthly["runId"]) == "SUCCESS"
    snapshot = json.loads((deployment.data_dir / "snapshots" / "latest.json").read_text())
    assert snapshot["dagster_run_id"] == monthly["runId"]
    assert [account["id"] for account in snapshot["accounts"]] == [
        a["id"] for a in deployment.sim.state.dataset.accounts
    ]


def test_materialize_the_latest_partition_over_graphql(deployment: LinkedInDeployment):
    services = deployment.services
    yesterday = last_complete_day().isoformat()

    run_id = services.launch_job(JOB, partition_key=yesterday)

    assert services.wait_for_run(run_id) == "SUCCESS"
    deployment.assert_synced(written_by=run_id)
    messages = [event["message"] for event in services.logs_for_run(run_id)]
    assert any(message.startswith("Found 1 ad account(s)") for message in messages)


def _job_runs_tab_shows(browser, services: DagsterServices, job: str, run_ids: list[str], screenshots: Path) -> None:
    """The job's Runs tab in the UI lists every run of ``run_ids`` (by the short id the UI prints)."""
    from playwright.sync_api import expect

    _dismiss_nux(services)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{services.url}/locations/{services.location_name}/jobs/{job}/runs")
    for run_id in run_ids:
        expect(page.get_by_text(run_id[:8]).first).to_be_visible(timeout=30_000)
    _screenshot(page, screenshots, f"{job}-runs")
    page.close()


def test_runs_of_linkedin_assets_sync_are_listed_under_their_jobs(
    deployment: LinkedInDeployment, browser, screenshots: Path
):
    services = deployment.services
    done = subprocess.run(
        [sys.executable, "-m", "linkedin_assets.cli", "sync"],
        env=services.env,
        cwd=deployment.data_dir.parent,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    by_job = {}
    for job in ("linkedin_daily_sync", "linkedin_monthly_sync"):
        runs = [run for run in services.job_runs(job) if run["runId"] in done.stdout]
        assert len(runs) == 1, (job, services.job_runs(job))
        assert runs[0]["status"] == "SUCCESS"
        assert runs[0]["repositoryOrigin"] == {
            "repositoryLocationName": "linkedin_assets",
            "repositoryName": "__repository__",
        }
        by_job[job] = runs[0]["runId"]
    _job_runs_tab_shows(browser, services, "linkedin_daily_sync", [by_job["linkedin_daily_sync"]], screenshots)


def test_runs_of_the_demo_are_listed_under_their_jobs(tmp_path: Path, browser, screenshots: Path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINKEDIN_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), LINKEDIN_ASSETS_DATA_DIR=str(tmp_path / "data"))
    set_pool_limit(env)  # what `make demo` does before the demo's entry point
    done = subprocess.run(
        [sys.executable, "-m", "linkedin_assets.cli", "demo", "--profile", "small"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "make dev" in done.stdout
    with DagsterServices(home, "linkedin_assets.definitions", env=env) as services:
        daily = services.job_runs("linkedin_daily_sync")
        monthly = services.job_runs("linkedin_monthly_sync")
        assert [run["status"] for run in daily + monthly] == ["SUCCESS", "SUCCESS"]
        assert {run["repositoryOrigin"]["repositoryLocationName"] for run in daily + monthly} == {"linkedin_assets"}
        _job_runs_tab_shows(browser, services, "linkedin_daily_sync", [daily[0]["runId"]], screenshots)
