"""What a sync of the simulator must leave in a PostgreSQL warehouse schema: every table, every column, exactly.

The expected rows are computed here from the simulator's *raw* facts (the generated entity JSON, the posts, the
demographic catalogue, ``Dataset.creative_day_facts()``, ``campaign_day_corrections()`` and ``member_shares()``)
by code of its own: it calls neither the simulator's ``adAnalytics`` aggregation nor any of the sync's code. Where
the simulator models LinkedIn (reach is not additive, demographic rows are floored shares of the top 100 values
with at least 3 impressions, money is BigDecimal text), the rules are re-stated here from the contract documented
on ``Dataset``.

Comparisons are exact: the warehouse is read with plain psycopg (``SELECT *``), so NUMERIC comes back as
``Decimal`` *with its scale* (PostgreSQL keeps the scale LinkedIn sent: ``"101"`` stays ``101``, a float detour
makes it ``101.0``), BIGINT as ``int``, DATE as ``date``, TIMESTAMPTZ as aware ``datetime``, JSONB as lists/dicts.
Every value's Python type is checked as well as its value, and a column nobody expects fails the comparison.

Also here, for the tests of record and ``benchmarks/soak.py``: ``request_lower_bound`` (the fewest requests a sync
can make, from the data alone), ``requests_made`` (from the simulator's log) and ``sync_in_process`` (the project's
definitions against a PostgreSQL schema, as the tests run a sync).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from linkedin_assets.settings import Settings

__all__ = [
    "COST_METRICS",
    "DAILY_METRICS",
    "DEMOGRAPHIC_METRICS",
    "Expected",
    "assert_tables_equal",
    "assert_warehouse_matches",
    "expected_tables",
    "pg_decimal",
    "read_tables",
    "snake",
]

# The metric vocabulary is LinkedIn's (reference §10.8), listed here rather than imported so that a metric dropped
# from the sync's own list shows up as a missing column.
DAILY_METRICS: tuple[str, ...] = (
    # Fivetran's 60 (fivetran/linkedin's seed header)
    "actionClicks", "adUnitClicks", "approximateUniqueImpressions", "cardClicks", "cardImpressions", "clicks",
    "commentLikes", "comments", "companyPageClicks", "conversionValueInLocalCurrency", "costInLocalCurrency",
    "costInUsd", "externalWebsiteConversions", "externalWebsitePostClickConversions",
    "externalWebsitePostViewConversions", "follows", "fullScreenPlays", "impressions", "landingPageClicks",
    "leadGenerationMailContactInfoShares", "leadGenerationMailInterestedClicks", "likes", "oneClickLeadFormOpens",
    "oneClickLeads", "opens", "otherEngagements", "shares", "textUrlClicks", "totalEngagements", "videoCompletions",
    "videoFirstQuartileCompletions", "videoMidpointCompletions", "videoStarts", "videoThirdQuartileCompletions",
    "videoViews", "viralCardClicks", "viralCardImpressions", "viralClicks", "viralCommentLikes", "viralComments",
    "viralCompanyPageClicks", "viralExternalWebsiteConversions", "viralExternalWebsitePostClickConversions",
    "viralExternalWebsitePostViewConversions", "viralFollows", "viralFullScreenPlays", "viralImpressions",
    "viralLandingPageClicks", "viralLikes", "viralOneClickLeadFormOpens", "viralOneClickLeads",
    "viralOtherEngagements", "viralShares", "viralTotalEngagements", "viralVideoCompletions",
    "viralVideoFirstQuartileCompletions", "viralVideoMidpointCompletions", "viralVideoStarts",
    "viralVideoThirdQuartileCompletions", "viralVideoViews",
    # and the four the project kept
    "reactions", "qualifiedLeads", "sends", "approximateMemberReach",
)  # fmt: skip
RETIRED_METRICS = frozenset({"approximateUniqueImpressions"})
"""Deprecated by LinkedIn in January 2024: never asked for, NULL in every row."""
PER_RULE_METRICS: tuple[str, ...] = (
    "externalWebsiteConversions", "externalWebsitePostClickConversions", "externalWebsitePostViewConversions",
    "conversionValueInLocalCurrency", "viralExternalWebsiteConversions", "viralExternalWebsitePostClickConversions",
    "viralExternalWebsitePostViewConversions", "oneClickLeads", "qualifiedLeads",
)  # fmt: skip
"""What LinkedIn serves per conversion rule (the CONVERSION pivot)."""
CAMPAIGN_DEMOGRAPHIC_PIVOTS = ("MEMBER_COUNTRY_V2", "MEMBER_REGION_V2")
"""Asked per delivering campaign as well by default (Fivetran's monthly country and region reports)."""
DEMOGRAPHIC_METRICS: tuple[str, ...] = (
    "impressions", "clicks", "costInLocalCurrency", "costInUsd", "landingPageClicks", "totalEngagements",
    "externalWebsiteConversions", "oneClickLeads", "oneClickLeadFormOpens", "videoViews", "follows", "likes",
)  # fmt: skip
COST_METRICS = frozenset({"costInLocalCurrency", "costInUsd", "conversionValueInLocalCurrency"})
"""BigDecimal metrics: NUMERIC columns holding ``Decimal``; every other metric is a BIGINT holding ``int``."""
MEMBER_PIVOTS: tuple[str, ...] = (
    "MEMBER_COMPANY_SIZE", "MEMBER_INDUSTRY", "MEMBER_SENIORITY", "MEMBER_JOB_TITLE", "MEMBER_JOB_FUNCTION",
    "MEMBER_COUNTRY_V2", "MEMBER_REGION_V2", "MEMBER_COMPANY",
)  # fmt: skip
REACH_MAX_DAYS = 92
"""LinkedIn leaves ``approximateMemberReach`` out of responses whose date range is longer than 92 days."""
SYSTEM_COLUMNS = ("_synced_at", "_dagster_run_id")

# Display names of the company-size enum (the sync names them itself, LinkedIn has no lookup for them).
COMPANY_SIZE_NAMES = {
    "SIZE_1": "1 employee",
    "SIZE_2_TO_10": "2-10 employees",
    "SIZE_11_TO_50": "11-50 employees",
    "SIZE_51_TO_200": "51-200 employees",
    "SIZE_201_TO_500": "201-500 employees",
    "SIZE_501_TO_1000": "501-1,000 employees",
    "SIZE_1001_TO_5000": "1,001-5,000 employees",
    "SIZE_5001_TO_10000": "5,001-10,000 employees",
    "SIZE_10001_OR_MORE": "10,001+ employees",
}
# Stand-in names for values LinkedIn cannot name: "<pivot label> <last URN segment>".
PIVOT_LABELS = {
    "MEMBER_COMPANY_SIZE": "Company size",
    "MEMBER_INDUSTRY": "Industry",
    "MEMBER_SENIORITY": "Seniority",
    "MEMBER_JOB_TITLE": "Job title",
    "MEMBER_JOB_FUNCTION": "Job function",
    "MEMBER_COUNTRY_V2": "Country",
    "MEMBER_REGION_V2": "Region",
    "MEMBER_COMPANY": "Company",
}

Row = dict[str, Any]
Table = dict[tuple[Any, ...], Row]


def snake(name: str) -> str:
    """``costInLocalCurrency`` -> ``cost_in_local_currency`` (the column naming rule)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def pg_decimal(value: Decimal) -> Decimal:
    """``value`` as PostgreSQL NUMERIC stores it: its digits and its scale, but never a negative scale
    (``1.5E+3`` -> ``1500``, ``101`` -> ``101``, ``0.0`` -> ``0.0``)."""
    exponent = value.as_tuple().exponent
    return value.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else value


def epoch_ms(ms: int | None) -> dt.datetime | None:
    """Epoch milliseconds as an aware UTC datetime, exactly (integer arithmetic, no float seconds)."""
    if ms is None:
        return None
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=int(ms))


def _urn_number(urn: str) -> int:
    return int(urn.rsplit(":", 1)[1])


# -- entities ---------------------------------------------------------------------------------------------------


def _amount(holder: Mapping[str, Any], key: str) -> tuple[Decimal | None, str | None]:
    money_ = holder.get(key)
    if not money_:
        return None, None
    return pg_decimal(Decimal(money_["amount"])), money_.get("currencyCode")


def _stamps(entity: Mapping[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    stamps = entity.get("changeAuditStamps") or {}
    return (
        epoch_ms((stamps.get("created") or {}).get("time")),
        epoch_ms((stamps.get("lastModified") or {}).get("time")),
    )


def account_row(a: Mapping[str, Any]) -> Row:
    created, modified = _stamps(a)
    return {
        "id": a["id"],
        "name": a.get("name"),
        "currency": a.get("currency"),
        "status": a.get("status"),
        "type": a.get("type"),
        "reference": a.get("reference"),
        "test": a.get("test"),
        "serving_statuses": list(a.get("servingStatuses") or []),
        "version_tag": (a.get("version") or {}).get("versionTag"),
        "created_time": created,
        "last_modified_time": modified,
        "removed_at": None,
    }


def group_row(g: Mapping[str, Any]) -> Row:
    created, modified = _stamps(g)
    schedule = g.get("runSchedule") or {}
    amount, currency = _amount(g, "totalBudget")
    return {
        "id": g["id"],
        "account_id": _urn_number(g["account"]),
        "name": g.get("name"),
        "status": g.get("status"),
        "test": g.get("test"),
        "backfilled": g.get("backfilled"),
        "run_schedule_start": epoch_ms(schedule.get("start")),
        "run_schedule_end": epoch_ms(schedule.get("end")),
        "total_budget_amount": amount,
        "total_budget_currency_code": currency,
        "serving_statuses": list(g.get("servingStatuses") or []),
        "created_time": created,
        "last_modified_time": modified,
        "removed_at": None,
    }


def campaign_row(c: Mapping[str, Any]) -> Row:
    created, modified = _stamps(c)
    schedule = c.get("runSchedule") or {}
    locale = c.get("locale") or {}
    row: Row = {
        "id": c["id"],
        "account_id": _urn_number(c["account"]),
        "campaign_group_id": _urn_number(c["campaignGroup"]) if c.get("campaignGroup") else None,
        "name": c.get("name"),
        "status": c.get("status"),
        "type": c.get("type"),
        "cost_type": c.get("costType"),
        "objective_type": c.get("objectiveType"),
        "optimization_target_type": c.get("optimizationTargetType"),
        "format": c.get("format"),
        "creative_selection": c.get("creativeSelection"),
        "pacing_strategy": c.get("pacingStrategy"),
    }
    for key, column in (("dailyBudget", "daily_budget"), ("unitCost", "unit_cost"), ("totalBudget", "total_budget")):
        row[f"{column}_amount"], row[f"{column}_currency_code"] = _amount(c, key)
    row |= {
        "run_schedule_start": epoch_ms(schedule.get("start")),
        "run_schedule_end": epoch_ms(schedule.get("end")),
        "locale_country": locale.get("country"),
        "locale_language": locale.get("language"),
        "audience_expansion_enabled": c.get("audienceExpansionEnabled"),
        "offsite_delivery_enabled": c.get("offsiteDeliveryEnabled"),
        "test": c.get("test"),
        "serving_statuses": list(c.get("servingStatuses") or []),
        "version_tag": (c.get("version") or {}).get("versionTag"),
        "created_time": created,
        "last_modified_time": modified,
        "targeting_criteria": c.get("targetingCriteria"),
        "removed_at": None,
    }
    return row


def _post_title(post: Mapping[str, Any]) -> str | None:
    """The name a post offers: its dark-post ad name, else a media/article title, else its first line (<= 120)."""
    name = (post.get("adContext") or {}).get("dscName")
    if name:
        return name
    for kind in ("media", "article"):
        part = (post.get("content") or {}).get(kind)
        if isinstance(part, Mapping) and part.get("title"):
            return part["title"]
    text = (post.get("commentary") or "").strip()
    if not text:
        return None
    line = text.splitlines()[0].strip()
    return (line[:119] + "…" if len(line) > 120 else line) or None


def creative_row(c: Mapping[str, Any], posts: Mapping[str, Mapping[str, Any] | None]) -> Row:
    content = c.get("content") or {}
    reference = content.get("reference") if isinstance(content.get("reference"), str) else None
    text_ad = content.get("textAd") if isinstance(content.get("textAd"), Mapping) else None
    headline = text_ad.get("headline") if text_ad else None
    post = posts.get(reference) if reference and reference.startswith(("urn:li:share:", "urn:li:ugcPost:")) else None
    title = _post_title(post) if post else None
    if c.get("name"):
        name, source = c["name"], "creative"
    elif headline:
        name, source = headline, "text_ad"
    elif title:
        name, source = title, "post"
    else:
        kind = {"share": "Sponsored Post", "ugcPost": "Sponsored Post", "adInMailContent": "Message Ad"}.get(
            reference.split(":")[2] if reference and reference.count(":") >= 3 else "", "Creative"
        )
        digits = re.sub(r"\D", "", reference.rsplit(":", 1)[-1]) if reference else ""
        name, source = f"{kind} #{digits[-6:] or _urn_number(c['id'])}", "derived"
    return {
        "id": _urn_number(c["id"]),
        "urn": c["id"],
        "account_id": _urn_number(c["account"]),
        "campaign_id": _urn_number(c["campaign"]),
        "name": name,
        "name_source": source,
        "intended_status": c.get("intendedStatus"),
        "is_serving": c.get("isServing"),
        "is_test": c.get("isTest"),
        "review_status": (c.get("review") or {}).get("status"),
        "content_reference": reference,
        "content_type": next(iter(content), None) if content else None,
        "text_ad_headline": headline,
        "serving_hold_reasons": list(c.get("servingHoldReasons") or []),
        "created_at": epoch_ms(c.get("createdAt")),
        "last_modified_at": epoch_ms(c.get("lastModifiedAt")),
        "text_ad_landing_page": (content.get("textAd") or {}).get("landingPage") if content else None,
        "spotlight_landing_page": (content.get("spotlight") or {}).get("landingPage") if content else None,
        "removed_at": None,
    }


# -- metrics ----------------------------------------------------------------------------------------------------

_EXACT = decimal.Context(prec=80)  # money has <= 12 integer digits and 18 places: sums never round


def money(value: Decimal) -> Decimal:
    """An exact amount as LinkedIn serialises it (Java's ``BigDecimal.stripTrailingZeros().toString()``, but a zero
    is ``"0.0"``), parsed again, as PostgreSQL NUMERIC keeps it."""
    text = "0.0" if value == 0 else str(value.normalize(_EXACT))
    return pg_decimal(Decimal(text))


def _units(value: Decimal) -> int:
    """Whole 1e-7 units of an amount, without its floating-point dust (|dust| is far below half a unit)."""
    return int(value.scaleb(7, _EXACT).to_integral_value(decimal.ROUND_HALF_EVEN))


@dataclass
class _Sum:
    """Running sums of one (entity, bucket): counts as ints, money as exact Decimals, reach's parts."""

    totals: dict[str, Any] = field(default_factory=dict)
    reach_sum: int = 0
    reach_max: int = 0

    def add(self, fact: Mapping[str, Any], metrics: Sequence[str]) -> None:
        for metric in metrics:
            if metric not in fact:  # retired, or not generated by this simulator
                continue
            if metric == "approximateMemberReach":
                reach = int(fact[metric])
                self.reach_sum += reach
                self.reach_max = max(self.reach_max, reach)
            elif metric in COST_METRICS:
                self.totals[metric] = _EXACT.add(self.totals.get(metric, Decimal(0)), fact[metric])
            else:
                self.totals[metric] = self.totals.get(metric, 0) + int(fact[metric])

    def reach(self) -> int:
        # Not additive: at least the largest creative-day and 80 % of their sum (float64, truncated), at most the
        # aggregate's impressions (LinkedIn deduplicates members across days and creatives).
        return min(self.totals["impressions"], max(self.reach_max, int(float(self.reach_sum) * 0.8)))

    def metric_row(self, with_reach: bool) -> Row:
        row: Row = {}
        for metric in DAILY_METRICS:
            if metric not in self.totals and metric != "approximateMemberReach":
                row[snake(metric)] = None
            elif metric == "approximateMemberReach":
                row[snake(metric)] = self.reach() if with_reach else None
            elif metric in COST_METRICS:
                row[snake(metric)] = money(self.totals[metric])
            else:
                row[snake(metric)] = self.totals[metric]
        return row


def _records(frame: Any) -> list[dict[str, Any]]:
    """Frame rows as dicts of plain Python values (numpy ints -> int; Decimals and dates as they are)."""
    columns = list(frame.columns)
    data = [
        frame[c].tolist() if frame[c].dtype != object else list(frame[c]) for c in columns
    ]  # tolist() turns numpy ints into Python ints
    return [dict(zip(columns, values, strict=True)) for values in zip(*data, strict=True)]


def _daily(
    dataset: Any, start: dt.date, end: dt.date, with_reach: bool
) -> tuple[Table, Table, dict[int, dict[int, set[dt.date]]]]:
    """Daily tables from the creative-day facts (+ campaign-day corrections), for the days ``start..end``."""
    campaigns: dict[tuple[int, dt.date], _Sum] = defaultdict(_Sum)
    creatives: Table = {}
    delivered: dict[int, dict[int, set[dt.date]]] = defaultdict(lambda: defaultdict(set))
    account_of: dict[int, int] = {}
    for fact in _records(dataset.creative_day_facts()):
        day = fact["date"]
        if not start <= day <= end:
            continue
        campaign, creative = fact["campaign_id"], fact["creative_id"]
        campaigns[(campaign, day)].add(fact, DAILY_METRICS)
        one = _Sum()
        one.add(fact, DAILY_METRICS)
        creatives[(creative, day)] = {
            "creative_id": creative,
            "date": day,
            "account_id": fact["account_id"],
            "campaign_id": campaign,
            **one.metric_row(with_reach),
        }
        delivered[fact["account_id"]][campaign].add(day)
        account_of[campaign] = fact["account_id"]
    for correction in _records(dataset.campaign_day_corrections()):
        key = (correction["campaign_id"], correction["date"])
        if key in campaigns:  # a campaign-day exists only where a creative delivered
            metrics = [m for m in ("impressions", "clicks", "costInLocalCurrency", "costInUsd") if m in correction]
            campaigns[key].add(correction, metrics)
    campaign_table = {
        (c, d): {"campaign_id": c, "date": d, "account_id": account_of[c], **s.metric_row(with_reach)}
        for (c, d), s in campaigns.items()
    }
    return campaign_table, creatives, delivered


def _demographic_values(table: Table) -> Table:
    """``demographic_values`` of the demographic rows: each value's name (the company-size labels the sync writes
    itself, the simulator's names of targeting URNs, else the stand-in label)."""
    from linkedin_assets.simulator.catalog import resolve

    values: Table = {}
    for _, _, pivot, value, _ in table:
        if value in COMPANY_SIZE_NAMES:
            name, resolved = COMPANY_SIZE_NAMES[value], True
        elif (hit := resolve(value)) is not None:
            name, resolved = hit["name"], True
        else:
            name, resolved = f"{PIVOT_LABELS[pivot]} {value.rsplit(':', 1)[-1]}", False
        values[(value,)] = {"value": value, "pivot": pivot, "name": name, "facet_urn": None, "resolved": resolved}
    return values


def demographic_tables(
    dataset: Any,
    months: Sequence[dt.date],
    level: str = "account",
    campaign_pivots: Sequence[str] = CAMPAIGN_DEMOGRAPHIC_PIVOTS,
) -> tuple[Table, Table]:
    """``demographic_metrics`` and ``demographic_values`` for the calendar months ``months``.

    LinkedIn's MEMBER_* reports as the simulator models them: per campaign and month, the month's creative-day
    totals (money in whole 1e-7 units, no dust, no corrections) are spread over the pivot's top values by their
    shares (``Dataset.member_shares``), each share floored, rows under 3 impressions dropped; account level adds
    up its campaigns. Metrics LinkedIn does not report on member pivots (reach, cards, conversion value) are absent.
    At account level, ``campaign_pivots`` are also reported per campaign (rows of level ``campaign``).
    """
    wanted = set(months)
    per_campaign: dict[tuple[int, dt.date], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    account_of: dict[int, int] = {}
    for fact in _records(dataset.creative_day_facts()):
        month = fact["date"].replace(day=1)
        if month not in wanted:
            continue
        totals = per_campaign[(fact["campaign_id"], month)]
        for metric in DEMOGRAPHIC_METRICS:
            value = fact[metric]
            totals[metric] += _units(value) if metric in COST_METRICS else int(value)
        account_of[fact["campaign_id"]] = fact["account_id"]

    metrics: dict[tuple[str, int, str, str, dt.date], dict[str, int]] = {}
    owner: dict[tuple[str, int, str, str, dt.date], int] = {}
    levels = [(level, pivot) for pivot in MEMBER_PIVOTS]
    if level == "account":
        levels += [("campaign", pivot) for pivot in campaign_pivots]
    for level_of, pivot in levels:
        for (campaign, month), totals in sorted(per_campaign.items()):
            for value, share in dataset.member_shares(pivot, campaign, month):
                part = {m: math.floor(float(totals[m]) * share) for m in DEMOGRAPHIC_METRICS}
                if part["impressions"] < 3:
                    continue
                entity = account_of[campaign] if level_of == "account" else campaign
                key = (level_of, entity, pivot, value, month)
                into = metrics.setdefault(key, defaultdict(int))
                for m, v in part.items():
                    into[m] += v
                owner[key] = account_of[campaign]

    names = ("level", "entity_id", "pivot", "value", "month")
    table: Table = {
        key: {
            **dict(zip(names, key, strict=True)),
            "account_id": owner[key],
            **{snake(m): money(Decimal(v).scaleb(-7, _EXACT)) if m in COST_METRICS else v for m, v in sums.items()},
        }
        for key, sums in metrics.items()
    }
    return table, _demographic_values(table)


# -- the whole warehouse ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """The expected content of every table, by primary key, plus what the request-count bound needs."""

    tables: dict[str, Table]
    delivered: dict[int, dict[int, set[dt.date]]]
    """account -> campaign -> days with impressions inside the synced range."""


PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "accounts": ("id",),
    "campaign_groups": ("id",),
    "campaigns": ("id",),
    "creatives": ("id",),
    "campaign_daily_metrics": ("campaign_id", "date"),
    "creative_daily_metrics": ("creative_id", "date"),
    "demographic_metrics": ("level", "entity_id", "pivot", "value", "month"),
    "demographic_values": ("value",),
    "conversions": ("id",),
    "campaign_conversion_daily_metrics": ("campaign_id", "conversion_id", "date"),
    "creative_conversion_daily_metrics": ("creative_id", "conversion_id", "date"),
}


def expected_tables(
    dataset: Any,
    start: dt.date,
    end: dt.date,
    months: Sequence[dt.date] | None = None,
    *,
    window_days: int | None = None,
    demographics_level: str = "account",
) -> Expected:
    """Every table after a sync of the days ``start..end`` (daily job) and of ``months`` (monthly job).

    ``window_days``: the longest adAnalytics date range the sync asked for (reach is absent above 92 days);
    default: the whole range.
    """
    window = window_days if window_days is not None else (end - start).days + 1
    campaign_daily, creative_daily, delivered = _daily(dataset, start, end, with_reach=window <= REACH_MAX_DAYS)
    tables: dict[str, Table] = {
        "accounts": {(a["id"],): account_row(a) for a in dataset.accounts},
        "campaign_groups": {(g["id"],): group_row(g) for g in dataset.campaign_groups},
        "campaigns": {(c["id"],): campaign_row(c) for c in dataset.campaigns},
        "creatives": {(_urn_number(c["id"]),): creative_row(c, dataset.posts) for c in dataset.creatives},
        "campaign_daily_metrics": campaign_daily,
        "creative_daily_metrics": creative_daily,
    }
    tables.update(conversion_tables(dataset, start, end))
    if months is not None:
        tables["demographic_metrics"], tables["demographic_values"] = demographic_tables(
            dataset, months, demographics_level
        )
    return Expected(tables, delivered)


def conversion_tables(dataset: Any, start: dt.date, end: dt.date) -> dict[str, Table]:
    """``conversions`` (every rule, as listed) and the per-rule daily tables of ``start..end``, from the simulator's
    raw per-rule facts (``conversion_facts``, summed here, not read from its HTTP answers)."""
    from linkedin_assets.simulator.conversions import conversion_facts, ground_truth_conversion_rules

    rules = ground_truth_conversion_rules(dataset).to_dict("records")
    tables: dict[str, Table] = {
        "conversions": {
            (r["id"],): {
                **{k: v for k, v in r.items() if k not in ("created", "last_modified")},
                "value_amount": pg_decimal(r["value_amount"]) if r["value_amount"] is not None else None,
                "value_currency_code": r["value_currency_code"] if isinstance(r["value_currency_code"], str) else None,
                "created_time": r["created"].to_pydatetime(),
                "last_modified_time": r["last_modified"].to_pydatetime(),
                "removed_at": None,
            }
            for r in rules
        }
    }
    facts = conversion_facts(dataset)
    facts = facts[(facts["date"] >= start) & (facts["date"] <= end)]
    for entity in ("campaign", "creative"):
        table: Table = {}
        key = f"{entity}_id"
        for (entity_id, rule, day), part in facts.groupby([key, "conversion_id", "date"], sort=False):
            sums = {m: part[m].sum() for m in PER_RULE_METRICS}
            if not any(sums.values()):
                continue  # LinkedIn returns rows with activity only
            row = {
                key: int(entity_id),
                "conversion_id": int(rule),
                "date": day,
                "account_id": int(part["account_id"].iloc[0]),
            }
            for m, v in sums.items():
                row[snake(m)] = money(Decimal(int(v)).scaleb(-7, _EXACT)) if m in COST_METRICS else int(v)
            table[(int(entity_id), int(rule), day)] = row
        tables[f"{entity}_conversion_daily_metrics"] = table
    return tables


def read_tables(conn: psycopg.Connection, schema: str, names: Iterable[str]) -> dict[str, list[Row]]:
    """``SELECT *`` of each table as plain dict rows (psycopg's own types, nothing converted)."""
    out = {}
    for name in names:
        cursor = conn.execute(sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name)))
        columns = [c.name for c in cursor.description or ()]
        out[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return out


def _same(expected: Any, actual: Any) -> bool:
    """Equal value, same Python type, and for Decimals the same digits and scale."""
    if expected is None or actual is None:
        return expected is actual
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, Decimal):
        return expected.as_tuple() == actual.as_tuple()
    return expected == actual


