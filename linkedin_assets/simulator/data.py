"""The simulated advertiser: accounts, campaign groups, campaigns, creatives, posts and their metrics.

Everything is a pure function of the seed and the sizes. Entities are generated up front (cheap); daily
metrics are generated per account on first use and kept for a few accounts at a time.
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
from linkedin_assets.simulator.metrics import CreativeParams, generate_rows, revise_late_rows

__all__ = ["AccountData", "Dataset"]

DAY_MS = 86_400_000
_CACHED_ACCOUNTS = 6
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


class Dataset:
    """The generated advertiser, plus ground truth for tests: what the API serves is computed from this object."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._gen = _Generator(config)
        self.seed = config.seed
        self.late_data_days = config.late_data_days
        self.today: dt.date = self._gen.today
        self.history_start: dt.date = self._gen.start
        self.days: int = self._gen.days
        self.member: str = self._gen.member
        self.account_data: list[AccountData] = [self._gen.account(i) for i in range(config.sizes.accounts)]
        self.forbidden: AccountData = self._gen.account(config.sizes.accounts)
        """An account that exists but on which the member has no role (403 on reads, no analytics rows)."""
        self.generation = 0
        self.removed_campaigns: set[int] = set()
        self._by_id = {a.id: a for a in self.account_data}
        self._cache: OrderedDict[tuple[int, int], dict[str, np.ndarray]] = OrderedDict()
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
        return [c for a in self.account_data for c in a.creatives]

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

    # -- metrics --------------------------------------------------------------------------------------------------
    def new_generation(self) -> None:
        """Late-data mode: revise the last ``late_data_days`` days (conversions and cost go up)."""
        with self._lock:
            self.generation += 1

    def metric_rows(self, account: AccountData) -> dict[str, np.ndarray]:
        """Creative-day rows of one account at the current generation (columns of equal length, do not mutate)."""
        key = (account.index, self.generation)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        rows = generate_rows(
            account.params, self.history_start.weekday(), np.random.default_rng([self.seed, account.index, 2])
        )
        if self.late_data_days:
            for generation in range(1, self.generation + 1):
                rng = np.random.default_rng([self.seed, account.index, 1000 + generation])
                revise_late_rows(rows, account.params, self.days - self.late_data_days, rng)
        creative = rows.pop("creative")
        rows = {
            "account_id": np.full(len(creative), account.id, dtype=np.int64),
            "group_id": account.creative_group_ids[creative],
            "campaign_id": account.creative_campaign_ids[creative],
            "creative_id": account.creative_ids[creative],
            **rows,
        }
        rows["usd_glitch"] = _glitches(rows, self.seed)
        with self._lock:
            self._cache[key] = rows
            while len(self._cache) > _CACHED_ACCOUNTS:
                self._cache.popitem(last=False)
        return rows

    def date_of(self, day_index: int) -> dt.date:
        return self.history_start + dt.timedelta(days=int(day_index))

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
