"""Custom reports end to end: declared in YAML, loaded with the code location, synced from the simulator over HTTP.

The two reports of ``reports.example.yaml``: a ``statistics`` report with two pivots (campaign x device, daily) and
a monthly ``MEMBER_SENIORITY`` breakdown per campaign (``analytics``, campaign facet).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from linkedin_assets.custom_reports import ReportsFileError
from linkedin_assets.linkedin.restli import decode_query
from linkedin_assets_tests.ground_truth import (
    analytics_pivot,
    demographic_tables,
    months_between,
    read_tables,
    requests_made,
    sim_settings,
    sync_in_process,
)

YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
EXAMPLE = Path(__file__).resolve().parents[1] / "reports.example.yaml"
DEVICE_METRICS = (
    "impressions",
    "clicks",
    "cost_in_local_currency",
    "cost_in_usd",
    "landing_page_clicks",
    "video_views",
)
SENIORITY_METRICS = ("impressions", "clicks", "cost_in_local_currency", "landing_page_clicks", "one_click_leads")


@pytest.fixture(autouse=True)
def _registered_tables_are_this_tests():
    """A code location registers its custom reports' tables once per process; a test's leave with it."""
    from linkedin_assets.warehouse.schema import TABLES

    before = set(TABLES)
    yield
    for name in set(TABLES) - before:
        del TABLES[name]


@pytest.fixture
def synced(make_simulator, pg_url, pg_schema, tmp_path):
    sim = make_simulator(profile="custom", accounts=2, campaigns_per_account=3, creatives_per_campaign=2, days=40,
                         seed=12)  # fmt: skip
    start = YESTERDAY - dt.timedelta(days=39)
    sim.state.reset_log()
    settings = sim_settings(sim, tmp_path, reports_file=str(EXAMPLE))
    run = sync_in_process(sim, pg_url, pg_schema, tmp_path, start, YESTERDAY, settings=settings)
    assert [r.success for r in run.results] == [True, True]
    with psycopg.connect(pg_url) as conn:
        tables = read_tables(conn, pg_schema, ("campaign_device_daily", "campaign_seniority_monthly",
                                               "creative_daily_metrics", "campaign_daily_metrics"))  # fmt: skip
    return sim, run, tables


def _sums(rows, keys, metrics):
    out: dict[tuple, dict[str, object]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        into = out[tuple(row[k] for k in keys)]
        for m in metrics:
            into[m] = into[m] + (row[m] if row[m] is not None else 0)
    return {k: dict(v) for k, v in out.items()}


def test_a_two_pivot_statistics_report_splits_each_campaign_day_exactly(synced):
    """campaign x device, daily: every device part lands, and the parts of a campaign-day add up, metric by metric
    and to the last 1e-7 of money, to its creatives' daily rows (LinkedIn splits a creative-day over devices)."""
    _, _, tables = synced
    report = tables["campaign_device_daily"]
    assert report and {r["impression_device_type"] for r in report} <= {
        "DESKTOP", "MOBILE_WEB", "MOBILE_APP", "CONNECTED_TV", "UNDETERMINED"}  # fmt: skip
    assert len({r["impression_device_type"] for r in report}) >= 3
    got = _sums(report, ("campaign_id", "date"), DEVICE_METRICS)
    want = _sums(tables["creative_daily_metrics"], ("campaign_id", "date"), DEVICE_METRICS)
    assert got == want
    assert all(isinstance(r["cost_in_usd"], Decimal) for r in report)
    owners = {(r["campaign_id"]): r["account_id"] for r in tables["campaign_daily_metrics"]}
    assert all(owners[r["campaign_id"]] == r["account_id"] for r in report)


def test_a_monthly_member_report_by_campaign_equals_linkedins_campaign_breakdown(synced):
    """MEMBER_SENIORITY per campaign and month: exactly the rows LinkedIn's campaign-level breakdown has (the
    simulator's shares of each campaign-month, floored, values under 3 impressions dropped)."""
    sim, run, tables = synced
    truth, _ = demographic_tables(sim.state.dataset, months_between(run.start, run.end), "campaign")
    want = {
        (entity, value, month): {m: row[m] for m in SENIORITY_METRICS}
        for (_, entity, pivot, value, month), row in truth.items()
        if pivot == "MEMBER_SENIORITY"
    }
    got = {
        (r["campaign_id"], r["member_seniority"], r["month"]): {m: r[m] for m in SENIORITY_METRICS}
        for r in tables["campaign_seniority_monthly"]
    }
    assert want and got == want


def test_custom_reports_cost_one_request_per_account_or_delivering_campaign(synced):
    """The device report: one request per account that delivered (6 metrics: one chunk; 40 days fit one window).
    The seniority report: one per campaign that delivered (MEMBER_* pivots cannot be asked for several campaigns)."""
    sim, _, tables = synced
    made = requests_made(sim.state.request_log)
    delivering_accounts = {r["account_id"] for r in tables["campaign_daily_metrics"]}
    delivering_campaigns = {r["campaign_id"] for r in tables["campaign_daily_metrics"]}
    assert made["adAnalytics:CAMPAIGN,IMPRESSION_DEVICE_TYPE"] == len(delivering_accounts)
    per_campaign = [
        decoded["campaigns"]
        for r in sim.state.requests("adAnalytics")
        for decoded in [decode_query(r.query)]
        if analytics_pivot(r.query) == "MEMBER_SENIORITY" and "campaigns" in decoded
    ]
    assert sorted(urn for urns in per_campaign for urn in urns) == sorted(
        f"urn:li:sponsoredCampaign:{c}" for c in delivering_campaigns
    )


def test_a_bad_declaration_fails_the_code_location_load_naming_the_report_and_field(tmp_path):
    from linkedin_assets.definitions import build_definitions
    from linkedin_assets.settings import load_settings

    bad = tmp_path / "reports.yaml"
    bad.write_text(
        "reports:\n  - name: by_device\n    finder: analytics\n    pivots: [CAMPAIGN, IMPRESSION_DEVICE_TYPE]\n"
        "    granularity: DAILY\n    metrics: [impressions]\n"
    )
    with pytest.raises(ReportsFileError, match=r"report 'by_device': pivots: .*") as raised:
        build_definitions(load_settings({"LINKEDIN_ASSETS_REPORTS_FILE": str(bad)}))
    assert str(bad) in str(raised.value)
