"""The Dagster UI in headless Chromium: materialize the daily sync job as a user would, and the same over GraphQL."""

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkedin_assets.instance import SYNC_TAG, data_dir
from linkedin_assets_tests.dagster_services import (
    STANDIN_MODULE,
    DagsterHome,
    DagsterServices,
    isolated_dagster_home,
)
from linkedin_assets_tests.fixtures import standin_defs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

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
def dagster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DagsterHome, DagsterServices]]:
    with (
        isolated_dagster_home(tmp_path_factory.mktemp("ui")) as home,
        DagsterServices(home.path, STANDIN_MODULE, env=home.env) as services,
    ):
        yield home, services


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


def _assert_synced(home: DagsterHome, run_id: str, partition: str) -> None:
    standin_dir = Path(home.env["LINKEDIN_ASSETS_DATA_DIR"]) / "standin"
    for name in ("campaigns", f"campaign_daily_metrics-{partition}"):
        assert json.loads((standin_dir / f"{name}.json").read_text())["run_id"] == run_id


def test_materialize_the_latest_partition_from_the_ui(dagster: tuple[DagsterHome, DagsterServices], browser):
    from playwright.sync_api import expect

    home, services = dagster
    partition = standin_defs.daily.get_last_partition_key()
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{services.url}/locations/{services.location_name}/jobs/{JOB}")

    # A fresh browser profile first gets a "Join the Dagster community" dialog over the page.
    page.add_locator_handler(page.get_by_role("button", name="Skip", exact=True), lambda skip: skip.click())
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
    assert run["tags"]["dagster/partition"] == partition
    assert run["tags"][SYNC_TAG] == "true"
    _assert_synced(home, run_id, partition)


def test_materialize_the_latest_partition_over_graphql(dagster: tuple[DagsterHome, DagsterServices]):
    home, services = dagster
    partition = standin_defs.daily.get_last_partition_key()

    run_id = services.launch_job(JOB, partition_key=partition)

    assert services.wait_for_run(run_id) == "SUCCESS"
    _assert_synced(home, run_id, partition)
    messages = [event["message"] for event in services.logs_for_run(run_id)]
    assert f"standin wrote campaign_daily_metrics-{partition}.json" in messages
