"""Plans against the truth: how many daily CAMPAIGN/CREATIVE windows each plan asks for, and how many would hit the cap.

Builds the simulator's dataset in-process (no HTTP), parses its campaigns and creatives with the client's models,
plans every account's daily CAMPAIGN and CREATIVE requests over the last 365 (and 182) days, and counts each
window's true elements from the simulator's creative-day facts (an element exists for an entity-day iff one of
its creative-day facts does). A window whose true count reaches the cap comes back cut: the client asks again in
halves (simulated here with ``split_query``, recursively), which is a re-ask.

Scenarios (per account, summed over the accounts):

- ``campaigns, schedules``: the first sync: nothing known, run schedules only (the plan before and after).
- ``creatives, delivery-filtered spans``: what ``creative_daily_metrics`` did at commit 0955c80: creative spans
  cut to the days their campaign has a row (the campaign rows of the same run are in the warehouse).
- ``creatives, known rows +M %``: ``plan_daily(..., known_rows_per_day=creative_rows_per_day(...), margin=M)``.
- ``campaigns, earlier rows +10 %``: a re-sync of the same range with the earlier campaign rows known.

Columns: windows planned; requests planned (windows x field chunks); the largest true element count of a
planned window; windows whose true count reaches the cap; requests made once split-and-retry has run; re-asks
(responses at the cap) as a share of the analytics requests made; the lower bound (the fewest windows any plan
could use, from the true per-day counts, x field chunks).

    .venv/bin/python benchmarks/bench_plan.py [--profile large] [--days 365 182] [--seed 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from linkedin_assets.linkedin import plan as plan_module
from linkedin_assets.linkedin.catalogue import DAILY_METRICS
from linkedin_assets.linkedin.fields import MAX_ELEMENTS, chunk_metrics
from linkedin_assets.linkedin.models import Campaign, Creative, parse_entity
from linkedin_assets.linkedin.plan import ActivitySpan, campaign_span, creative_span, plan_daily, split_query
from linkedin_assets.simulator.config import SimulatorConfig
from linkedin_assets.simulator.data import Dataset

CHUNKS = len(chunk_metrics(DAILY_METRICS))
HAS_KNOWN_ROWS = hasattr(plan_module, "creative_rows_per_day")


@dataclass
class Tally:
    windows: int = 0
    planned: int = 0
    max_true: int = 0
    at_cap: int = 0
    made: int = 0
    reasks: int = 0
    lower_bound: int = 0

    def add(self, queries, per_day: np.ndarray, first: dt.date, cap: int) -> None:
        """One account's plan against its true per-day element counts (``per_day[0]`` is ``first``)."""

        def true(query) -> int:
            return int(per_day[(query.start - first).days : (query.end - first).days + 1].sum())

        def ask(query) -> None:
            self.made += 1
            if true(query) >= cap and (halves := split_query(query)) is not None:
                self.reasks += 1
                for half in halves:
                    ask(half)

        windows = {(q.start, q.end) for q in queries}
        self.windows += len(windows)
        self.planned += len(queries)
        for query in queries:
            count = true(query)
            self.max_true = max(self.max_true, count)
            self.at_cap += count >= cap and query.metrics == queries[0].metrics
            ask(query)
        self.lower_bound += fewest_windows(per_day, cap) * CHUNKS


def fewest_windows(per_day: np.ndarray, cap: int) -> int:
    """Greedy cut of the true counts: the fewest windows each below the cap (0 if there are no rows)."""
    if not per_day.sum():
        return 0
    windows, bound = 1, 0
    for count in per_day.tolist():
        if bound + count >= cap and bound:
            windows, bound = windows + 1, 0
        bound += count
    return windows


