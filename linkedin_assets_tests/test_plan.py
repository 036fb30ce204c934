"""The analytics planner: fewest windows under the element cap, free ended campaigns, field chunks, counts,
and windows estimated from known rows that fit the cap on skewed workloads."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from dataclasses import dataclass

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkedin_assets.linkedin import restli
from linkedin_assets.linkedin.catalogue import DAILY_METRICS, DEMOGRAPHIC_METRICS, REACH_METRICS
from linkedin_assets.linkedin.fields import MAX_FIELDS_PER_REQUEST, MEMBER_PIVOTS
from linkedin_assets.linkedin.plan import (
    ActivitySpan,
    AnalyticsQuery,
    campaign_span,
    creative_rows_per_day,
    creative_span,
    daily_estimate,
    merge_plans,
    plan_daily,
    plan_monthly,
    rows_per_day,
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
    assert plan_daily(ACCOUNT, "CAMPAIGN", ended + not_started, DAY0, days(90), DAILY_METRICS) == []


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
    metrics = list(DAILY_METRICS) + ["viralReactions", "viralDownloadClicks", "documentCompletions"]  # 67 metrics
    queries = plan_daily(ACCOUNT, "CAMPAIGN", always_active(3), DAY0, days(10), metrics)
    assert len(queries) == 4  # 18 + 18 + 18 + 13
    for query in queries:
        fields = dict(query.params())["fields"].split(",")
        assert len(fields) <= MAX_FIELDS_PER_REQUEST
        assert {"dateRange", "pivotValues"} <= set(fields)
    assert sorted(m for q in queries for m in q.metrics) == sorted(metrics)


def test_request_count_is_accounts_times_pivots_times_chunks_times_windows():
    parts = []
    for account in range(1, 4):
        urn = f"urn:li:sponsoredAccount:{account}"
        parts.append(plan_daily(urn, "CAMPAIGN", always_active(100), DAY0, days(200), DAILY_METRICS))
        parts.append(
            plan_daily(urn, "CREATIVE", always_active(300, "sponsoredCreative"), DAY0, days(200), DAILY_METRICS)
        )
    plan = merge_plans(*parts)
    # CAMPAIGN: 200 days x 100 rows fit the cap in 2 windows, but reach allows at most 92 days -> 3 windows;
    # CREATIVE: 200 x 300 -> 49 days per window -> 5 windows; 4 chunks each (64 metrics).
    assert plan.request_count == 3 * (3 + 5) * 4
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


# -- spans: what the entity rows prove ---------------------------------------------------------------------------


def _utc(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def campaign_row(status: str, start: dt.date, end: dt.date | None, modified: dt.date) -> dict:
    """A campaign as the warehouse hands it back: ``runSchedule.end`` exclusive, timestamps as UTC timestamps."""
    return {
        "id": 7,
        "status": status,
        "run_schedule_start": _utc(start),
        "run_schedule_end": _utc(end) if end else pd.NaT,
        "last_modified_time": _utc(modified) + pd.Timedelta(hours=9),
    }


def test_a_paused_campaign_ends_on_its_last_modification_a_completed_one_on_its_schedule():
    paused = campaign_span(campaign_row("PAUSED", days(1), None, days(40)))
    assert (paused.start, paused.end) == (days(1), days(40))
    # LinkedIn sets COMPLETED itself (schedule or lifetime budget ran out): lastModified proves nothing
    completed = campaign_span(campaign_row("COMPLETED", days(1), days(91), days(10)))
    assert (completed.start, completed.end) == (days(1), days(90))
    assert campaign_span(campaign_row("COMPLETED", days(1), None, days(10))).end is None
    assert campaign_span(campaign_row("ACTIVE", days(1), None, days(10))).end is None
    # a person archived it before its scheduled end: the earlier of the two
    assert campaign_span(campaign_row("ARCHIVED", days(1), days(91), days(30))).end == days(30)


def test_a_creative_lives_inside_its_campaign_from_its_creation():
    campaign = ActivitySpan("urn:li:sponsoredCampaign:7", days(5), days(60))
    creative = {"id": 3, "intended_status": "PAUSED", "created_at": _utc(days(10)), "last_modified_at": _utc(days(80))}
    span = creative_span(creative, campaign)
    assert (span.start, span.end) == (days(10), days(60))
    active = creative_span({**creative, "intended_status": "ACTIVE"}, None)
    assert (active.start, active.end) == (days(10), None)


# -- estimates from known rows ------------------------------------------------------------------------------------


def test_known_days_count_their_rows_plus_the_margin_capped_by_the_schedule():
    spans = always_active(100)
    known = {days(1): 50, days(2): 95, days(3): 0, days(4): 130}
    estimate = daily_estimate(spans, DAY0, days(5), known, margin=0.10)
    # 50 -> 55; 95 -> 105 capped at the schedules' 100; 0 stays 0; 130 > 100: an entity is missing, trust the rows;
    # day 5 is unknown: the worst case
    assert estimate == [55, 100, 0, 143, 100]
    assert daily_estimate(spans, DAY0, days(5)) == [100] * 5
    with pytest.raises(ValueError, match="margin"):
        daily_estimate(spans, DAY0, days(5), known, margin=-0.1)


def test_rows_per_day_keeps_known_days_only_and_counts_zero_for_silent_ones():
    dates = [days(1), days(1), dt.datetime(2025, 1, 2, tzinfo=dt.UTC), _utc(days(2)), days(9)]
    assert rows_per_day(dates, [days(1), days(2), days(3)]) == {days(1): 2, days(2): 2, days(3): 0}


def test_creative_rows_per_day_counts_live_creatives_of_delivering_campaigns():
    creatives = [
        (1, ActivitySpan("urn:li:sponsoredCreative:11", None, None)),
        (1, ActivitySpan("urn:li:sponsoredCreative:12", days(2), None)),  # created on day 2
        (2, ActivitySpan("urn:li:sponsoredCreative:21", None, None)),
    ]
    campaign_days = [(1, days(1)), (1, _utc(days(2))), (2, days(2)), (3, days(2)), (1, days(4))]
    known = creative_rows_per_day(creatives, campaign_days, [days(1), days(2), days(3)])
    # day 4 is not known: left out (the schedules decide); campaign 3 has no creatives we know of
    assert known == {days(1): 1, days(2): 3, days(3): 0}


@given(st.data())
def test_creative_rows_per_day_equals_counting_each_row_by_hand(data):
    offsets = st.none() | st.integers(-5, 40)
    creatives = [
        (c, ActivitySpan(f"urn:li:sponsoredCreative:{i}", *(days(1 + o) if o is not None else None for o in pair)))
        for i, (c, pair) in enumerate(data.draw(st.lists(st.tuples(st.integers(0, 5), st.tuples(offsets, offsets)))))
    ]
    rows = data.draw(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 40)), unique=True))
    campaign_days = [(c, days(1 + o)) for c, o in rows]
    known = data.draw(st.sets(st.integers(0, 40))).union({0})
    known_days = [days(1 + o) for o in known]
    by_hand = dict.fromkeys(known_days, 0)
    for campaign, day in campaign_days:
        if day in by_hand:
            by_hand[day] += sum(1 for c, span in creatives if c == campaign and span.days_in(day, day))
    assert creative_rows_per_day(creatives, campaign_days, known_days) == by_hand


def test_an_account_whose_known_days_have_no_rows_costs_nothing():
    spans = always_active(40, "sponsoredCreative")
    silent = dict.fromkeys((days(1 + i) for i in range(30)), 0)
    assert plan_daily(ACCOUNT, "CREATIVE", spans, DAY0, days(30), DAILY_METRICS, known_rows_per_day=silent) == []
    # one unknown day is enough to ask
    partial = {d: 0 for d in silent if d != days(30)}
    assert len(plan_daily(ACCOUNT, "CREATIVE", spans, DAY0, days(30), ["clicks"], known_rows_per_day=partial)) == 1


def test_known_rows_need_fewer_windows_than_the_schedules():
    # 300 creatives scheduled every day, but their campaigns delivered only on weekdays-ish: 120 creatives a day
    spans = always_active(300, "sponsoredCreative")
    known = {days(1 + i): 120 for i in range(200)}
    by_schedule = windows(plan_daily(ACCOUNT, "CREATIVE", spans, DAY0, days(200), ["clicks"]))
    by_rows = windows(plan_daily(ACCOUNT, "CREATIVE", spans, DAY0, days(200), ["clicks"], known_rows_per_day=known))
    assert len(by_schedule) == 5  # 49 days of 300 per window
    assert len(by_rows) == 2  # 113 days of 132 (120 + 10 %) per window


# -- a generated workload with skewed activity --------------------------------------------------------------------


@dataclass
class Workload:
    """One account's entities and what they really delivered (the truth the API would answer with)."""

    n_days: int
    campaign_spans: dict[int, ActivitySpan]
    creatives: list[tuple[int, ActivitySpan]]
    campaign_rows: list[tuple[int, dt.date]]
    creative_rows: list[tuple[str, dt.date]]


