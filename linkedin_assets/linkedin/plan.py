"""Planning adAnalytics requests: the fewest requests that fetch every row without hitting the element cap.

Pure functions, no I/O. One account-level request (``accounts=List(urn)``) covers every campaign or creative
of the account; metrics are split into field chunks; the date range is cut into the fewest windows whose
estimated row count stays below the cap.

The estimate of a day is the run schedules' worst case (one row per entity whose span covers the day) unless the
caller knows better: ``known_rows_per_day`` gives, for the days it lists, how many rows the request can return
(for creatives: the creatives of the campaigns that delivered that day, from the campaign rows already in the
warehouse; for campaigns: the campaign rows of an earlier sync). Those counts get a margin
(:data:`DEFAULT_MARGIN`); the element-cap split-and-retry in the client stays the safety net.

How the metric assets call it, per account ``a`` (``known_days``: the days in ``[start, end]`` whose rows are
authoritative, e.g. the materialized daily partitions of ``campaign_daily_metrics``)::

    # creatives: what the campaign rows already in the warehouse allow
    known = creative_rows_per_day(
        [(int(c["campaign_id"]), creative_span(c, campaign_spans.get(int(c["campaign_id"])))) for c in creatives_of_a],
        zip(campaign_rows_of_a["campaign_id"], campaign_rows_of_a["date"]),
        known_days,
    )
    plan_daily(account_urn, "CREATIVE", creative_spans_of_a, start, end, DAILY_METRICS, known_rows_per_day=known)

    # campaigns: earlier campaign rows (read before this run writes), the same known days
    known = rows_per_day(earlier_campaign_rows_of_a["date"], known_days)
    plan_daily(account_urn, "CAMPAIGN", campaign_spans_of_a, start, end, DAILY_METRICS, known_rows_per_day=known)
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .catalogue import REACH_METRICS
from .fields import KEY_FIELDS, MAX_ELEMENTS, chunk_metrics
from .models import single_account

__all__ = [
    "DEFAULT_MARGIN",
    "ENTITY_FACETS",
    "ActivitySpan",
    "calendar_day",
    "campaign_span",
    "creative_rows_per_day",
    "creative_span",
    "daily_estimate",
    "entity_spans",
    "AnalyticsPlan",
    "AnalyticsQuery",
    "merge_plans",
    "plan_daily",
    "plan_monthly",
    "rows_per_day",
    "split_query",
]

ENTITY_FACETS: dict[str, str] = {
    "ACCOUNT": "accounts",
    "CAMPAIGN_GROUP": "campaignGroups",
    "CAMPAIGN": "campaigns",
    "CREATIVE": "creatives",
}
"""The facet that filters by the entities of a pivot (used to split a too-large account-level request)."""


@dataclass(frozen=True)
class ActivitySpan:
    """The days (inclusive) on which an entity can have analytics rows; ``None`` = unbounded on that side."""

    urn: str
    start: dt.date | None
    end: dt.date | None

    def days_in(self, start: dt.date, end: dt.date) -> int:
        """How many days of ``[start, end]`` this span covers."""
        first = max(start, self.start) if self.start else start
        last = min(end, self.end) if self.end else end
        return max(0, (last - first).days + 1)


def calendar_day(value: Any) -> dt.date | None:
    """A calendar day from a datetime, a date, or nothing (``None``, pandas' ``NaT``)."""
    if value is None or value != value:  # NaT and NaN are not equal to themselves
        return None
    return value.date() if isinstance(value, dt.datetime) else value


def _last_day(exclusive_end: Any) -> dt.date | None:
    """The last day before an exclusive end instant (``runSchedule.end``)."""
    if exclusive_end is None or exclusive_end != exclusive_end:
        return None
    return (exclusive_end - dt.timedelta(milliseconds=1)).date()


_SET_BY_AN_EDIT = frozenset({"PAUSED", "ARCHIVED", "CANCELED", "CANCELLED", "DRAFT", "REMOVED", "PENDING_DELETION"})
"""Campaign statuses only a person sets, by an edit that stamps ``changeAuditStamps.lastModified`` (connectors
use that stamp as the incremental cursor precisely because status changes move it). ``COMPLETED`` is not one:
LinkedIn sets it itself when the schedule or a lifetime budget runs out, so it proves nothing about the stamp."""


def campaign_span(campaign: Mapping[str, Any]) -> ActivitySpan:
    """When a campaign (a ``Campaign.to_row()`` row) can have rows: from its scheduled start (inclusive) to its
    scheduled end (exclusive), or, if a person stopped it (paused, archived, cancelled, deleted), no later than
    its last modification. ``ACTIVE`` and ``COMPLETED`` campaigns without an end are unbounded on the right."""
    start = calendar_day(campaign.get("run_schedule_start"))
    ends = [d for d in (_last_day(campaign.get("run_schedule_end")),) if d]
    if campaign.get("status") in _SET_BY_AN_EDIT and (modified := calendar_day(campaign.get("last_modified_time"))):
        ends.append(modified)
    return ActivitySpan(f"urn:li:sponsoredCampaign:{int(campaign['id'])}", start, min(ends, default=None))


def creative_span(creative: Mapping[str, Any], campaign: ActivitySpan | None) -> ActivitySpan:
    """When a creative (a ``Creative.to_row()`` row) can have rows: inside its campaign's span, from its creation,
    and unless it is ``ACTIVE`` up to its last modification (``intendedStatus`` is the advertiser's own setting,
    so any other value was set by an edit that stamped ``lastModifiedAt``)."""
    starts = [d for d in (campaign.start if campaign else None, calendar_day(creative.get("created_at"))) if d]
    ends = [campaign.end] if campaign and campaign.end else []
    if creative.get("intended_status") != "ACTIVE" and (modified := calendar_day(creative.get("last_modified_at"))):
        ends.append(modified)
    urn = f"urn:li:sponsoredCreative:{int(creative['id'])}"
    return ActivitySpan(urn, max(starts, default=None), min(ends, default=None))


def entity_spans(
    campaigns: Sequence[Mapping[str, Any]], creatives: Sequence[Mapping[str, Any]]
) -> dict[str, list[ActivitySpan]]:
    """Spans for the ``CAMPAIGN`` and ``CREATIVE`` pivots of one account's entity rows."""
    by_campaign = {int(campaign["id"]): campaign_span(campaign) for campaign in campaigns}
    return {
        "CAMPAIGN": list(by_campaign.values()),
        "CREATIVE": [creative_span(creative, by_campaign.get(int(creative["campaign_id"]))) for creative in creatives],
    }


@dataclass(frozen=True)
class AnalyticsQuery:
    """One adAnalytics request."""

    finder: str
    pivot: str
    granularity: str
    start: dt.date
    end: dt.date
    facet: str
    facet_urns: tuple[str, ...]
    metrics: tuple[str, ...]
    entity_urns: tuple[str, ...] = ()
    """Entities of ``pivot`` behind an account-level query; used only to split a truncated one-day response."""

    @property
    def account_id(self) -> int | None:
        """The ad account the query asks for, when its facet is exactly one account."""
        return single_account(self.facet_urns) if self.facet == "accounts" else None

    @property
    def pivots(self) -> tuple[str, ...]:
        """``pivot`` is one pivot, or for ``q=statistics`` the pivots joined by commas (``CAMPAIGN,CONVERSION``)."""
        return tuple(self.pivot.split(","))

    def params(self) -> list[tuple[str, Any]]:
        """Query parameters for :func:`restli.encode_query`."""
        return [
            ("q", self.finder),
            ("pivots", list(self.pivots)) if self.finder == "statistics" else ("pivot", self.pivot),
            ("timeGranularity", self.granularity),
            ("dateRange", {"start": self.start, "end": self.end}),
            (self.facet, list(self.facet_urns)),
            ("fields", ",".join((*self.metrics, *KEY_FIELDS))),
        ]


@dataclass(frozen=True)
class AnalyticsPlan:
    """The adAnalytics requests of one sync."""

    queries: tuple[AnalyticsQuery, ...]

    @property
    def request_count(self) -> int:
        """Requests the plan makes when no response is truncated: its lower bound."""
        return len(self.queries)

    def describe(self) -> str:
        """One line per (facet, pivot): windows and field chunks, for logs."""
        groups: dict[tuple[str, str], list[AnalyticsQuery]] = defaultdict(list)
        for query in self.queries:
            scope = query.facet_urns[0] if len(query.facet_urns) == 1 else f"{len(query.facet_urns)} {query.facet}"
            groups[(scope, query.pivot)].append(query)
        lines = []
        for (scope, pivot), queries in groups.items():
            windows = sorted({(q.start, q.end) for q in queries})
            chunks = len({q.metrics for q in queries})
            spans = ", ".join(f"{start}..{end}" for start, end in windows)
            lines.append(
                f"{scope} {pivot} {queries[0].granularity}: {len(windows)} window(s) [{spans}] x {chunks} chunk(s)"
                f" = {len(queries)} request(s)"
            )
        return "\n".join(lines)


DEFAULT_MARGIN = 0.10
"""Added to known row counts (never to the schedules' worst case, which already is one). Known rows are a count
of the past: LinkedIn revises the last 30 days (conversions, invalid-click credits) and an entity may be missing
from our lists (hard-deleted campaigns keep their rows), so the same day may answer with a few more rows. 10 %
of a day's rows covers that with room while costing at most one window in ten; a response that still reaches
the cap is split and asked again by the client."""


def _daily_counts(spans: Sequence[ActivitySpan], start: dt.date, end: dt.date) -> list[int]:
    """Active entities on each day of ``[start, end]``."""
    deltas = [0] * ((end - start).days + 2)
    for span in spans:
        first = max(start, span.start) if span.start else start
        last = min(end, span.end) if span.end else end
        if first <= last:
            deltas[(first - start).days] += 1
            deltas[(last - start).days + 1] -= 1
    counts, running = [], 0
    for delta in deltas[:-1]:
        running += delta
        counts.append(running)
    return counts


def daily_estimate(
    spans: Sequence[ActivitySpan],
    start: dt.date,
    end: dt.date,
    known_rows_per_day: Mapping[dt.date, int] | None = None,
    margin: float = DEFAULT_MARGIN,
) -> list[int]:
    """Estimated rows of an account-level request on each day of ``[start, end]``.

    A day in ``known_rows_per_day`` counts its known rows plus ``margin`` (rounded up), but never more than the
    schedules' worst case unless the known rows already exceed it (then an entity is missing from ``spans`` and
    the known count is the better evidence). Any other day counts the schedules' worst case: one row per entity
    whose span covers it.
    """
    if margin < 0:
        raise ValueError(f"margin must not be negative, got {margin}")
    worst = _daily_counts(spans, start, end)
    if not known_rows_per_day:
        return worst
    estimate = []
    for offset, bound in enumerate(worst):
        known = known_rows_per_day.get(start + dt.timedelta(days=offset))
        if known is None:
            estimate.append(bound)
        else:
            grown = math.ceil(round(known * (1 + margin), 6))  # 50 x 1.1 is 55.000000000000007 in floats
            estimate.append(grown if known > bound else min(bound, grown))
    return estimate


def rows_per_day(days: Iterable[Any], known_days: Iterable[dt.date]) -> dict[dt.date, int]:
    """Known rows per day from the dates of earlier rows (one date per row, e.g. an account's campaign rows).

    Only ``known_days`` are kept, each with its count (0 when it had no row): a day not listed is unknown and
    falls back to the schedules' worst case. Dates may be ``date``, ``datetime`` or pandas timestamps.
    """
    known = set(known_days)
    counts = Counter(day for day in map(calendar_day, days) if day in known)
    return {day: counts.get(day, 0) for day in known}


def creative_rows_per_day(
    creatives: Iterable[tuple[int, ActivitySpan]],
    campaign_days: Iterable[tuple[int, Any]],
    known_days: Iterable[dt.date],
) -> dict[dt.date, int]:
    """At most how many creative rows each known day can have: a creative delivers only on days its campaign
    delivered, so a day counts the creatives (whose spans cover it) of the campaigns that have a row that day.

    ``creatives``: ``(campaign id, creative span)`` of one account's creatives; ``campaign_days``: ``(campaign id,
    date)`` of the account's campaign rows in the warehouse; ``known_days``: the days whose campaign rows are
    authoritative (e.g. the materialized partitions of ``campaign_daily_metrics``). Other days are left out.
    """
    known = set(known_days)
    if not known:
        return {}
    first, last = min(known), max(known)
    by_campaign: dict[int, list[ActivitySpan]] = defaultdict(list)
    for campaign_id, span in creatives:
        by_campaign[int(campaign_id)].append(span)
    live: dict[int, list[int]] = {}  # campaign -> its live creatives per day of [first, last], built on first use
    counts = dict.fromkeys(known, 0)
    for campaign_id, value in campaign_days:
        day = calendar_day(value)
        if day in known:
            campaign = int(campaign_id)
            if campaign not in live:
                live[campaign] = _daily_counts(by_campaign.get(campaign, ()), first, last)
            counts[day] += live[campaign][(day - first).days]
    return counts


REACH_MAX_DAYS = 92
"""LinkedIn leaves ``approximateMemberReach`` and ``audiencePenetration`` out of responses whose date range is longer
than 92 days (reference, adAnalytics limits): a daily window that asks for them never spans more."""


def _windows(
    counts: Sequence[int], start: dt.date, max_elements: int, max_days: int | None = None
) -> list[tuple[dt.date, dt.date]]:
    """Greedy left-to-right (optimal here): each window grows while its bound stays below the cap and it spans at
    most ``max_days`` days."""
    windows: list[tuple[dt.date, dt.date]] = []
    first, bound = 0, 0
    for offset, count in enumerate(counts):
        too_long = max_days is not None and offset - first >= max_days
        if (bound + count >= max_elements or too_long) and offset > first:
            windows.append((start + dt.timedelta(days=first), start + dt.timedelta(days=offset - 1)))
            first, bound = offset, 0
        bound += count
    windows.append((start + dt.timedelta(days=first), start + dt.timedelta(days=len(counts) - 1)))
    return windows


def plan_daily(
    account_urn: str,
    pivot: str,
    spans: Sequence[ActivitySpan],
    start: dt.date,
    end: dt.date,
    metrics: Sequence[str],
    max_elements: int = MAX_ELEMENTS,
    *,
    known_rows_per_day: Mapping[dt.date, int] | None = None,
    margin: float = DEFAULT_MARGIN,
) -> list[AnalyticsQuery]:
    """Daily rows of one pivot (``CAMPAIGN``, ``CREATIVE``, ...) for one account, for ``[start, end]``.

    ``spans`` lists every entity of the pivot in the account; an account none of whose spans touches the range,
    or whose every day is known to have no rows, costs nothing. Windows are the fewest whose estimated rows
    (:func:`daily_estimate`: ``known_rows_per_day`` plus ``margin`` where given, the schedules' worst case elsewhere)
    stay below ``max_elements``: a response of exactly the cap cannot be told from a cut one. If one day alone could
    reach the cap, the entities are split into ``campaigns=``/``creatives=`` facet batches small enough that it
    cannot (:func:`_facets`).

    The call of the metric assets, per account (see the module docstring for building ``known``)::

        plan_daily(account_urn, "CREATIVE", spans, start, end, DAILY_METRICS, known_rows_per_day=known)
    """
    active = [span for span in spans if span.days_in(start, end)]
    if not active:
        return []
    all_urns = tuple(span.urn for span in spans)
    chunks = chunk_metrics(tuple(metrics))
    # Every chunk of a window shares its dates (the client merges a window's chunks row by row), so one reach metric
    # in any chunk caps all of them.
    max_days = REACH_MAX_DAYS if REACH_METRICS.intersection(metrics) else None
    estimate = daily_estimate(active, start, end, known_rows_per_day, margin)
    if not any(estimate):
        return []  # every day is known to have no rows (e.g. none of the account's campaigns delivered)
    return [  # finder, pivot, granularity, window, facet, its URNs, metrics, entities behind an account-level query
        AnalyticsQuery(
            "analytics", pivot, "DAILY", first, last, facet, urns, chunk, all_urns if facet == "accounts" else ()
        )
        for facet, urns, counts in _facets(account_urn, pivot, active, start, end, estimate, max_elements)
        for first, last in _windows(counts, start, max_elements, max_days)
        for chunk in chunks
    ]


def _facets(
    account_urn: str,
    pivot: str,
    active: Sequence[ActivitySpan],
    start: dt.date,
    end: dt.date,
    estimate: list[int],
    max_elements: int,
) -> list[tuple[str, tuple[str, ...], list[int]]]:
    """Whom the requests of a daily plan ask for, with the rows each day can have: ``(facet, urns, rows per day)``.

    The account (``accounts=``, rows per day: ``estimate``) when no day of ``estimate`` reaches the cap; else the
    active entities in ``campaigns=``/``creatives=`` batches of ``max_elements - 1``, each day of a batch below the
    cap on the schedules alone.
    """
    if max(estimate) < max_elements:
        return [("accounts", (account_urn,), estimate)]
    size = max_elements - 1
    return [
        (ENTITY_FACETS[pivot], tuple(span.urn for span in batch), _daily_counts(batch, start, end))
        for batch in (active[i : i + size] for i in range(0, len(active), size))
    ]


def plan_monthly(
    facet: str,
    facet_urns: Sequence[str],
    pivot: str,
    start_month: dt.date,
    end_month: dt.date,
    metrics: Sequence[str],
    expected_values_per_month: int = 300,
    max_elements: int = MAX_ELEMENTS,
) -> list[AnalyticsQuery]:
    """Monthly rows of one pivot (typically a ``MEMBER_*`` demographic pivot) from ``start_month`` to ``end_month``.

    Windows hold as many whole months as keep ``months x expected_values_per_month`` below the cap.
    """
    months = _months(start_month, end_month)
    if not months or not facet_urns:
        return []
    per_window = max(1, (max_elements - 1) // max(1, expected_values_per_month))
    queries = []
    for i in range(0, len(months), per_window):
        first, last = months[i], months[min(i + per_window, len(months)) - 1]
        for chunk in chunk_metrics(tuple(metrics)):
            queries.append(
                AnalyticsQuery(
                    finder="analytics",
                    pivot=pivot,
                    granularity="MONTHLY",
                    start=first,
                    end=_month_end(last),
                    facet=facet,
                    facet_urns=tuple(facet_urns),
                    metrics=chunk,
                )
            )
    return queries


def merge_plans(*parts: Iterable[AnalyticsQuery]) -> AnalyticsPlan:
    """One plan from several lists of queries (duplicates dropped, order kept)."""
    return AnalyticsPlan(tuple(dict.fromkeys(query for part in parts for query in part)))


def split_query(query: AnalyticsQuery) -> tuple[AnalyticsQuery, AnalyticsQuery] | None:
    """Two queries that together ask for what ``query`` asked for, for a response cut at the element cap.

    Splits the date range in halves (whole months for ``MONTHLY``), else the entity list; ``None`` when
    neither can be split.
    """
    if query.granularity == "DAILY" and query.start < query.end:
        middle = query.start + dt.timedelta(days=(query.end - query.start).days // 2)
        return replace(query, end=middle), replace(query, start=middle + dt.timedelta(days=1))
    if query.granularity == "MONTHLY":
        months = _months(query.start, query.end)
        if len(months) > 1:
            middle = months[len(months) // 2]
            return replace(query, end=middle - dt.timedelta(days=1)), replace(query, start=middle)
    if len(query.facet_urns) > 1:
        half = len(query.facet_urns) // 2
        return replace(query, facet_urns=query.facet_urns[:half]), replace(query, facet_urns=query.facet_urns[half:])
    if query.facet == "accounts" and len(query.entity_urns) > 1 and query.pivot in ENTITY_FACETS:
        half = len(query.entity_urns) // 2
        facet = ENTITY_FACETS[query.pivot]
        return (
            replace(query, facet=facet, facet_urns=query.entity_urns[:half], entity_urns=()),
            replace(query, facet=facet, facet_urns=query.entity_urns[half:], entity_urns=()),
        )
    return None


def _months(start: dt.date, end: dt.date) -> list[dt.date]:
    """First days of the months from ``start``'s month to ``end``'s month."""
    months, month = [], start.replace(day=1)
    while month <= end:
        months.append(month)
        month = _month_end(month) + dt.timedelta(days=1)
    return months


def _month_end(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def buckets(granularity: str, start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The time buckets LinkedIn reports for ``granularity`` over ``[start, end]``: days, months or years (the first
    and last clipped to the range)."""
    if granularity == "DAILY":
        return [(day, day) for day in (start + dt.timedelta(days=i) for i in range((end - start).days + 1))]
    firsts = (
        _months(start, end) if granularity == "MONTHLY" else [dt.date(y, 1, 1) for y in range(start.year, end.year + 1)]
    )
    ends = [_month_end(m) if granularity == "MONTHLY" else dt.date(m.year, 12, 31) for m in firsts]
    return [(max(first, start), min(last, end)) for first, last in zip(firsts, ends, strict=True)]


def bucket_counts(
    spans: Sequence[ActivitySpan], granularity: str, start: dt.date, end: dt.date, values_per_entity: int = 1
) -> list[int]:
    """Estimated rows of each bucket: the spans active in it (none: the facet itself, one) times the values the
    other pivots add per entity (conversion rules, device types)."""
    if granularity == "DAILY" and spans:
        return [values_per_entity * count for count in _daily_counts(spans, start, end)]
    return [
        values_per_entity * (sum(1 for span in spans if span.days_in(*bucket)) if spans else 1)
        for bucket in buckets(granularity, start, end)
    ]


def plan_report(
    facet: str,
    facet_urns: Sequence[str],
    finder: str,
    pivot: str,
    granularity: str,
    start: dt.date,
    end: dt.date,
    metrics: Sequence[str],
    rows_per_bucket: Sequence[int],
    max_elements: int = MAX_ELEMENTS,
) -> list[AnalyticsQuery]:
    """The requests of a declared metric table (a per-rule conversion table, a custom report) for one facet.

    ``rows_per_bucket``: the rows each bucket of :func:`buckets` can have (:func:`bucket_counts`, or the rows an
    earlier table of the same run shows). Windows are runs of whole buckets whose estimated rows stay below the cap
    (and at most 92 days when reach is asked); buckets without rows cost nothing. A response that still reaches the
    cap is split and asked again by the client.
    """
    if not facet_urns or not any(rows_per_bucket):
        return []
    max_days = REACH_MAX_DAYS if REACH_METRICS.intersection(metrics) else None
    windows: list[tuple[dt.date, dt.date]] = []
    rows = 0  # estimated rows of the open window
    for (first, last), count in zip(buckets(granularity, start, end), rows_per_bucket, strict=True):
        if not count:
            continue
        if windows:
            open_first, _ = windows[-1]
            too_long = max_days is not None and (last - open_first).days + 1 > max_days
            if rows + count < max_elements and not too_long:  # days without rows in between cost nothing
                windows[-1], rows = (open_first, last), rows + count
                continue
        windows.append((first, last))
        rows = count
    return [
        AnalyticsQuery(finder, pivot, granularity, first, last, facet, tuple(facet_urns), chunk)
        for first, last in windows
        for chunk in chunk_metrics(tuple(metrics))
    ]
