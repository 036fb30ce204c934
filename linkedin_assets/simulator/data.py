"""The simulated advertiser: accounts, campaign groups, campaigns, creatives, posts and their metrics.

Everything is a pure function of the seed and the sizes. Entities are generated up front (cheap); daily
metrics are generated per account on first use and kept in a cache bounded by bytes (all ten accounts of
``large`` fit in it, so concurrent windows over many accounts never regenerate an account).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from linkedin_assets.simulator.config import SimulatorConfig
from linkedin_assets.simulator.conversions import AccountRules, edit_rule, generate_rules
from linkedin_assets.simulator.metrics import (
    COST_METRICS,
    GENERATED_METRICS,
    GLITCH_DUST,
    CreativeParams,
    add_oddities,
    generate_rows,
    revise_late_rows,
    to_decimal,
)

__all__ = ["CAMPAIGN_TYPES", "AccountData", "Dataset"]

DAY_MS = 86_400_000
_CACHE_BYTES = 768 * 2**20  # large: about 45 MB per account (creative-days, per-pivot daily tables, per-rule facts)
CAMPAIGN_TYPES: tuple[str, ...] = ("SPONSORED_UPDATES", "TEXT_AD", "SPONSORED_INMAILS", "DYNAMIC")
CORRECTED_METRICS: tuple[str, ...] = ("impressions", "clicks", "costInLocalCurrency", "costInUsd")
_FX_TO_USD = {"USD": 1.0, "EUR": 1.0825, "GBP": 1.2674, "CAD": 0.7311, "AUD": 0.6547}
_CAMPAIGN_STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED", "COMPLETED", "DRAFT", "CANCELED", "REMOVED", "PENDING_DELETION")
_STATUS_WEIGHTS = (0.40, 0.14, 0.10, 0.10, 0.08, 0.06, 0.06, 0.06)
_ENDED = frozenset({"ARCHIVED", "COMPLETED", "REMOVED", "PENDING_DELETION"})
_OBJECTIVES = ("LEAD_GENERATION", "WEBSITE_VISITS", "WEBSITE_CONVERSIONS", "BRAND_AWARENESS", "ENGAGEMENT")
_OPTIMIZATION = {
    "LEAD_GENERATION": "MAX_LEAD",
    "WEBSITE_VISITS": "MAX_CLICK",
    "WEBSITE_CONVERSIONS": "MAX_CONVERSION",
    "BRAND_AWARENESS": "MAX_IMPRESSION",
    "ENGAGEMENT": "MAX_CLICK",
    "VIDEO_VIEWS": "MAX_VIDEO_VIEW",
}
_WORDS = (
    "Pipeline", "Webinar", "Whitepaper", "Retargeting", "Brand", "Launch", "Demo", "Trial", "Summit", "Ebook",
    "Case Study", "Awareness", "Hiring", "Newsletter", "Partner", "Product Tour", "Q1", "Q2", "Q3", "Q4",
)  # fmt: skip
_REGIONS = ("EMEA", "NA", "APAC", "LATAM", "DACH", "UK&I", "Global")


def _ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def _money(amount: float, currency: str) -> dict[str, str]:
    return {"amount": f"{amount:.2f}", "currencyCode": currency}


@dataclass
class AccountData:
    """One account's entities (API JSON shape) and the parameters of its creatives' metrics."""

    index: int
    account: dict[str, Any]
    campaign_groups: list[dict[str, Any]]
    campaigns: list[dict[str, Any]]
    creatives: list[dict[str, Any]]
    posts: dict[str, dict[str, Any] | None]
    params: CreativeParams
    creative_ids: np.ndarray
    creative_campaign_ids: np.ndarray
    creative_group_ids: np.ndarray
    creative_campaign_types: np.ndarray  # object array of campaign types
    creative_type_codes: np.ndarray  # int8 index into CAMPAIGN_TYPES
    campaign_group_of: dict[int, int] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.account["id"]


class _Generator:
    """Builds one account's entities; holds the shared calendar."""

    def __init__(self, config: SimulatorConfig) -> None:
        sizes = config.sizes
        self.seed = config.seed
        self.days = sizes.days
        self.campaigns_per_account = sizes.campaigns_per_account
        self.creatives_per_campaign = sizes.creatives_per_campaign
        self.today = config.today
        self.start = self.today - dt.timedelta(days=self.days)
        self.member = "urn:li:person:" + "".join(
            np.random.default_rng([config.seed, 99]).choice(
                list("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"), 10
            )
        )

    def ms(self, day_index: float) -> int:
        return _ms(self.start) + int(day_index * DAY_MS)

    def account(self, index: int) -> AccountData:
        rng = np.random.default_rng([self.seed, index, 1])
        currency = str(rng.choice(["USD", "USD", "EUR", "GBP", "CAD", "AUD"])) if index else "USD"
        org = int(rng.integers(1_000_000, 99_999_999))
        created = self.ms(-int(rng.integers(200, 1500)) - rng.random())
        account = {
            "id": 500_000_000 + index * 1_000_003 + int(rng.integers(0, 1_000_000)),
            "name": f"{['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli'][index % 5]} {_REGIONS[index % len(_REGIONS)]}"
            + (f" {index // 5 + 1}" if index >= 5 else ""),
            "currency": currency,
            "status": "ACTIVE",
            "type": "BUSINESS" if index % 4 else "ENTERPRISE",
            "reference": f"urn:li:organization:{org}",
            "test": False,
            "servingStatuses": ["RUNNABLE"],
            "notifiedOnCampaignOptimization": True,
            "notifiedOnCreativeApproval": True,
            "notifiedOnCreativeRejection": True,
            "notifiedOnEndOfCampaign": bool(index % 2),
            "notifiedOnNewFeaturesEnabled": False,
            "changeAuditStamps": {
                "created": {"actor": self.member, "time": created},
                "lastModified": {"actor": "urn:li:unknown:0", "time": created + int(rng.integers(1, 100)) * DAY_MS},
            },
            "version": {"versionTag": str(int(rng.integers(1, 20)))},
        }
        account_urn = f"urn:li:sponsoredAccount:{account['id']}"

        n_groups = 1 + max(1, min(5, -(-self.campaigns_per_account // 20)))
        group_base = 600_000_000 + index * 100_000 + int(rng.integers(0, 1000)) * 10
        groups = []
        for j in range(n_groups):
            status = "ACTIVE" if j < 2 else str(rng.choice(["ACTIVE", "PAUSED", "ARCHIVED"]))
            g_created = created + int(rng.integers(1, 60)) * DAY_MS
            group = {
                "id": group_base + j * 7,
                "account": account_urn,
                "name": "Default Campaign Group" if j == 0 else f"{rng.choice(_WORDS)} {2025 + j % 2}",
                "status": status,
                "test": False,
                "backfilled": j == 0,
                "runSchedule": {"start": g_created},
                "servingStatuses": ["RUNNABLE"] if status == "ACTIVE" else ["STOPPED"],
                "allowedCampaignTypes": ["TEXT_AD", "SPONSORED_UPDATES", "SPONSORED_INMAILS", "DYNAMIC"],
                "changeAuditStamps": {
                    "created": {"time": g_created},
                    "lastModified": {"time": g_created + int(rng.integers(1, 300)) * DAY_MS},
                },
            }
            if j:
                group["totalBudget"] = _money(float(rng.integers(5, 100)) * 1000, currency)
                group["objectiveType"] = str(rng.choice(_OBJECTIVES))
            groups.append(group)
        if n_groups > 2:
            groups.append({**groups[-1], "id": group_base + n_groups * 7, "name": "Draft ideas", "status": "DRAFT",
                           "servingStatuses": ["STOPPED"]})  # fmt: skip

        campaigns, creatives, posts = [], [], {}
        cols: dict[str, list[Any]] = {k: [] for k in CreativeParams.__dataclass_fields__ if k != "fx_to_usd"}
        creative_ids, creative_campaigns, creative_groups, creative_types = [], [], [], []
        campaign_base = 140_000_000 + index * 10_000_000 + int(rng.integers(0, 100_000))
        creative_base = 100_000_000 + index * 10_000_000 + int(rng.integers(0, 100_000))
        active_groups = [g for g in groups if g["status"] != "DRAFT"]
        d = self.days
        for j in range(self.campaigns_per_account):
            status = (
                "ACTIVE" if j == 0 else "PAUSED" if j == 1 else str(rng.choice(_CAMPAIGN_STATUSES, p=_STATUS_WEIGHTS))
            )
            early = int(-rng.integers(1, 400))
            start = early if rng.random() < 0.7 or status == "DRAFT" else int(rng.integers(1, max(2, d // 2)))
            end: int | None = None  # runSchedule end (exclusive day)
            active_end = d
            if status == "DRAFT":
                start, active_end = d + int(rng.integers(3, 30)), 0
            elif status == "ACTIVE" and rng.random() < 0.2:
                end = d + int(rng.integers(5, 90))
            elif status == "PAUSED":
                active_end = int(rng.integers(max(start + 1, d // 3, 1), d + 1)) if start < d else d
            elif status in _ENDED or status == "CANCELED":
                latest = max(1, d - max(2, d // 4))
                end = int(rng.integers(max(1, int(d * 0.2)), max(2, min(latest, int(d * 0.6)) + 1)))
                start = min(start, end - 1)
                active_end = end
            window = (max(start, 0), min(active_end, d))

            ctype = str(
                rng.choice(["SPONSORED_UPDATES", "TEXT_AD", "SPONSORED_INMAILS", "DYNAMIC"], p=[0.7, 0.1, 0.1, 0.1])
            )
            fmt = {
                "SPONSORED_UPDATES": str(
                    rng.choice(["STANDARD_UPDATE", "SINGLE_VIDEO", "CAROUSEL"], p=[0.6, 0.25, 0.15])
                ),
                "TEXT_AD": "TEXT_AD",
                "SPONSORED_INMAILS": "SPONSORED_INMAIL",
                "DYNAMIC": "SPOTLIGHT",
            }[ctype]
            objective = (
                "VIDEO_VIEWS" if fmt == "SINGLE_VIDEO" else "LEAD_GENERATION" if ctype == "SPONSORED_INMAILS"
                else str(rng.choice(_OBJECTIVES))
            )  # fmt: skip
            cost_type = "CPV" if objective == "VIDEO_VIEWS" else "CPM" if objective == "BRAND_AWARENESS" else "CPC"
            unit_cost = {"CPC": rng.uniform(2.5, 12.0), "CPM": rng.uniform(15.0, 60.0), "CPV": rng.uniform(0.05, 0.4)}[
                cost_type
            ]
            group = groups[0] if not j else active_groups[int(rng.integers(0, len(active_groups)))]
            c_created = self.ms(min(start, 0 if status != "DRAFT" else d) - int(rng.integers(1, 10)) + rng.random())
            modified = (
                self.ms(max(window[1], window[0]) - rng.random() * 0.5)
                if status != "ACTIVE"
                else self.ms(d - rng.random() * min(d, 30))
            )
            campaign = {
                "id": campaign_base + j * 13,
                "account": account_urn,
                "campaignGroup": f"urn:li:sponsoredCampaignGroup:{group['id']}",
                "name": f"{_REGIONS[int(rng.integers(0, len(_REGIONS)))]} | {rng.choice(_WORDS)} | {objective.title().replace('_', ' ')}",
                "status": status,
                "type": ctype,
                "costType": cost_type,
                "objectiveType": objective,
                "optimizationTargetType": _OPTIMIZATION[objective],
                "format": fmt,
                "creativeSelection": "OPTIMIZED",
                "unitCost": _money(unit_cost, currency),
                "runSchedule": {"start": self.ms(start)} | ({"end": self.ms(end)} if end is not None else {}),
                "locale": {"country": "US", "language": "en"},
                "associatedEntity": account["reference"],
                "audienceExpansionEnabled": bool(rng.random() < 0.3),
                "offsiteDeliveryEnabled": bool(rng.random() < 0.4),
                "connectedTelevisionOnly": False,
                "politicalIntent": "NOT_POLITICAL",
                "test": False,
                "servingStatuses": ["RUNNABLE"] if status == "ACTIVE" and end is None else
                ["CAMPAIGN_END_DATE_HOLD"] if status in _ENDED else ["STOPPED"],
                "targetingCriteria": {
                    "include": {"and": [
                        {"or": {"urn:li:adTargetingFacet:locations": ["urn:li:geo:103644278"]}},
                        {"or": {"urn:li:adTargetingFacet:seniorities": [f"urn:li:seniority:{s}" for s in (5, 6, 7)]}},
                    ]},
                    "exclude": {"or": {"urn:li:adTargetingFacet:titles": ["urn:li:title:100"]}},
                },
                "changeAuditStamps": {"created": {"time": c_created}, "lastModified": {"time": max(modified, c_created)}},
                "version": {"versionTag": str(int(rng.integers(1, 12)))},
            }  # fmt: skip
            if rng.random() < 0.75:
                campaign["dailyBudget"] = _money(float(rng.integers(5, 60)) * 10, currency)
                campaign["pacingStrategy"] = "DAILY"
            else:
                campaign["totalBudget"] = _money(float(rng.integers(2, 40)) * 1000, currency)
                campaign["pacingStrategy"] = "LIFETIME"
            campaigns.append(campaign)

            base = float(rng.lognormal(np.log(300 if d < 30 else 120), 0.9))
            for k in range(self.creatives_per_campaign):
                creative_id = creative_base + (j * max(1, self.creatives_per_campaign) + k) * 3
                urn = f"urn:li:sponsoredCreative:{creative_id}"
                late = rng.random() < 0.15
                created_day = window[0] + (int(rng.integers(1, max(2, d // 3))) if late else 0)
                created_day = min(created_day, start) if status == "DRAFT" else created_day
                created_at = self.ms(
                    min(created_day, max(start, 0) if status == "DRAFT" else created_day) + rng.random() * 0.4
                )
                if status == "DRAFT":
                    intended = "DRAFT"
                elif status in ("ARCHIVED", "COMPLETED", "CANCELED", "REMOVED", "PENDING_DELETION"):
                    intended = status if status != "COMPLETED" else "ARCHIVED"
                else:
                    intended = str(rng.choice(["ACTIVE", "PAUSED"], p=[0.85, 0.15]))
                rejected = status != "DRAFT" and rng.random() < 0.05
                silent = status != "DRAFT" and not rejected and rng.random() < 0.06
                delivers = not (status == "DRAFT" or rejected or silent)
                c_end = window[1]
                if intended == "PAUSED" and delivers and c_end > created_day + 1:
                    c_end = int(rng.integers(created_day + 1, c_end + 1))
                creative = {
                    "id": urn,
                    "account": account_urn,
                    "campaign": f"urn:li:sponsoredCampaign:{campaign['id']}",
                    "intendedStatus": intended,
                    "isServing": bool(delivers and status == "ACTIVE" and intended == "ACTIVE"),
                    "isTest": False,
                    "createdAt": created_at,
                    "createdBy": self.member,
                    "lastModifiedAt": max(created_at, self.ms(max(c_end, created_day)) - DAY_MS // 3),
                    "lastModifiedBy": self.member,
                }
                if rng.random() < 0.5:
                    creative["name"] = (
                        f"{rng.choice(_WORDS)} – {rng.choice(['image', 'video', 'carousel', 'text', 'v2', 'A', 'B'])}"
                    )
                if ctype == "TEXT_AD":
                    creative["content"] = {"textAd": {
                        "headline": f"{rng.choice(_WORDS)}: see what's new",
                        "description": "Plan, run and measure campaigns in one place.",
                        "landingPage": f"https://example.com/lp/{creative_id}",
                    }}  # fmt: skip
                elif ctype == "SPONSORED_INMAILS":
                    creative["content"] = {"reference": f"urn:li:adInMailContent:{creative_id + 17}"}
                else:
                    kind = "share" if rng.random() < 0.7 else "ugcPost"
                    post_urn = f"urn:li:{kind}:{7_100_000_000_000_000_000 + creative_id * 1009}"
                    creative["content"] = {"reference": post_urn}
                    posts[post_urn] = (
                        None if rng.random() < 0.06 else self._post(rng, post_urn, account, account_urn, created_at)
                    )
                if status != "DRAFT":
                    creative["review"] = (
                        {"status": "REJECTED", "rejectionReasons": ["OTHER"]} if rejected else {"status": "APPROVED"}
                    )
                if rejected:
                    creative["servingHoldReasons"] = ["REJECTED"]
                elif silent:
                    creative["servingHoldReasons"] = [str(rng.choice(["UNDER_REVIEW", "PROCESSING", "FORM_HOLD"]))]
                elif not creative["isServing"] and status != "DRAFT":
                    creative["servingHoldReasons"] = ["CAMPAIGN_STOPPED" if status != "ACTIVE" else "STOPPED"]
                creatives.append(creative)
                creative_ids.append(creative_id)
                creative_campaigns.append(campaign["id"])
                creative_groups.append(group["id"])
                creative_types.append(ctype)
                video = fmt == "SINGLE_VIDEO"
                cols["start"].append(created_day if delivers else 0)
                cols["end"].append(c_end if delivers else 0)
                cols["base_impressions"].append(
                    base * rng.lognormal(0.0, 0.5) * (0.3 if ctype == "SPONSORED_INMAILS" else 1.0)
                )
                cols["ctr"].append(
                    min(
                        0.2,
                        rng.lognormal(np.log({"TEXT_AD": 0.0025, "SPONSORED_INMAILS": 0.03}.get(ctype, 0.006)), 0.4),
                    )
                )
                cols["cvr"].append(min(0.5, rng.lognormal(np.log(0.04), 0.6)))
                cols["reach_share"].append(rng.uniform(0.55, 0.85))
                cols["cost_kind"].append({"CPC": 0, "CPM": 1, "CPV": 2}[cost_type])
                cols["unit_cost"].append(unit_cost)
                cols["round_cost"].append(rng.random() < 0.05)
                cols["conversion_value"].append(round(float(rng.uniform(10, 200)), 2))
                cols["video"].append(video)
                cols["inmail"].append(ctype == "SPONSORED_INMAILS")
                cols["carousel"].append(fmt == "CAROUSEL")
                cols["leadgen"].append(objective == "LEAD_GENERATION")
                cols["social"].append(ctype in ("SPONSORED_UPDATES", "DYNAMIC"))
        params = CreativeParams(**{k: np.asarray(v) for k, v in cols.items()}, fx_to_usd=_FX_TO_USD[currency])
        return AccountData(
            index=index,
            account=account,
            campaign_groups=groups,
            campaigns=campaigns,
            creatives=creatives,
            posts=posts,
            params=params,
            creative_ids=np.asarray(creative_ids, dtype=np.int64),
            creative_campaign_ids=np.asarray(creative_campaigns, dtype=np.int64),
            creative_group_ids=np.asarray(creative_groups, dtype=np.int64),
            creative_campaign_types=np.asarray(creative_types, dtype=object),
            creative_type_codes=np.asarray([CAMPAIGN_TYPES.index(t) for t in creative_types], dtype=np.int8),
        )

    def _post(self, rng: np.random.Generator, urn: str, account: dict, account_urn: str, created_at: int) -> dict:
        post: dict[str, Any] = {
            "id": urn,
            "author": account["reference"],
            "commentary": f"{rng.choice(_WORDS)}: how teams like yours save hours every week. Learn more ↓",
            "visibility": "PUBLIC",
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
            "createdAt": created_at - DAY_MS,
            "lastModifiedAt": created_at - DAY_MS // 2,
            "publishedAt": created_at - DAY_MS // 2,
            "distribution": {"feedDistribution": "NONE", "targetEntities": [], "thirdPartyDistributionChannels": []},
            "adContext": {"dscAdAccount": account_urn, "dscStatus": "ACTIVE", "isDsc": True, "dscAdType": "STANDARD"},
        }
        if rng.random() < 0.6:
            post["adContext"]["dscName"] = f"{rng.choice(_WORDS)} ad {urn.rsplit(':', 1)[1][-4:]}"
        if rng.random() < 0.5:
            post["content"] = {
                "article": {"title": f"The {rng.choice(_WORDS)} guide", "source": "https://example.com/guide"}
            }
        return post


class AccountMetrics:
    """One account's metric facts at one generation, plus per-pivot daily tables built from them on demand.

    ``rows``: the creative-day facts and (with oddities) the campaign-day corrections as rows whose
    ``creative_id`` is 0, sorted by ``day``; columns ``day`` (history-day index), ``account_id``, ``group_id``,
    ``campaign_id``, ``creative_id``, ``ctype`` (index into :data:`CAMPAIGN_TYPES`), every generated metric
    (money in units of 1e-7) and ``dust_<money metric>`` (units of 1e-18). Read-only.
    """

    def __init__(self, rows: dict[str, np.ndarray]) -> None:
        self.rows = rows
        self.tables: dict[str, dict[str, np.ndarray]] = {}
        self.lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes held (an array shared by ``rows`` and a table counts once)."""
        arrays = {id(a): a for a in self.rows.values()}
        arrays.update((id(a), a) for t in self.tables.values() for a in t.values())
        return sum(a.nbytes for a in arrays.values())

    def daily_table(self, pivot: str) -> dict[str, np.ndarray]:
        """The DAILY report of every entity of ``pivot`` over the whole history, sorted by day (cached)."""
        from linkedin_assets.simulator.analytics import aggregate_daily

        with self.lock:
            table = self.tables.get(pivot)
            if table is None:
                table = self.tables[pivot] = aggregate_daily(self.rows, pivot)
            return table


class Dataset:
    """The generated advertiser, plus ground truth for tests: what the API serves is computed from this object.

    Ground truth comes in two forms:

    * **Raw facts**, for a test that aggregates by itself, independently of the endpoint's code:
      :meth:`creative_day_facts`, :meth:`campaign_day_corrections` and :meth:`member_shares`.
    * **The endpoint's own aggregation** as frames: :meth:`daily_metrics` and :meth:`demographics`.

    How the API derives every ``adAnalytics`` row from the raw facts (the contract a test can re-implement):

    1. ``pivot=CREATIVE``, DAILY: one element per creative-day fact, values exactly as in the fact.
    2. ``CAMPAIGN``, ``CAMPAIGN_GROUP``, ``ACCOUNT`` pivots: per (entity, time bucket) the sum of the facts of the
       entity's creatives in the bucket, **plus** the campaign-day corrections of its campaigns in the bucket
       (corrections exist only with ``oddities=True``; they apply whenever ``CREATIVE`` is not a pivot and the
       request has no ``creatives`` facet). Money sums are exact (``Decimal`` with enough precision, e.g.
       ``decimal.localcontext(prec=60)``). ``approximateMemberReach`` is not additive: for an aggregate it is
       ``min(impressions, max(max(parts), int(sum(parts) * 0.8)))`` over the creative-day facts' reach values
       (``sum * 0.8`` in float64, truncated), where ``impressions`` is the aggregate's (corrections included).
    3. An element exists for (entity, bucket) iff at least one creative-day fact falls in it.
    4. Time buckets: DAILY = the day; MONTHLY/YEARLY = the calendar month/year clipped to the requested range;
       ALL = the requested range.
    5. Demographic (``MEMBER_*``) pivots, per campaign and bucket: ``T[m]`` = the sum of metric ``m`` over the
       creative-day facts (money rounded to 7 places, i.e. in units of 1e-7 without dust; no corrections). For the
       ``(value, share)`` pairs of ``member_shares(pivot, campaign_id, month of the bucket start)`` each value
       gets ``floor(T[m] * share)`` (float64 product) for every metric LinkedIn reports on member pivots; rows
       with fewer than 3 impressions are dropped; the account level is the per-value sum of its campaigns'
       remaining rows. Money = those units x 1e-7.
    6. ``CONVERSION`` pivots (alone or with entity pivots): per (pivot values, bucket) the sums of the per-rule
       facts (:meth:`conversion_facts`; how they are drawn: ``simulator/conversions.py``), no corrections; an
       element exists iff a per-rule fact falls in it. Only the nine conversion metrics are served on them.
    7. Serialisation: money metrics are strings like Java's ``BigDecimal.stripTrailingZeros().toString()``
       (``"0.0"`` for zero, ``"1.5E+3"``, ``"-2E-18"``), counts integers; a response keeps at most
       ``max_elements`` elements (silent truncation, in a deterministic pseudo-random order).
    """

    def __init__(self, config: SimulatorConfig) -> None:
        self._gen = _Generator(config)
        self.seed = config.seed
        self.late_data_days = config.late_data_days
        self.oddities = config.oddities
        self.today: dt.date = self._gen.today
        self.history_start: dt.date = self._gen.start
        self.days: int = self._gen.days
        self.member: str = self._gen.member
        self.account_data: list[AccountData] = [self._gen.account(i) for i in range(config.sizes.accounts)]
        self.forbidden: AccountData = self._gen.account(config.sizes.accounts)
        """An account that exists but on which the member has no role (403 on reads, no analytics rows)."""
        self.generation = 0
        self.removed_campaigns: set[int] = set()
        self.removed_creatives: set[str] = set()
        """URNs of creatives the finder no longer lists."""
        self._by_id = {a.id: a for a in self.account_data}
        start_ms = _ms(self.history_start)
        self.conversion_rules: dict[int, AccountRules] = {
            a.id: generate_rules(self.seed, a, start_ms, self.days) for a in (*self.account_data, self.forbidden)
        }
        """Account id -> its conversion rules (``/rest/conversions``); see ``simulator/conversions.py``."""
        self._cache: OrderedDict[tuple[int, int], AccountMetrics] = OrderedDict()
        self._building: dict[tuple[int, int], threading.Lock] = {}
        self._lock = threading.Lock()

    # -- entities -------------------------------------------------------------------------------------------------
    @property
    def accounts(self) -> list[dict[str, Any]]:
        return [a.account for a in self.account_data]

    @property
    def campaign_groups(self) -> list[dict[str, Any]]:
        return [g for a in self.account_data for g in a.campaign_groups]

    @property
    def campaigns(self) -> list[dict[str, Any]]:
        """Campaigns the API returns (minus those removed with :meth:`remove_campaign`)."""
        return [c for a in self.account_data for c in a.campaigns if c["id"] not in self.removed_campaigns]

    @property
    def creatives(self) -> list[dict[str, Any]]:
        """Creatives the API returns (minus those removed with :meth:`remove_creative`)."""
        return [c for a in self.account_data for c in a.creatives if c["id"] not in self.removed_creatives]

    @property
    def posts(self) -> dict[str, dict[str, Any] | None]:
        """Post URN -> post, or ``None`` for a deleted post (the API answers 404 for it)."""
        return {urn: post for a in self.account_data for urn, post in a.posts.items()}

    def account(self, account_id: int) -> AccountData | None:
        return self._by_id.get(account_id)

    def remove_campaign(self, campaign_id: int) -> None:
        """Stop returning a campaign from entity endpoints (its past metrics stay, as on LinkedIn)."""
        if not any(c["id"] == campaign_id for a in self.account_data for c in a.campaigns):
            raise KeyError(f"no campaign {campaign_id}")
        self.removed_campaigns.add(campaign_id)

    def remove_creative(self, creative_id: int) -> None:
        """Stop returning a creative from the creatives finder and GET; adAnalytics keeps reporting its delivery, as
        LinkedIn does for creatives its finder no longer lists."""
        urn = f"urn:li:sponsoredCreative:{creative_id}"
        if not any(c["id"] == urn for a in self.account_data for c in a.creatives):
            raise KeyError(f"no creative {creative_id}")
        self.removed_creatives.add(urn)

    def edit_campaign(self, campaign_id: int, changes: dict[str, Any], *, touch: bool = True) -> None:
        """Change a campaign's fields (API names) as an advertiser would in Campaign Manager. ``touch``: LinkedIn's
        ``changeAuditStamps.lastModified`` and ``version`` move too; without it they stay, as happens when LinkedIn
        changes a campaign itself (serving statuses, a review)."""
        campaign = next((c for a in self.account_data for c in a.campaigns if c["id"] == campaign_id), None)
        if campaign is None:
            raise KeyError(f"no campaign {campaign_id}")
        campaign.update(changes)
        if touch:
            stamps = campaign["changeAuditStamps"]
            stamps["lastModified"] = {"time": stamps["lastModified"]["time"] + 3_600_000}
            tag = (campaign.get("version") or {}).get("versionTag")
            campaign["version"] = {"versionTag": str(int(tag) + 1) if tag and tag.isdigit() else "2"}

    def edit_conversion(self, conversion_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a conversion rule's element (``name``, ``enabled``, ``postClickAttributionWindowSize``, ...) as an
        advertiser would; its ``lastModified`` moves one hour on. Its past per-rule metrics stay as they were."""
        return edit_rule(list(self.conversion_rules.values()), conversion_id, changes)

    # -- metrics --------------------------------------------------------------------------------------------------
    def new_generation(self) -> None:
        """Late-data mode: revise the last ``late_data_days`` days (conversions and cost go up)."""
        with self._lock:
            self.generation += 1

    def account_metrics(self, account: AccountData) -> AccountMetrics:
        """One account's facts at the current generation (built once, then cached; thread-safe)."""
        key = (account.index, self.generation)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            building = self._building.setdefault(key, threading.Lock())
        with building:  # one builder per account; concurrent requests for it wait instead of building it again
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            try:
                metrics = AccountMetrics(self._build_rows(account, key[1]))
            except BaseException:
                with self._lock:
                    self._building.pop(key, None)
                raise
            with self._lock:
                self._cache[key] = metrics
                self._building.pop(key, None)
                while len(self._cache) > 1 and sum(m.nbytes for m in self._cache.values()) > _CACHE_BYTES:
                    self._cache.popitem(last=False)
            return metrics

    def metric_rows(self, account: AccountData) -> dict[str, np.ndarray]:
        """``account_metrics(account).rows``: creative-day facts plus corrections (``creative_id`` 0)."""
        return self.account_metrics(account).rows

    def _build_rows(self, account: AccountData, generation: int) -> dict[str, np.ndarray]:
        rows = generate_rows(
            account.params, self.history_start.weekday(), np.random.default_rng([self.seed, account.index, 2])
        )
        if self.late_data_days:
            for g in range(1, generation + 1):
                rng = np.random.default_rng([self.seed, account.index, 1000 + g])
                revise_late_rows(rows, account.params, self.days - self.late_data_days, rng)
        creative = rows.pop("creative")
        rows = {
            "account_id": np.full(len(creative), account.id, dtype=np.int64),
            "group_id": account.creative_group_ids[creative],
            "campaign_id": account.creative_campaign_ids[creative],
            "creative_id": account.creative_ids[creative],
            "ctype": account.creative_type_codes[creative],
            **rows,
        }
        if self.oddities:
            dust = add_oddities(rows, np.random.default_rng([self.seed, account.index, 3]))
        else:
            dust = {f"dust_{m}": np.zeros(len(creative), dtype=np.int64) for m in COST_METRICS}
        dust["dust_costInUsd"] += _glitches(rows, self.seed).astype(np.int64) * GLITCH_DUST
        rows.update(dust)
        if self.oddities:
            rows = _with_corrections(rows, np.random.default_rng([self.seed, account.index, 4]))
        order = np.lexsort((rows["creative_id"], rows["day"]))
        return {name: np.ascontiguousarray(column[order]) for name, column in rows.items()}

    def date_of(self, day_index: int) -> dt.date:
        return self.history_start + dt.timedelta(days=int(day_index))

    def dates_of(self, day_indices: np.ndarray) -> np.ndarray:
        """``date_of`` for an array: an object array of ``datetime.date``."""
        return (np.datetime64(self.history_start, "D") + day_indices.astype("timedelta64[D]")).astype(object)

    # -- raw facts (independent ground truth) ---------------------------------------------------------------------
    def _fact_frame(self, corrections: bool) -> pd.DataFrame:
        parts = []
        for account in self.account_data:
            rows = self.metric_rows(account)
            keep = (rows["creative_id"] == 0) if corrections else (rows["creative_id"] != 0)
            metrics = CORRECTED_METRICS if corrections else GENERATED_METRICS
            frame = pd.DataFrame(
                {
                    "account_id": rows["account_id"][keep],
                    "campaign_group_id": rows["group_id"][keep],
                    "campaign_id": rows["campaign_id"][keep],
                    **({} if corrections else {"creative_id": rows["creative_id"][keep]}),
                    "date": self.dates_of(rows["day"][keep]),
                }
            )
            for metric in metrics:
                if metric in COST_METRICS:
                    units, dust = rows[metric][keep].tolist(), rows[f"dust_{metric}"][keep].tolist()
                    frame[metric] = [to_decimal(u, d) for u, d in zip(units, dust, strict=True)]
                else:
                    frame[metric] = rows[metric][keep].astype(np.int64)
            parts.append(frame)
        keys = ["campaign_id", "date"] if corrections else ["creative_id", "date"]
        return pd.concat(parts, ignore_index=True).sort_values(keys, ignore_index=True)

    def creative_day_facts(self) -> pd.DataFrame:
        """The raw generated facts: one row per (creative, day) with activity, for every account.

        Columns: ``account_id``, ``campaign_group_id``, ``campaign_id``, ``creative_id`` (ints), ``date``
        (``datetime.date``), then every metric of :data:`~linkedin_assets.simulator.metrics.GENERATED_METRICS`:
        counts as ``int64``, money (``costInLocalCurrency``, ``costInUsd``, ``conversionValueInLocalCurrency``) as
        the exact ``Decimal`` the API serialises for that creative-day (dust such as ``-2E-18`` included).
        Every adAnalytics number is derived from this frame, :meth:`campaign_day_corrections` and
        :meth:`member_shares` by the rules in the class docstring. Sorted by (creative_id, date).
        """
        return self._fact_frame(corrections=False)

    def campaign_day_corrections(self) -> pd.DataFrame:
        """Campaign-level corrections (``oddities=True`` only; otherwise an empty frame with the same columns).

        One row per corrected campaign-day: ``account_id``, ``campaign_group_id``, ``campaign_id``, ``date`` and
        the deltas (<= 0) of ``impressions``, ``clicks`` (``int64``), ``costInLocalCurrency``, ``costInUsd``
        (``Decimal``) that the campaign (and its group's and account's) rows include but its creatives' rows do
        not: on that day at least one creative's impressions exceed the campaign's.
        """
        frame = self._fact_frame(corrections=True)
        return frame

    def member_shares(self, pivot: str, campaign_id: int, month: dt.date) -> list[tuple[str, float]]:
        """The member values of ``pivot`` a campaign's delivery in ``month`` is spread over, with their shares.

        The top (at most) 100 values of the pivot's universe in rank order, each with its share (a Zipf-like law,
        exponent 1.15 over the whole universe, so the shares add up to less than 1). See rule 5 of the class
        docstring for how a demographic row is computed from them.
        """
        from linkedin_assets.simulator.analytics import member_shares

        return member_shares(self, pivot, campaign_id, month)

    def conversion_facts(self) -> pd.DataFrame:
        """The raw per-rule facts: one row per (creative, conversion rule, day) where the rule counted something
        (see :func:`~linkedin_assets.simulator.conversions.conversion_facts`)."""
        from linkedin_assets.simulator.conversions import conversion_facts

        return conversion_facts(self)

    # -- the endpoint's own aggregation ---------------------------------------------------------------------------
    def daily_metrics(self, pivot: str) -> pd.DataFrame:
        """Ground truth: one row per (entity, day) with activity; ``pivot`` is ``"CAMPAIGN"`` or ``"CREATIVE"``."""
        from linkedin_assets.simulator.analytics import ground_truth_daily

        return ground_truth_daily(self, pivot)

    def demographics(self, pivot: str, level: str = "account", month: dt.date | None = None) -> pd.DataFrame:
        """Ground truth of a MONTHLY ``MEMBER_*`` report for every account (or campaign) over one calendar month."""
        from linkedin_assets.simulator.analytics import ground_truth_demographics

        return ground_truth_demographics(self, pivot, level, month or self.today.replace(day=1))


def _glitches(rows: dict[str, np.ndarray], seed: int) -> np.ndarray:
    """Mark one creative row of some zero-cost campaign-days: its ``costInUsd`` is reported as ``-2E-18``."""
    frame = pd.DataFrame({"c": rows["campaign_id"], "d": rows["day"], "usd": rows["costInUsd"]})
    zero_day = frame.groupby(["c", "d"])["usd"].transform("sum").to_numpy() == 0
    first = frame.groupby(["c", "d"]).cumcount().to_numpy() == 0
    lucky = ((rows["campaign_id"] * 2_654_435_761 + rows["day"] * 40_503 + seed) % 5) == 0
    return (zero_day & first & lucky).astype(np.int8)


def _with_corrections(rows: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Append campaign-day corrections (rows with ``creative_id`` 0) that put some campaign-days below one of
    their creatives: about 0.3 % of the campaign-days with at least 2 impressions, and at least one."""
    frame = pd.DataFrame({k: rows[k] for k in ("account_id", "group_id", "campaign_id", "ctype", "day",
                                               *CORRECTED_METRICS)})  # fmt: skip
    grouped = frame.groupby(["campaign_id", "day"], sort=True)
    totals = grouped[list(CORRECTED_METRICS)].sum()
    largest = grouped[list(CORRECTED_METRICS)].max()
    first = grouped[["account_id", "group_id", "ctype"]].first()
    eligible = np.flatnonzero(largest["impressions"].to_numpy() >= 2)
    if not len(eligible):
        return rows
    chosen = eligible[rng.random(len(eligible)) < 0.003]
    if not len(chosen):
        chosen = eligible[[int(rng.integers(0, len(eligible)))]]
    n = len(chosen)
    campaign_ids = totals.index.get_level_values(0).to_numpy()[chosen]
    days = totals.index.get_level_values(1).to_numpy()[chosen]
    extra: dict[str, np.ndarray] = {
        "account_id": first["account_id"].to_numpy()[chosen],
        "group_id": first["group_id"].to_numpy()[chosen],
        "campaign_id": campaign_ids.astype(np.int64),
        "creative_id": np.zeros(n, dtype=np.int64),
        "ctype": first["ctype"].to_numpy()[chosen].astype(np.int8),
        "day": days.astype(rows["day"].dtype),
    }
    for metric in CORRECTED_METRICS:
        top = largest[metric].to_numpy()[chosen].astype(np.int64)
        target = top * 9 // 10  # below the largest creative (strictly, since top >= 2 for impressions)
        extra[metric] = np.minimum(target - totals[metric].to_numpy()[chosen].astype(np.int64), 0)
    out = {}
    for name, column in rows.items():
        addition = extra.get(name, np.zeros(n, dtype=column.dtype))
        out[name] = np.concatenate([column, addition.astype(column.dtype)])
    return out