def _delivery(rng: random.Random, kind: str, first: int, last: int) -> list[int]:
    """Day offsets a campaign delivered on, inside its span: every day, sparsely, or in bursts."""
    every = list(range(first, last + 1))
    if kind == "every day":
        return every
    if kind == "sparse":
        return [d for d in every if rng.random() < 0.1]
    days_, d = [], first
    while d <= last:  # bursts: runs of 1-10 days separated by gaps of 3-30
        run = rng.randint(1, 10)
        days_ += range(d, min(d + run, last + 1))
        d += run + rng.randint(3, 30)
    return days_


def make_workload(seed: int, n_days: int, n_campaigns: int, kind: str, creatives_per_campaign: int) -> Workload:
    """An account whose campaigns share one activity pattern (``kind``); spans and creatives drawn from ``seed``."""
    rng = random.Random(seed)
    spans, creatives, campaign_rows, creative_rows = {}, [], [], []
    for c in range(n_campaigns):
        first = rng.choice([None, rng.randint(0, n_days - 1)])
        last = rng.choice([None, None, rng.randint(first or 0, n_days - 1 + 10)])
        span = ActivitySpan(
            f"urn:li:sponsoredCampaign:{c}",
            days(1 + first) if first is not None else None,
            days(1 + last) if last is not None else None,
        )
        spans[c] = span
        lo, hi = first or 0, min(n_days - 1, last if last is not None else n_days - 1)
        delivered = _delivery(rng, kind, lo, hi)
        campaign_creatives = []
        for k in range(rng.randint(0, creatives_per_campaign)):
            created = rng.choice([lo, rng.randint(lo, max(lo, hi))])
            stopped = rng.choice([None, rng.randint(created, max(created, hi))])
            creative = ActivitySpan(
                f"urn:li:sponsoredCreative:{c * 100 + k}",
                max(days(1 + created), span.start) if span.start else days(1 + created),
                days(1 + stopped) if stopped is not None else span.end,
            )
            creatives.append((c, creative))
            campaign_creatives.append(creative)
        for offset in delivered:
            day = days(1 + offset)
            live = [cr for cr in campaign_creatives if cr.days_in(day, day)]
            # a delivering campaign-day has at least one delivering creative if it has any live creative
            delivering = [cr for cr in live if rng.random() < 0.7] or live[:1]
            if live or not campaign_creatives:
                campaign_rows.append((c, day))
            creative_rows += [(cr.urn, day) for cr in delivering]
    return Workload(n_days, spans, creatives, campaign_rows, creative_rows)


