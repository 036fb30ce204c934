"""The analytics planner: fewest windows under the element cap, free ended campaigns, field chunks, counts."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkedin_assets.linkedin import restli
from linkedin_assets.linkedin.fields import DEFAULT_METRICS, DEMOGRAPHIC_METRICS, MAX_FIELDS_PER_REQUEST, MEMBER_PIVOTS
from linkedin_assets.linkedin.plan import (
    ActivitySpan,
    AnalyticsQuery,
    merge_plans,
    plan_daily,
    plan_monthly,
    split_query,
)

ACCOUNT = "urn:li:sponsoredAccount:1"
DAY0 = dt.date(2025, 1, 1)


def always_active(n: int, kind: str = "sponsoredCampaign") -> list[ActivitySpan]:
    return [ActivitySpan(f"urn:li:{kind}:{i}", None, None) for i in range(1, n + 1)]


def days(n: int) -> dt.date:
    """The last day of an n-day range starting at DAY0."""
    return DAY0 + dt.timedelta(days=n - 1)


def windows(queries: list[AnalyticsQuery]) -> list[tuple[dt.date, dt.date]]:
    return sorted({(q.start, q.end) for q in queries})


@pytest.mark.parametrize(("n_days", "n_windows"), [(149, 1), (150, 2), (298, 2), (299, 3)])
def test_windows_split_exactly_at_the_cap(n_days, n_windows):
    # 100 entities active every day: a window of d days may hold 100*d rows, which must stay below 15,000.
    queries = plan_daily(ACCOUNT, "CAMPAIGN", always_active(100), DAY0, days(n_days), ["impressions"])
    assert len(windows(queries)) == n_windows
    assert all(((q.end - q.start).days + 1) * 100 < 15_000 for q in queries)


def test_windows_cover_the_range_without_gaps_or_overlap():
    queries = plan_daily(ACCOUNT, "CREATIVE", always_active(40, "sponsoredCreative"), DAY0, days(200), ["clicks"])
    spans = windows(queries)
    assert spans[0][0] == DAY0 and spans[-1][1] == days(200)
    assert all(later[0] == earlier[1] + dt.timedelta(days=1) for earlier, later in itertools.pairwise(spans))


def test_ended_campaigns_cost_nothing():
    ended = [
        ActivitySpan(f"urn:li:sponsoredCampaign:{i}", dt.date(2023, 1, 1), dt.date(2023, 6, 30)) for i in range(50)
    ]
    not_started = [ActivitySpan("urn:li:sponsoredCampaign:99", days(91), None)]
    assert plan_daily(ACCOUNT, "CAMPAIGN", ended + not_started, DAY0, days(90), DEFAULT_METRICS) == []


def test_ended_campaigns_do_not_shrink_the_windows_of_live_ones():
    live = always_active(100)
    ended = [ActivitySpan(f"urn:li:sponsoredCampaign:{i}", None, DAY0 - dt.timedelta(days=1)) for i in range(200, 900)]
    with_ended = plan_daily(ACCOUNT, "CAMPAIGN", live + ended, DAY0, days(149), ["clicks"])
    assert windows(with_ended) == windows(plan_daily(ACCOUNT, "CAMPAIGN", live, DAY0, days(149), ["clicks"]))
    assert len(windows(with_ended)) == 1


def test_spans_count_only_their_days_in_the_window():
    # 200 campaigns each live for 30 days of a 90-day range: 6,000 entity-days in all, one window suffices,
    # though 200 x 90 = 18,000 would not fit.
    spans = [
        ActivitySpan(f"urn:li:sponsoredCampaign:{i}", days(1 + 30 * (i % 3)), days(30 + 30 * (i % 3)))
        for i in range(200)
    ]
    assert len(windows(plan_daily(ACCOUNT, "CAMPAIGN", spans, DAY0, days(90), ["clicks"]))) == 1


def test_chunks_hold_at_most_twenty_fields_including_the_keys():
    metrics = list(DEFAULT_METRICS) + ["viralImpressions", "viralClicks"]
    queries = plan_daily(ACCOUNT, "CAMPAIGN", always_active(3), DAY0, days(10), metrics)
    assert len(queries) == 3
    for query in queries:
        fields = dict(query.params())["fields"].split(",")
        assert len(fields) <= MAX_FIELDS_PER_REQUEST
        assert {"dateRange", "pivotValues"} <= set(fields)
    assert sorted(m for q in queries for m in q.metrics) == sorted(metrics)


def test_request_count_is_accounts_times_pivots_times_chunks_times_windows():
    parts = []
    for account in range(1, 4):
        urn = f"urn:li:sponsoredAccount:{account}"
        parts.append(plan_daily(urn, "CAMPAIGN", always_active(100), DAY0, days(200), DEFAULT_METRICS))
        parts.append(
            plan_daily(urn, "CREATIVE", always_active(300, "sponsoredCreative"), DAY0, days(200), DEFAULT_METRICS)
        )
    plan = merge_plans(*parts)
    # CAMPAIGN: 200 days x 100 -> 2 windows; CREATIVE: 200 x 300 -> 49 days per window -> 5 windows; 2 chunks each.
    assert plan.request_count == 3 * (2 + 5) * 2
    assert len(plan.describe().splitlines()) == 3 * 2


def test_a_day_above_the_cap_splits_the_entities_into_facet_batches():
    spans = always_active(25, "sponsoredCreative")
    queries = plan_daily(ACCOUNT, "CREATIVE", spans, DAY0, days(3), ["clicks"], max_elements=10)
    assert {q.facet for q in queries} == {"creatives"}
    batches = {q.facet_urns for q in queries}
    assert sorted(urn for batch in batches for urn in batch) == sorted(s.urn for s in spans)
    assert all(len(batch) < 10 for batch in batches)
    # each batch of 9 creatives fits one day per window
    assert all(q.start == q.end for q in queries)


def test_params_encode_to_a_valid_analytics_query():
    (query,) = plan_daily(ACCOUNT, "CAMPAIGN", always_active(2), DAY0, days(31), ["impressions", "costInUsd"])
    decoded = restli.decode_query(restli.encode_query(query.params()))
    assert decoded == {
        "q": "analytics",
        "pivot": "CAMPAIGN",
        "timeGranularity": "DAILY",
        "dateRange": {
            "start": {"year": "2025", "month": "1", "day": "1"},
            "end": {"year": "2025", "month": "1", "day": "31"},
        },
        "accounts": [ACCOUNT],
        "fields": "impressions,costInUsd,dateRange,pivotValues",
    }


def test_monthly_plan_covers_whole_months_in_one_chunk_per_pivot():
    queries = [
        query
        for pivot in MEMBER_PIVOTS
        for query in plan_monthly(
            "accounts", [ACCOUNT], pivot, dt.date(2025, 1, 1), dt.date(2025, 3, 1), DEMOGRAPHIC_METRICS
        )
    ]
    assert len(queries) == len(MEMBER_PIVOTS)
    assert {(q.start, q.end, q.granularity) for q in queries} == {
        (dt.date(2025, 1, 1), dt.date(2025, 3, 31), "MONTHLY")
    }


def test_monthly_windows_respect_the_expected_row_count():
    queries = plan_monthly(
        "accounts", [ACCOUNT], "MEMBER_COMPANY", dt.date(2024, 1, 1), dt.date(2025, 12, 1), ["clicks"], 5000
    )
    # 5,000 values a month: two months would reach 10,000 < 15,000, three would not.
    assert [(q.start, q.end) for q in queries][:2] == [
        (dt.date(2024, 1, 1), dt.date(2024, 2, 29)),
        (dt.date(2024, 3, 1), dt.date(2024, 4, 30)),
    ]
    assert len(queries) == 12


def test_split_query_halves_windows_then_entities():
    (query,) = plan_daily(ACCOUNT, "CAMPAIGN", always_active(4), DAY0, days(10), ["clicks"])
    first, second = split_query(query)
    assert (first.start, first.end, second.start, second.end) == (DAY0, days(5), days(6), days(10))
    one_day = AnalyticsQuery(**{**query.__dict__, "start": DAY0, "end": DAY0})
    left, right = split_query(one_day)
    assert (left.facet, right.facet) == ("campaigns", "campaigns")
    assert left.facet_urns + right.facet_urns == query.entity_urns
    single = AnalyticsQuery(**{**left.__dict__, "facet_urns": left.facet_urns[:1]})
    assert split_query(single) is None


@given(
    st.lists(st.tuples(st.none() | st.integers(0, 60), st.none() | st.integers(0, 60)), min_size=1, max_size=40),
    st.integers(1, 60),
    st.integers(2, 120),
)
def test_greedy_windows_are_valid_and_fewest(raw_spans, n_days, cap):
    spans = [
        ActivitySpan(
            f"urn:li:sponsoredCampaign:{i}",
            days(1 + a) if a is not None else None,
            days(1 + b) if b is not None else None,
        )
        for i, (a, b) in enumerate(raw_spans)
    ]
    end = days(n_days)
    per_day = [sum(1 for s in spans if s.days_in(d, d)) for d in (DAY0 + dt.timedelta(days=k) for k in range(n_days))]
    queries = plan_daily(ACCOUNT, "CAMPAIGN", spans, DAY0, end, ["clicks"], max_elements=cap)
    if sum(per_day) == 0:
        assert queries == []
        return
    if max(per_day) >= cap:
        assert {q.facet for q in queries} == {"campaigns"}
        return
    found = windows(queries)
    assert all(sum(per_day[(a - DAY0).days : (b - DAY0).days + 1]) < cap for a, b in found)
    # lower bound: any valid partition needs at least ceil-like cuts; check against an exhaustive DP
    best = [0] + [10**9] * n_days
    for stop in range(1, n_days + 1):
        for begin in range(stop):
            if sum(per_day[begin:stop]) < cap:
                best[stop] = min(best[stop], best[begin] + 1)
    assert len(found) == best[n_days]
