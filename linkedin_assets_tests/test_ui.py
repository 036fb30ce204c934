"""The real webserver and daemon: materialize the daily sync from the UI in headless Chromium, and over GraphQL."""

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkedin_assets.instance import SYNC_TAG, data_dir
from linkedin_assets.partitions import daily_partitions
from linkedin_assets.simulator import SimulatorConfig, SimulatorServer
from linkedin_assets_tests.dagster_services import LinkedInDeployment, linkedin_deployment

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


def test_materialize_the_latest_partition_from_the_ui(deployment: LinkedInDeployment, browser):
    from playwright.sync_api import expect

    services = deployment.services
    # As for a user who dismissed it once: the "Join the Dagster community" dialog pops up over whatever is open.
    services.graphql("mutation { setNuxSeen }")
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
    screenshot = data_dir() / "screenshots" / f"ui-run-{time.strftime('%Y%m%dT%H%M%S')}.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot of the finished run: {screenshot}")
    page.close()

    (run,) = [run for run in services.list_runs() if run["runId"] == run_id]
    assert run["jobName"] == JOB
    assert run["tags"]["dagster/partition"] == daily_partitions.get_last_partition_key()
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
    yesterday = daily_partitions.get_last_partition_key()

    run_id = services.launch_job(JOB, partition_key=yesterday)

    assert services.wait_for_run(run_id) == "SUCCESS"
    deployment.assert_synced(written_by=run_id)
    messages = [event["message"] for event in services.logs_for_run(run_id)]
    assert any(message.startswith("Found 1 ad account(s)") for message in messages)
