"""Custom reports (``linkedin_assets.custom_reports``): a YAML declaration becomes MetricTables, or one error naming
the file, each bad report and field, and what to do. Pure Python."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from linkedin_assets.custom_reports import ReportsFileError, load_reports, parse_reports
from linkedin_assets.warehouse.schema import MetricTable

KEYS = "name, finder, pivots, granularity, metrics, facet, description"
EXAMPLE = Path(__file__).resolve().parents[1] / "reports.example.yaml"

GOOD = """
reports:
  - name: campaign_device_daily
    finder: statistics
    pivots: [campaign, IMPRESSION_DEVICE_TYPE]
    granularity: DAILY
    metrics: [impressions, clicks, costInLocalCurrency, clicks]
    description: Delivery per campaign and device.
  - name: campaign_seniority_monthly
    finder: analytics
    pivots: [MEMBER_SENIORITY]
    granularity: MONTHLY
    metrics: [impressions, cost_in_usd, landing_page_clicks]
    facet: campaign
"""

VALID = {
    "name": "my_report",
    "finder": "statistics",
    "pivots": ["CAMPAIGN"],
    "granularity": "DAILY",
    "metrics": ["impressions"],
}


def _problems(report: dict, source: str = "reports.yaml") -> str:
    with pytest.raises(ReportsFileError) as caught:
        parse_reports(yaml.safe_dump({"reports": [report]}), source)
    return str(caught.value)


def test_a_valid_file_gives_metric_tables() -> None:
    device, seniority = parse_reports(GOOD)
    assert device == MetricTable(
        name="campaign_device_daily",
        finder="statistics",
        pivots=("CAMPAIGN", "IMPRESSION_DEVICE_TYPE"),
        granularity="DAILY",
        metrics=("impressions", "clicks", "costInLocalCurrency"),
        facet="account",
        description="Delivery per campaign and device.",
    )
    assert device.spec().column_names[:7] == (
        "campaign_id",
        "impression_device_type",
        "date",
        "account_id",
        "impressions",
        "clicks",
        "cost_in_local_currency",
    )
    assert device.spec().primary_key == ("campaign_id", "impression_device_type", "date")
    assert (seniority.finder, seniority.facet, seniority.granularity) == ("analytics", "campaign", "MONTHLY")
    assert seniority.metrics == ("impressions", "costInUsd", "landingPageClicks")
    assert seniority.spec().primary_key == ("campaign_id", "member_seniority", "month")
    assert "account_id" in seniority.spec().column_names


def test_the_example_file_loads() -> None:
    names = [table.name for table in load_reports(EXAMPLE)]
    assert names == ["campaign_device_daily", "campaign_seniority_monthly"]


def test_an_empty_list_declares_no_report() -> None:
    assert parse_reports("reports: []") == ()


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        ({"name": "Campaign-Devices"}, "reports[0]: name", "use a lowercase identifier"),
        ({"name": "x" * 64}, "reports[0]: name", "use a lowercase identifier"),
        ({"name": "campaign_daily_metrics"}, "name", "choose another name"),
        ({"name": "campaigns_history"}, "name", "choose another name"),
        ({"name": "_writes"}, "reports[0]: name", "use a lowercase identifier"),
        ({"name": "snapshot"}, "name", "built-in table or asset; choose another name"),
        ({"finder": "attributedRevenueMetrics"}, "finder", "not one of analytics, statistics"),
        ({"pivots": ["CAMPAIGN", "DEVICE"]}, "pivots", "unknown pivot DEVICE; known: ACCOUNT, CAMPAIGN_GROUP"),
        ({"pivots": []}, "pivots", "names 0 pivots; give 1 to 3"),
        ({"pivots": ["ACCOUNT", "CAMPAIGN", "CREATIVE", "SHARE"]}, "pivots", "give 1 to 3"),
        ({"pivots": "CAMPAIGN"}, "pivots", "must be a list"),
        ({"pivots": ["CAMPAIGN", "campaign"]}, "pivots", "repeats a pivot"),
        ({"finder": "analytics", "pivots": ["CAMPAIGN", "CREATIVE"]}, "pivots", "exactly one pivot"),
        ({"pivots": ["CAMPAIGN", "MEMBER_SENIORITY"]}, "pivots", "MEMBER_* pivots only alone with finder analytics"),
        ({"granularity": "ALL"}, "granularity", "meaning changes"),
        ({"granularity": "WEEKLY"}, "granularity", "not one of DAILY, MONTHLY, YEARLY"),
        ({"metrics": []}, "metrics", "is empty; name at least one metric"),
        ({"metrics": ["impresions"]}, "metrics", "unknown LinkedIn metric 'impresions' (did you mean impressions"),
        ({"metrics": ["approximateUniqueImpressions"]}, "metrics", "retired by LinkedIn in API version 202401"),
        (
            {"pivots": ["CAMPAIGN", "IMPRESSION_DEVICE_TYPE"], "metrics": ["clicks", "approximateMemberReach"]},
            "metrics",
            "approximateMemberReach: not served on pivot IMPRESSION_DEVICE_TYPE",
        ),
        (
            {"finder": "analytics", "pivots": ["MEMBER_COUNTRY_V2"], "metrics": ["impressions", "cardClicks"]},
            "metrics",
            "cardClicks: not served on pivot MEMBER_COUNTRY_V2",
        ),
        (
            {"pivots": ["CAMPAIGN", "CONVERSION"], "metrics": ["externalWebsiteConversions", "impressions"]},
            "metrics",
            "impressions: not served on pivot CONVERSION",
        ),
        ({"facet": "creative"}, "facet", "not one of account, campaign"),
        ({"facet": "campaign"}, "facet", "campaign only with finder analytics"),
        ({"metric": ["clicks"]}, "unknown key metric", "the keys are name, finder, pivots"),
        ({"description": ["not", "text"]}, "description", "valid string"),
    ],
)
def test_a_bad_declaration_names_the_file_report_and_field(change: dict, field: str, expected: str) -> None:
    message = _problems({**VALID, **change})
    name = change.get("name", "my_report")
    where = "reports.yaml: " if field.startswith("reports[") else f"reports.yaml: report {name!r}: "
    assert message.startswith(where + field), message
    assert expected in message, message
    assert "\n" not in message, message


@pytest.mark.parametrize("field", ["name", "finder", "pivots", "granularity", "metrics"])
def test_a_missing_field_is_named(field: str) -> None:
    report = {key: value for key, value in VALID.items() if key != field}
    where = "reports[0]" if field == "name" else "report 'my_report'"
    assert _problems(report) == f"reports.yaml: {where}: {field}: missing; add it"


def test_every_problem_is_reported_together_one_line_each() -> None:
    text = yaml.safe_dump(
        {
            "reports": [
                {**VALID, "granularity": "ALL", "metrics": ["impresions", "clicks"], "fiinder": "x"},
                {**VALID, "name": "Bad Name", "pivots": ["FOO"]},
                dict(VALID),
                "not a report",
            ]
        },
        sort_keys=False,
    )
    with pytest.raises(ReportsFileError) as caught:
        parse_reports(text, "conf/reports.yaml")
    lines = str(caught.value).splitlines()
    assert [line.split(": ")[1:3] for line in lines] == [
        ["report 'my_report'", "granularity"],
        ["report 'my_report'", "metrics"],
        ["report 'my_report'", f"unknown key fiinder; the keys are {KEYS} (check the spelling)"],
        ["reports[1]", "name"],
        ["reports[1]", "pivots"],
        ["report 'my_report'", "name"],
        ["reports[3]", "not a mapping; give name, finder, pivots, granularity and metrics"],
    ]
    assert all(line.startswith("conf/reports.yaml: ") for line in lines)
    assert "also the name of reports[0]; choose another name" in lines[5]


def test_several_metric_problems_are_one_line_each() -> None:
    message = _problems({**VALID, "metrics": ["impresions", "clickz", "approximateUniqueImpressions"]})
    lines = message.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("reports.yaml: report 'my_report': metrics: ") for line in lines)
    assert "'clickz'" in lines[1]


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "reports.yaml"
    with pytest.raises(ReportsFileError, match="no such reports file") as caught:
        load_reports(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert "LINKEDIN_ASSETS_REPORTS_FILE" in str(caught.value)


def test_a_directory_is_not_a_reports_file(tmp_path: Path) -> None:
    with pytest.raises(ReportsFileError, match=f"^{tmp_path}: cannot read the reports file"):
        load_reports(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the top level must be a mapping with a 'reports' list"),
        ("- name: x", "the top level must be a mapping with a 'reports' list"),
        ("reports: {name: x}", "the top level must be a mapping with a 'reports' list"),
        ("reports: []\nreport: []", "unknown top-level key report; only 'reports' is read"),
        ("reports: [", "not valid YAML"),
        ("reports:\n  - name: a\n    name: b\n", "not valid YAML: key 'name' given twice (line 3)"),
    ],
)
def test_a_file_that_is_not_a_reports_file_names_the_path(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "reports.yaml"
    path.write_text(text)
    with pytest.raises(ReportsFileError) as caught:
        load_reports(str(path))
    assert str(caught.value).startswith(f"{path}: {expected}"), caught.value


def test_reach_cannot_be_asked_for_a_year():
    text = (
        "reports:\n  - name: yearly_reach\n    finder: analytics\n    pivots: [CAMPAIGN]\n    granularity: YEARLY\n"
        "    metrics: [impressions, approximateMemberReach]\n"
    )
    with pytest.raises(ReportsFileError, match=r"report 'yearly_reach': metrics: approximateMemberReach: .*92 days"):
        parse_reports(text, "r.yaml")