def assert_tables_equal(
    expected: Mapping[str, Table],
    actual: Mapping[str, list[Row]],
    *,
    written_by: str | None = None,
    max_report: int = 8,
) -> int:
    """Every expected table equals the actual one: same keys, same columns, every cell equal with its type.

    ``written_by``: the run every row's ``_dagster_run_id`` must name (``None`` checks only that it is set).
    Returns the number of rows compared.
    """
    problems: list[str] = []
    compared = 0
    for table, rows in expected.items():
        got_rows = actual[table]
        key_columns = PRIMARY_KEYS[table]
        got: Table = {}
        for row in got_rows:
            key = tuple(row[k] for k in key_columns)
            if key in got:
                problems.append(f"{table}: duplicate key {key}")
            got[key] = row
        missing = sorted(set(rows) - set(got), key=repr)
        extra = sorted(set(got) - set(rows), key=repr)
        if missing:
            problems.append(f"{table}: {len(missing)} expected row(s) missing, e.g. {missing[:3]}")
        if extra:
            problems.append(f"{table}: {len(extra)} unexpected row(s), e.g. {extra[:3]}")
        if got_rows:
            columns = set(got_rows[0]) - set(SYSTEM_COLUMNS)
            wanted = set(next(iter(rows.values()))) if rows else columns
            if columns - wanted or wanted - columns:
                problems.append(
                    f"{table}: columns differ: unexpected {sorted(columns - wanted)}, missing {sorted(wanted - columns)}"
                )
        for key in sorted(set(rows) & set(got), key=repr):
            exp, act = rows[key], got[key]
            compared += 1
            for column, value in exp.items():
                if column not in act:
                    continue  # reported once above
                if not _same(value, act[column]):
                    problems.append(
                        f"{table}{list(key)}.{column}: expected {value!r} ({type(value).__name__}),"
                        f" got {act[column]!r} ({type(act[column]).__name__})"
                    )
            synced, run_id = act.get("_synced_at"), act.get("_dagster_run_id")
            if not isinstance(synced, dt.datetime) or synced.tzinfo is None:
                problems.append(f"{table}{list(key)}._synced_at: {synced!r} is not an aware datetime")
            if not isinstance(run_id, str) or (written_by is not None and run_id != written_by):
                problems.append(f"{table}{list(key)}._dagster_run_id: {run_id!r}, expected {written_by!r}")
        if len(problems) > 200:
            break
    assert not problems, (
        f"{len(problems)} difference(s):\n"
        + "\n".join(problems[:max_report])
        + (f"\n... and {len(problems) - max_report} more" if len(problems) > max_report else "")
    )
    return compared