workloads = st.builds(
    make_workload,
    seed=st.integers(0, 2**32 - 1),
    n_days=st.integers(1, 120),
    n_campaigns=st.integers(1, 60),
    kind=st.sampled_from(["every day", "sparse", "bursts"]),
    creatives_per_campaign=st.integers(1, 8),
)
caps = st.floats(0.01, 1.0)
"""The cap as a share of the workload's estimated rows, so that most examples need several windows (but above
the busiest day: a day alone at the cap is planned in entity batches, tested above)."""


def _cap(share: float, estimate: list[int]) -> int:
    return max(2, math.ceil(share * sum(estimate)), max(estimate, default=0) + 1)


def _true_per_day(rows: list[tuple[object, dt.date]], n_days: int) -> list[int]:
    per_day = [0] * n_days
    for _, day in rows:
        per_day[(day - DAY0).days] += 1
    return per_day


def _check_windows(queries, estimate: list[int], truth: list[int], n_days: int, cap: int) -> None:
    """Windows cover the range without gaps, never reach the cap, and no two neighbours could be merged."""
    found = windows(queries)
    assert found[0][0] == DAY0 and found[-1][1] == days(n_days)
    assert all(b[0] == a[1] + dt.timedelta(days=1) for a, b in itertools.pairwise(found))

    def total(counts, first, last):
        return sum(counts[(first - DAY0).days : (last - DAY0).days + 1])

    for first, last in found:
        assert total(truth, first, last) < cap, "a window estimated from known rows reached the cap"
        assert total(estimate, first, last) < cap
    for (first, _), (_, last) in itertools.pairwise(found):
        assert total(estimate, first, last) >= cap, "two neighbouring windows fit the cap together"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(workloads, min_size=1, max_size=3), caps)
