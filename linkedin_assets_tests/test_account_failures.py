"""One ad account LinkedIn refuses never holds back the others, and changes nothing stored of its own.

The simulator's ``refuse_account`` is what an agency sees when a client changes the member's role on one account:
the account is still listed, its campaign groups, campaigns and creatives answer 403, and adAnalytics answers with
no rows for it (or a 403).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import psycopg
import pytest
from dagster._core.test_utils import create_run_for_test  # a run record for the sensor; tests only

from linkedin_assets.defs.account_failures import CHECK_NAME
from linkedin_assets.defs.resources import SyncSettings
from linkedin_assets.defs.sensors import monthly_after_daily_sync_with_failed_accounts
from linkedin_assets.linkedin.errors import LinkedInHTTPError, account_failure
from linkedin_assets_tests.ground_truth import (
    DEFAULTS,
    assert_tables_equal,
    expected_tables,
    months_between,
    read_tables,
    sync_in_process,
)

pytestmark = pytest.mark.postgres

ACCOUNT_SCOPED = {
    "accounts": "id",
    "campaign_groups": "account_id",
    "campaigns": "account_id",
    "creatives": "account_id",
    "campaign_daily_metrics": "account_id",
    "creative_daily_metrics": "account_id",
    "demographic_metrics": "account_id",
    "conversions": "account_id",
    "campaign_conversion_daily_metrics": "account_id",
    "creative_conversion_daily_metrics": "account_id",
}


def _of_accounts(tables, keep, column_of=ACCOUNT_SCOPED):
    """The expected rows of ``tables`` restricted to the accounts ``keep`` (tables without an account: as they are)."""
    return {
        name: {k: r for k, r in rows.items() if name not in column_of or r[column_of[name]] in keep}
        for name, rows in tables.items()
    }


def _after_failed_daily(instance, run):
    context = dg.build_run_status_sensor_context(
        sensor_name=monthly_after_daily_sync_with_failed_accounts.name,
        dagster_event=dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_FAILURE.value, job_name=run.job_name),
        dagster_instance=instance,
        dagster_run=run,
        resources={"settings": SyncSettings.of(DEFAULTS)},
    )
    return monthly_after_daily_sync_with_failed_accounts(context)


def _step_failures(result):
    return [e for e in result.all_events if e.is_step_failure]


def test_one_refused_account_leaves_the_others_exact_and_its_own_rows_untouched(
    make_simulator, pg_url, pg_schema, tmp_path
):
    """Synced once, then LinkedIn revises the last days and refuses one account of three: the other two land
    exactly as revised, the refused one keeps every stored row as it was (none removed, none deleted), both runs
    end failed naming the account and what to do, and once access is back the next sync puts every table right."""
    today = dt.datetime.now(dt.UTC).date()
    sim = make_simulator(profile="custom", accounts=3, campaigns_per_account=2, creatives_per_campaign=2, days=20,
                         seed=41, late_data_days=10, today=today)  # fmt: skip
    start, end = sim.state.dataset.history_start, today - dt.timedelta(days=1)
    months = months_between(start, end)
    first = sync_in_process(sim, pg_url, pg_schema, tmp_path, start, end)
    assert [r.success for r in first.results] == [True, True]
    before = expected_tables(sim.state.dataset, start, end, months).tables

    sim.state.new_generation()
    revised = expected_tables(sim.state.dataset, start, end, months).tables
    refused = sim.state.dataset.accounts[1]
    healthy = {a["id"] for a in sim.state.dataset.accounts} - {refused["id"]}
    assert any(before["campaign_daily_metrics"][k] != r for k, r in revised["campaign_daily_metrics"].items()
               if r["account_id"] == refused["id"]), "the revision should reach the refused account"  # fmt: skip
    sim.state.refuse_account(refused["id"])
    sim.state.reset_log()

    with dg.DagsterInstance.ephemeral() as instance:
        second = sync_in_process(sim, pg_url, pg_schema, tmp_path, end - dt.timedelta(days=2), end, instance=instance)
        # a deployment's sensor starts the monthly run after such a daily run, as after a success; not after others
        assert isinstance(_after_failed_daily(instance, second.results[0].dagster_run), dg.RunRequest)
        other = create_run_for_test(instance, job_name="linkedin_daily_sync", status=dg.DagsterRunStatus.FAILURE,
                                    tags=dict(second.results[0].dagster_run.tags))  # fmt: skip
        assert isinstance(_after_failed_daily(instance, other), dg.SkipReason)

    # both runs ran (the monthly one too: sync_in_process goes on as linkedin-assets sync and the sensor do after a
    # run that failed only on accounts), and both failed only on the account check
    assert len(second.results) == 2 and not any(r.success for r in second.results)
    for result in second.results:
        (failure,) = _step_failures(result)
        text = failure.step_failure_data.user_failure_data.description
        assert f"ad account {refused['id']} {refused['name']!r}" in text, text
        # the daily run names the first endpoint refused; the monthly one did not ask, and says why
        endpoint = "adCampaignGroups" if result is second.results[0] else "adCampaigns"
        assert f"403 ACCESS_DENIED on {endpoint}: Not enough permissions" in text, text
        advice = failure.step_failure_data.user_failure_data.metadata["what to do"].value
        assert "LINKEDIN_ACCOUNT_IDS" in advice and f"role on ad account {refused['id']}" in advice
        (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK_NAME]
        assert not check.passed and check.metadata["accounts_failed"].value == 1
    # the refused account was never asked for analytics: LinkedIn would answer "no rows", which is not "no delivery"
    asked = [r for r in sim.state.requests("adAnalytics") if f"sponsoredAccount%3A{refused['id']}" in r.query
             or f"sponsoredAccount:{refused['id']}" in r.query]  # fmt: skip
    assert asked == []

    with psycopg.connect(pg_url) as conn:
        actual = read_tables(conn, pg_schema, revised)
    # the healthy accounts: exactly the revised truth (entities, daily rows of the lookback, demographics)
    expected = _of_accounts(revised, healthy)
    stored = {name: [r for r in rows if name not in ACCOUNT_SCOPED or r[ACCOUNT_SCOPED[name]] in healthy]
              for name, rows in actual.items() if name != "demographic_values"}  # fmt: skip
    assert assert_tables_equal({k: v for k, v in expected.items() if k != "demographic_values"}, stored) > 0
    # the refused account: every row exactly as the first sync stored it (the listing still names it: accounts)
    kept = _of_accounts(before, {refused["id"]})
    mine = {name: [r for r in rows if r[ACCOUNT_SCOPED[name]] == refused["id"]]
            for name, rows in actual.items() if name in ACCOUNT_SCOPED and name != "accounts"}  # fmt: skip
    assert assert_tables_equal({k: kept[k] for k in mine}, mine) > 0

    sim.state.restore_account(refused["id"])
    third = sync_in_process(sim, pg_url, pg_schema, tmp_path, end - dt.timedelta(days=2), end)
    assert [r.success for r in third.results] == [True, True]
    with psycopg.connect(pg_url) as conn:
        actual = read_tables(conn, pg_schema, revised)
    assert assert_tables_equal(revised, actual) == sum(len(rows) for rows in revised.values())


@pytest.mark.parametrize(
    ("status", "account", "scoped"),
    [
        (403, 7, True),
        (404, 7, True),
        (503, 7, True),
        (400, 7, False),
        (401, 7, False),
        (429, 7, False),
        (403, None, False),
    ],
)
def test_only_an_accounts_own_refusals_are_isolated(status, account, scoped):
    """403, 404 and exhausted 5xx for one account are that account's; a bad request, a dead token, the quota, or an
    error that names no account concern every account."""
    error = LinkedInHTTPError(status, "adCampaigns", code="X", message="m", account_id=account)
    assert (account_failure(error) is not None) is scoped