def diff_count(expected: Mapping[str, Table], actual: Mapping[str, list[Row]]) -> tuple[int, int]:
    """(rows compared, cells or rows that differ) without raising: for the soak benchmark's report."""
    differences = compared = 0
    for table, rows in expected.items():
        got = {tuple(r[k] for k in PRIMARY_KEYS[table]): r for r in actual[table]}
        differences += len(set(rows) ^ set(got)) + (len(actual[table]) - len(got))
        for key in set(rows) & set(got):
            compared += 1
            differences += sum(not _same(v, got[key].get(c, object())) for c, v in rows[key].items())
    return compared, differences


def assert_warehouse_matches(sim: Any, warehouse_url: str, schema: str, written_by: str) -> None:
    """Entities and daily campaign/creative metrics over the simulator's whole history equal the ground truth,
    every column exactly, and every daily campaign row was written by the run ``written_by`` (the last sync)."""
    dataset = sim.state.dataset
    start, end = dataset.history_start, dataset.today - dt.timedelta(days=1)
    expected = expected_tables(dataset, start, end).tables
    with psycopg.connect(warehouse_url) as conn:
        actual = read_tables(conn, schema, expected)
    assert_tables_equal({k: v for k, v in expected.items() if k != "campaign_daily_metrics"}, actual)
    assert_tables_equal({"campaign_daily_metrics": expected["campaign_daily_metrics"]}, actual, written_by=written_by)