def test_creative_windows_from_campaign_rows_never_reach_the_cap_and_are_fewest(accounts, share):
    """Several accounts of different shapes (busy every day, sparse, bursts), each planned from its campaign rows."""
    for workload in accounts:
        n = workload.n_days
        every_day = [days(1 + i) for i in range(n)]
        spans = [span for _, span in workload.creatives]
        known = creative_rows_per_day(workload.creatives, workload.campaign_rows, every_day)
        truth = _true_per_day(workload.creative_rows, n)
        estimate = daily_estimate([s for s in spans if s.days_in(DAY0, days(n))], DAY0, days(n), known)
        cap = _cap(share, estimate)
        queries = plan_daily(ACCOUNT, "CREATIVE", spans, DAY0, days(n), ["clicks"], cap, known_rows_per_day=known)
        assert all(t <= e for t, e in zip(truth, estimate, strict=True)), "the estimate is not an upper bound"
        if not any(estimate):
            assert queries == [] and not any(truth)
        elif max(estimate) >= cap:
            assert {q.facet for q in queries} == {"creatives"}  # one day alone could reach the cap
        else:
            _check_windows(queries, estimate, truth, n, cap)


REVISED_SHARE = 0.10
"""Rows LinkedIn may add to a day after it was synced, as a share of that day's rows: the default margin covers it."""

campaign_workloads = st.builds(
    make_workload,
    seed=st.integers(0, 2**32 - 1),
    n_days=st.integers(1, 120),
    n_campaigns=st.integers(1, 300),
    kind=st.sampled_from(["every day", "sparse", "bursts"]),
    creatives_per_campaign=st.just(0),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(campaign_workloads, caps)
def test_campaign_windows_from_earlier_rows_absorb_revisions_within_the_margin(workload, share):
    """Earlier campaign rows are known; since then LinkedIn added 10 % more rows (rounded down) on every day,
    as far as the schedules allow."""
    n = workload.n_days
    every_day = [days(1 + i) for i in range(n)]
    spans = list(workload.campaign_spans.values())
    earlier = rows_per_day((day for _, day in workload.campaign_rows), every_day)
    live = [s for s in spans if s.days_in(DAY0, days(n))]
    worst = daily_estimate(live, DAY0, days(n))
    truth = [
        min(w, t + math.floor(t * REVISED_SHARE))
        for t, w in zip(_true_per_day(workload.campaign_rows, n), worst, strict=True)
    ]
    estimate = daily_estimate(live, DAY0, days(n), earlier)
    if not any(estimate):
        assert plan_daily(ACCOUNT, "CAMPAIGN", spans, DAY0, days(n), ["clicks"], known_rows_per_day=earlier) == []
        return
    cap = _cap(share, estimate)
    queries = plan_daily(ACCOUNT, "CAMPAIGN", spans, DAY0, days(n), ["clicks"], cap, known_rows_per_day=earlier)
    _check_windows(queries, estimate, truth, n, cap)


def test_windows_asking_for_reach_span_at_most_92_days():
    """LinkedIn leaves reach out of responses over more than 92 days: a plan with reach never asks for one."""
    spans = [ActivitySpan(f"urn:li:sponsoredCampaign:{i}", None, None) for i in range(3)]
    assert "approximateMemberReach" in DAILY_METRICS
    plan = plan_daily(ACCOUNT, "CAMPAIGN", spans, DAY0, days(365), DAILY_METRICS)
    lengths = {(q.end - q.start).days + 1 for q in plan}
    assert max(lengths) == 92
    assert len({(q.start, q.end) for q in plan}) == math.ceil(365 / 92)  # the fewest windows the rule allows
    without_reach = [m for m in DAILY_METRICS if m not in REACH_METRICS]
    assert len({(q.start, q.end) for q in plan_daily(ACCOUNT, "CAMPAIGN", spans, DAY0, days(365), without_reach)}) == 1