def legacy_creative_spans(
    creatives: list[dict], campaign_spans: dict[int, ActivitySpan], delivered: dict[int, set], start, end
) -> list[ActivitySpan]:
    """``creative_daily_metrics`` at 0955c80: each creative's span cut to the days its campaign has a row."""
    spans = []
    for row in creatives:
        span = creative_span(row, campaign_spans.get(int(row["campaign_id"])))
        first, last = max(start, span.start or start), min(end, span.end or end)
        days = [
            d
            for d in (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
            if d in delivered.get(int(row["campaign_id"]), ())
        ]
        run_start = previous = None
        for day in days:
            if previous is None or (day - previous).days > 1:
                if run_start is not None:
                    spans.append(ActivitySpan(span.urn, run_start, previous))
                run_start = day
            previous = day
        if run_start is not None:
            spans.append(ActivitySpan(span.urn, run_start, previous))
    return spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="large")
    parser.add_argument("--days", type=int, nargs="+", default=[365, 182])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--today", type=dt.date.fromisoformat, default=dt.date(2026, 11, 28))
    args = parser.parse_args()

    started = time.perf_counter()
    dataset = Dataset(SimulatorConfig(profile=args.profile, seed=args.seed, today=args.today))
    cap = MAX_ELEMENTS
    accounts = []
    for account in dataset.account_data:
        campaigns = [parse_entity(Campaign, c, "campaign", "adCampaigns").to_row() for c in account.campaigns]
        creatives = [parse_entity(Creative, c, "creative", "creatives").to_row() for c in account.creatives]
        rows = dataset.metric_rows(account)
        facts = rows["creative_id"] != 0  # campaign-level corrections (oddities) create no element of their own
        day, campaign_id = rows["day"][facts].astype(np.int64), rows["campaign_id"][facts].astype(np.int64)
        pairs = np.unique(campaign_id * 100_000 + day)
        accounts.append(
            {
                "urn": f"urn:li:sponsoredAccount:{account.id}",
                "campaigns": campaigns,
                "creatives": creatives,
                "creative_days": np.bincount(day, minlength=dataset.days),
                "campaign_days": np.bincount(pairs % 100_000, minlength=dataset.days),
                "campaign_rows": [(int(p // 100_000), dataset.date_of(int(p % 100_000))) for p in pairs],
            }
        )
    print(
        f"{args.profile}: {len(accounts)} accounts, {sum(len(a['campaigns']) for a in accounts)} campaigns, "
        f"{sum(len(a['creatives']) for a in accounts)} creatives, {dataset.days} days of history ending "
        f"{dataset.today - dt.timedelta(days=1)}; cap {cap:,}, {CHUNKS} field chunks per window; "
        f"built in {time.perf_counter() - started:.1f} s"
    )

    header = (
        f"{'days':>4} {'scenario':<38} {'windows':>7} {'planned':>7} {'max true':>8} {'at cap':>6} {'made':>5} "
        f"{'re-asks':>7} {'re-ask %':>8} {'lower bound':>11}"
    )
    for n_days in args.days:
        end = dataset.today - dt.timedelta(days=1)
        start = max(dataset.history_start, end - dt.timedelta(days=n_days - 1))
        first = (start - dataset.history_start).days
        known_days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        tallies: dict[str, Tally] = defaultdict(Tally)
        for account in accounts:
            spans = {int(c["id"]): campaign_span(c) for c in account["campaigns"]}
            campaign_days = account["campaign_days"][first:]
            creative_days = account["creative_days"][first:]
            in_range = [(c, d) for c, d in account["campaign_rows"] if start <= d <= end]
            urn = account["urn"]

            queries = plan_daily(urn, "CAMPAIGN", list(spans.values()), start, end, DAILY_METRICS)
            tallies["campaigns, schedules"].add(queries, campaign_days, start, cap)

            delivered: dict[int, set] = defaultdict(set)
            for campaign, day in in_range:
                delivered[campaign].add(day)
            legacy = legacy_creative_spans(account["creatives"], spans, delivered, start, end)
            queries = plan_daily(urn, "CREATIVE", legacy, start, end, DAILY_METRICS)
            tallies["creatives, delivery-filtered spans"].add(queries, creative_days, start, cap)

            if not HAS_KNOWN_ROWS:
                continue
            creative_spans = [(int(c["campaign_id"]), creative_span(c, spans.get(int(c["campaign_id"])))) for c in
                              account["creatives"]]  # fmt: skip
            known = plan_module.creative_rows_per_day(creative_spans, in_range, known_days)
            for margin in (0.0, 0.05, plan_module.DEFAULT_MARGIN):
                queries = plan_daily(
                    urn,
                    "CREATIVE",
                    [span for _, span in creative_spans],
                    start,
                    end,
                    DAILY_METRICS,
                    known_rows_per_day=known,
                    margin=margin,
                )
                tallies[f"creatives, known rows +{margin:.0%}"].add(queries, creative_days, start, cap)
            earlier = plan_module.rows_per_day((d for _, d in in_range), known_days)
            queries = plan_daily(
                urn, "CAMPAIGN", list(spans.values()), start, end, DAILY_METRICS, known_rows_per_day=earlier
            )
            tallies[f"campaigns, earlier rows +{plan_module.DEFAULT_MARGIN:.0%}"].add(
                queries, campaign_days, start, cap
            )
        print(header)
        for name, t in tallies.items():
            share = 100 * t.reasks / t.made if t.made else 0.0
            print(
                f"{n_days:>4} {name:<38} {t.windows:>7} {t.planned:>7} {t.max_true:>8,} {t.at_cap:>6} {t.made:>5} "
                f"{t.reasks:>7} {share:>7.1f}% {t.lower_bound:>11}"
            )
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