# -- running a sync in a test -----------------------------------------------------------------------------------


@dataclass
class SyncRun:
    """One sync (daily + monthly job) of a simulator into a PostgreSQL schema, run in this process."""

    sim: Any
    warehouse_url: str
    schema: str
    snapshot_dir: str
    start: dt.date
    end: dt.date
    results: list[Any]

    @property
    def months(self) -> list[dt.date]:
        return months_between(self.start, self.end)

    def run_id(self, job_name: str) -> str:
        return next(r.run_id for r in self.results if r.dagster_run.job_name == job_name)


def months_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """First days of the calendar months from ``start``'s to ``end``'s."""
    months, month = [], start.replace(day=1)
    while month <= end:
        months.append(month)
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return months


DEFAULTS = Settings()
"""The default settings (first partition, lookback) for tests that plan runs without a simulator's."""


def sim_settings(sim: Any, tmp_path: Any, **overrides: Any) -> Any:
    """The settings of a sync against ``sim``: its ``LINKEDIN_*`` values, a private token store, then ``overrides``
    (by setting name). Nothing is read from the process environment."""
    from linkedin_assets.settings import load_settings

    env = {**sim.client_env(), "LINKEDIN_TOKEN_STORE": str(tmp_path / "tokens.json")}
    return load_settings(env, **overrides)


def sync_in_process(
    sim: Any,
    warehouse_url: str,
    schema: str,
    tmp_path: Any,
    start: dt.date,
    end: dt.date,
    *,
    instance: Any = None,
    settings: Any = None,
    jobs: Sequence[str] = ("linkedin_daily_sync", "linkedin_monthly_sync"),
) -> SyncRun:
    """Run the sync jobs for ``start..end`` with the project's definitions and a PostgreSQL warehouse schema.

    ``settings``: the ``Settings`` of the sync (default: :func:`sim_settings` of ``sim``).
    """
    import dagster as dg

    from linkedin_assets.cli.sync import plan_stages, run_stage
    from linkedin_assets.definitions import build_definitions, build_resources
    from linkedin_assets.defs.account_failures import failed_only_on_accounts
    from linkedin_assets.defs.io_managers.warehouse import WarehouseResource

    snapshot_dir = str(tmp_path / "snapshots")
    settings = settings if settings is not None else sim_settings(sim, tmp_path)
    resources = build_resources(
        settings,
        warehouse=WarehouseResource(database_url=warehouse_url, schema_name=schema),
        snapshot_dir=snapshot_dir,
    )
    defs = build_definitions(settings, resources)
    results = []
    with dg.DagsterInstance.ephemeral() if instance is None else contextlib.nullcontext(instance) as inst:
        for job_name, tags in plan_stages(start, end, settings):
            if job_name not in jobs:
                continue
            results.append(run_stage(defs, inst, job_name, tags))
            if not results[-1].success and not failed_only_on_accounts(inst, results[-1].dagster_run):
                break
    return SyncRun(sim, warehouse_url, schema, snapshot_dir, start, end, results)


def analytics_pivot(query: str) -> str | None:
    """The ``pivot`` of a logged adAnalytics query string (bare or ``(value:X)``)."""
    from linkedin_assets.linkedin.restli import decode_query

    decoded = decode_query(query)
    if "pivots" in decoded:  # q=statistics: List(CAMPAIGN,CONVERSION) -> "CAMPAIGN,CONVERSION"
        return ",".join(p.get("value") if isinstance(p, dict) else p for p in decoded["pivots"])
    pivot = decoded.get("pivot")
    return pivot.get("value") if isinstance(pivot, dict) else pivot


# -- the fewest requests a sync can make ------------------------------------------------------------------------

ELEMENT_CAP = 15_000
"""adAnalytics cuts a response at 15,000 elements without saying so: a complete answer holds at most 14,999."""
METRICS_PER_REQUEST = 18
"""``fields`` holds at most 20 names, two of which are ``dateRange`` and ``pivotValues``."""


def _conversion_bound(expected: Expected, accounts: Sequence[Any]) -> dict[str, int]:
    """The rules' finder, one page per account; the per-rule pivots: per account that delivered in the range and has
    a rule, one request (a chunk of 9 metrics) per window of at most 14,999 per-rule rows; an account without
    delivery or rules costs nothing."""
    bound = {"conversions": len(accounts)}
    with_rules = {r["account_id"] for r in expected.tables["conversions"].values()}
    for pivot, daily in (("CAMPAIGN", "campaign_daily_metrics"), ("CREATIVE", "creative_daily_metrics")):
        delivered = {row["account_id"] for row in expected.tables[daily].values()} & with_rules
        per_rule: dict[int, int] = defaultdict(int)
        for row in expected.tables[f"{pivot.lower()}_conversion_daily_metrics"].values():
            per_rule[row["account_id"]] += 1
        bound[f"adAnalytics:{pivot},CONVERSION"] = sum(
            max(1, -(-per_rule.get(a, 0) // (ELEMENT_CAP - 1))) for a in delivered
        )
    return bound


def request_lower_bound(
    dataset: Any, expected: Expected, daily_metrics: Sequence[str] = DAILY_METRICS
) -> dict[str, int]:
    """The fewest requests per endpoint (``adAnalytics`` also per pivot as ``adAnalytics:<PIVOT>``) that can fetch
    ``expected`` from LinkedIn, from the data alone (not from the sync's plan).

    Entity finders: one page per 1,000 groups/campaigns, per 100 creatives (LinkedIn's page-size maxima), at least
    one per account. Posts and demographic names: at least one batch when there is anything to ask. Analytics: per
    account and pivot with rows in the range, the field chunks (``ceil(metrics / 18)``) times the windows the rows
    need (``ceil(rows / 14,999)``); demographics: per account and MEMBER_* pivot, one chunk and one window per
    14,999 rows. ``daily_metrics``: the metrics the sync stores in its daily tables (their number sets the chunks).
    """
    accounts = dataset.account_data
    chunks = -(-len(set(DAILY_METRICS) - RETIRED_METRICS) // METRICS_PER_REQUEST)
    bound = {
        "adAccountUsers": 1,
        "adAccounts": 1,
        "adCampaignGroups": sum(max(1, -(-len(a.campaign_groups) // 1000)) for a in accounts),
        "adCampaigns": sum(
            max(1, -(-len([c for c in a.campaigns if c["id"] not in dataset.removed_campaigns]) // 1000))
            for a in accounts
        ),
        "creatives": sum(max(1, -(-len(a.creatives) // 100)) for a in accounts),
    }
    creatives = expected.tables["creatives"].values()
    bound["posts"] = int(any(r["name_source"] in ("post", "derived") and (r["content_reference"] or "").startswith(
        ("urn:li:share:", "urn:li:ugcPost:")) for r in creatives))  # fmt: skip
    for pivot, table in (("CAMPAIGN", "campaign_daily_metrics"), ("CREATIVE", "creative_daily_metrics")):
        rows_per_account: dict[int, int] = defaultdict(int)
        for row in expected.tables[table].values():
            rows_per_account[row["account_id"]] += 1
        bound[f"adAnalytics:{pivot}"] = sum(
            chunks * -(-rows // (ELEMENT_CAP - 1)) for rows in rows_per_account.values() if rows
        )
    bound.update(_conversion_bound(expected, accounts))
    if "demographic_metrics" in expected.tables:
        per_pivot: dict[tuple[int, str], int] = defaultdict(int)
        for row in expected.tables["demographic_metrics"].values():
            per_pivot[(row["entity_id"], row["pivot"])] += 1
        demographic_chunks = -(-len(DEMOGRAPHIC_METRICS) // METRICS_PER_REQUEST)
        reported = {entity for entity, _ in per_pivot}  # accounts that delivered in the months
        for pivot in MEMBER_PIVOTS:
            bound[f"adAnalytics:{pivot}"] = sum(
                demographic_chunks * max(1, -(-per_pivot.get((a.id, pivot), 0) // (ELEMENT_CAP - 1)))
                for a in accounts
                if a.id in reported
            )
        # Campaign-level pivots: MEMBER_* pivots cannot share a request across campaigns (q=statistics refuses them),
        # so each campaign that delivered in the months costs one request per pivot, rows or not.
        months = {row["month"] for row in expected.tables["demographic_metrics"].values()}
        delivering = {
            c for a in expected.delivered.values() for c, days in a.items() if {d.replace(day=1) for d in days} & months
        }
        for pivot in CAMPAIGN_DEMOGRAPHIC_PIVOTS:
            bound[f"adAnalytics:{pivot}"] += demographic_chunks * len(delivering)
        bound["adTargetingEntities"] = int(any(v.startswith("urn:") for (v,) in expected.tables["demographic_values"]))
    bound["adAnalytics"] = sum(v for k, v in bound.items() if k.startswith("adAnalytics:"))
    return bound


def requests_made(log: Iterable[Any]) -> dict[str, int]:
    """Requests per endpoint in a simulator request log, adAnalytics also per pivot (``adAnalytics:<PIVOT>``)."""
    made: dict[str, int] = defaultdict(int)
    for record in log:
        made[record.endpoint] += 1
        if record.endpoint == "adAnalytics":
            made[f"adAnalytics:{analytics_pivot(record.query)}"] += 1
    return dict(made)
