"""Conversion rules (``GET /rest/conversions?q=account``) and their per-rule metrics (the ``CONVERSION`` pivot).

**Rule element** (one per rule, 2-6 rules per account, deterministic from the seed)::

    {"id": 14023417,                                   # int
     "account": "urn:li:sponsoredAccount:500123456",
     "name": "Demo request - thank-you page",
     "type": "LEAD",                                   # LEAD, PURCHASE, ADD_TO_CART, SIGN_UP, KEY_PAGE_VIEW, INSTALL,
                                                       # DOWNLOAD, QUALIFIED_LEAD, SUBMIT_APPLICATION, OTHER
     "attributionType": "LAST_TOUCH_BY_CAMPAIGN",      # or LAST_TOUCH_BY_CONVERSION
     "postClickAttributionWindowSize": 30,             # 1, 7, 30, 90 (every account has a 30 and a 90)
     "viewThroughAttributionWindowSize": 7,            # 1, 7, 30
     "enabled": true,                                  # some rules are disabled
     "conversionMethod": "INSIGHT_TAG",                # INSIGHT_TAG, CONVERSIONS_API, OFFLINE
     "campaigns": ["urn:li:sponsoredCampaign:140023941", ...],
     "associatedCampaigns": [{"campaign": "urn:li:sponsoredCampaign:140023941",
                              "associatedAt": 1735689600000,
                              "conversion": "urn:lla:llaPartnerConversion:14023417"}, ...],
     "value": {"amount": "12.50", "currencyCode": "USD"},   # absent on some rules
     "created": 1735689600000, "lastModified": 1738281600000}   # epoch ms

``campaigns`` and ``associatedCampaigns`` name the same campaigns, in the same order.

**Per-rule facts** (what every ``CONVERSION`` row is summed from; :func:`conversion_facts`). For each creative-day
fact and each rule associated with the creative's campaign that counted on that day (from the day it was created;
a rule generated as disabled counted until the day it was disabled, so it still reports those past days), with
``p`` and ``c`` the rule's hidden count and post-click shares:

- ``externalWebsiteConversions`` = Binomial(the creative-day's ``externalWebsiteConversions``, p); ``p`` is often
  high, so one action counts under several rules and the rules of a campaign need not add up to its total;
- ``externalWebsitePostClickConversions`` = Binomial(that, c); ``...PostViewConversions`` = the rest;
- the three ``viral*`` variants the same way from the creative-day's ``viralExternalWebsiteConversions``;
- ``oneClickLeads`` = Binomial(creative-day ``oneClickLeads``, p) for ``LEAD`` rules, ``qualifiedLeads`` =
  Binomial(creative-day ``qualifiedLeads``, p) for ``QUALIFIED_LEAD`` rules; 0 (served as ``0``) for other types;
- ``conversionValueInLocalCurrency`` = conversions x the rule's ``value.amount`` (``"0.0"`` without a value).

Facts whose metrics are all 0 are dropped, so a ``CONVERSION`` row exists only where a rule counted something.
Editing a rule (:meth:`SimulatorState.edit_conversion`) changes its element, not its past facts.

Only :data:`CONVERSION_METRICS` are served on a ``CONVERSION`` pivot (any other metric field: 400 ``FIELD_INVALID``);
without ``fields`` the default is ``externalWebsiteConversions`` (+ ``dateRange``, ``pivotValues``).
Pivot value: ``urn:lla:llaPartnerConversion:{id}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from linkedin_assets.simulator.metrics import UNITS_PER_CURRENCY, group_sum, to_decimal

if TYPE_CHECKING:
    from linkedin_assets.simulator.analytics import AnalyticsQuery
    from linkedin_assets.simulator.data import AccountData, Dataset

__all__ = [
    "CONVERSION_METRICS",
    "CONVERSION_PIVOT",
    "CONVERSION_TYPES",
    "CONVERSION_URN_PREFIX",
    "AccountRules",
    "conversion_facts",
    "conversion_rows",
    "edit_rule",
    "generate_rules",
    "ground_truth_by_rule",
    "ground_truth_conversion_rules",
    "rule_facts",
]

CONVERSION_PIVOT = "CONVERSION"
CONVERSION_URN_PREFIX = "urn:lla:llaPartnerConversion:"
CONVERSION_TYPES: tuple[str, ...] = (
    "LEAD", "PURCHASE", "ADD_TO_CART", "SIGN_UP", "KEY_PAGE_VIEW", "INSTALL", "DOWNLOAD", "QUALIFIED_LEAD",
    "SUBMIT_APPLICATION", "OTHER",
)  # fmt: skip
_TYPE_WEIGHTS = (0.25, 0.1, 0.05, 0.12, 0.15, 0.03, 0.08, 0.12, 0.05, 0.05)
CONVERSION_METRICS: tuple[str, ...] = (
    "externalWebsiteConversions",
    "externalWebsitePostClickConversions",
    "externalWebsitePostViewConversions",
    "conversionValueInLocalCurrency",
    "viralExternalWebsiteConversions",
    "viralExternalWebsitePostClickConversions",
    "viralExternalWebsitePostViewConversions",
    "oneClickLeads",
    "qualifiedLeads",
)
"""The metrics LinkedIn reports on a ``CONVERSION`` pivot (money: ``conversionValueInLocalCurrency``)."""
EDITABLE_FIELDS = frozenset({"name", "enabled", "postClickAttributionWindowSize", "viewThroughAttributionWindowSize",
                             "attributionType", "conversionMethod", "value"})  # fmt: skip
_DAY_MS = 86_400_000
_NAMES = ("Demo request", "Contact form", "Newsletter sign-up", "Pricing page", "Trial start", "Checkout",
          "Whitepaper download", "App install", "Webinar registration", "Job application", "MQL", "Add to cart")  # fmt: skip
_PAGES = ("thank-you page", "form submit", "CAPI", "offline upload", "all pages", "v2")
_TABLE = "CONVERSION"  # key of the per-rule facts in AccountMetrics.tables


@dataclass
class AccountRules:
    """One account's rules: the API elements (mutable, see :func:`edit_rule`) and the hidden generation parameters
    of their facts (fixed), all indexed alike."""

    elements: list[dict[str, Any]]
    ids: np.ndarray  # int64 rule ids
    share: np.ndarray  # p: share of the creative-day's conversions the rule counts
    click_share: np.ndarray  # c: post-click share of what it counts
    value_units: np.ndarray  # int64, 1e-7 units of the rule's value (0 without one)
    lead: np.ndarray  # bool: counts oneClickLeads (LEAD)
    qualified: np.ndarray  # bool: counts qualifiedLeads (QUALIFIED_LEAD)
    first_day: np.ndarray  # history-day index of the first day it counted
    end_day: np.ndarray  # exclusive; a very large number for enabled rules
    campaigns: list[np.ndarray]  # int64 ids of the associated campaigns


# -- generation ---------------------------------------------------------------------------------------------------


def generate_rules(seed: int, account: AccountData, history_start_ms: int, days: int) -> AccountRules:
    """The account's 2-6 rules, a pure function of the seed and the account (its own random stream)."""
    rng = np.random.default_rng([seed, account.index, 5])
    currency = account.account["currency"]
    account_urn = f"urn:li:sponsoredAccount:{account.id}"
    created_account = account.account["changeAuditStamps"]["created"]["time"]
    n = int(rng.integers(2, 7))
    base = 14_000_000 + account.index * 100_000 + int(rng.integers(0, 10_000)) * 8
    campaign_ids = [c["id"] for c in account.campaigns]
    campaign_created = {c["id"]: c["changeAuditStamps"]["created"]["time"] for c in account.campaigns}
    elements, params = [], []
    for j in range(n):
        rule_id = base + j * 3
        ctype = str(rng.choice(CONVERSION_TYPES, p=_TYPE_WEIGHTS))
        created_day = int(rng.integers(-300, 0)) if j < 2 or rng.random() < 0.7 else int(rng.integers(0, max(1, days)))
        created = history_start_ms + created_day * _DAY_MS + int(rng.integers(0, _DAY_MS))
        created = max(created, created_account + _DAY_MS)
        disabled = (j == n - 1 and n >= 3) or (j >= 2 and rng.random() < 0.15)
        end_day = int(rng.integers(max(created_day, 0) + 1, max(created_day, 0) + 2 + days)) if disabled else 2**31
        end_day = min(end_day, days) if disabled else end_day
        modified = (
            history_start_ms + end_day * _DAY_MS + int(rng.integers(0, _DAY_MS // 2))
            if disabled
            else (
                created
                + int(rng.integers(0, max(1, (history_start_ms + days * _DAY_MS - created) // _DAY_MS))) * _DAY_MS
            )
        )
        chosen = [c for k, c in enumerate(campaign_ids) if j == 0 or k == 0 or rng.random() < 0.75]
        urn = f"{CONVERSION_URN_PREFIX}{rule_id}"
        element: dict[str, Any] = {
            "id": rule_id,
            "account": account_urn,
            "name": f"{_NAMES[int(rng.integers(0, len(_NAMES)))]} - {_PAGES[int(rng.integers(0, len(_PAGES)))]}",
            "type": ctype,
            "attributionType": "LAST_TOUCH_BY_CAMPAIGN" if rng.random() < 0.7 else "LAST_TOUCH_BY_CONVERSION",
            "postClickAttributionWindowSize": 30 if j == 0 else 90 if j == 1 else int(
                rng.choice([1, 7, 30, 90], p=[0.05, 0.1, 0.6, 0.25])),
            "viewThroughAttributionWindowSize": 7 if j < 2 else int(rng.choice([1, 7, 30], p=[0.15, 0.7, 0.15])),
            "enabled": not disabled,
            "conversionMethod": str(rng.choice(["INSIGHT_TAG", "CONVERSIONS_API", "OFFLINE"], p=[0.6, 0.3, 0.1])),
            "campaigns": [f"urn:li:sponsoredCampaign:{c}" for c in chosen],
            "associatedCampaigns": [
                {"campaign": f"urn:li:sponsoredCampaign:{c}", "associatedAt": max(created, campaign_created[c]),
                 "conversion": urn} for c in chosen
            ],
            "created": created,
            "lastModified": max(modified, created),
        }  # fmt: skip
        amount = round(float(rng.uniform(5, 400)), 2) if j == 0 or rng.random() < 0.75 else None
        if amount is not None:
            element["value"] = {"amount": f"{amount:.2f}", "currencyCode": currency}
        elements.append(element)
        params.append((rule_id, float(rng.uniform(0.3, 0.95)), float(rng.uniform(0.55, 0.9)),
                       round(amount * 100) * (UNITS_PER_CURRENCY // 100) if amount is not None else 0,
                       ctype == "LEAD", ctype == "QUALIFIED_LEAD", created_day, end_day, chosen))  # fmt: skip
    return _rules(elements, params)


def _rules(elements: list[dict[str, Any]], params: list[tuple]) -> AccountRules:
    columns = list(zip(*params, strict=True))
    return AccountRules(
        elements=elements,
        ids=np.asarray(columns[0], dtype=np.int64),
        share=np.asarray(columns[1]),
        click_share=np.asarray(columns[2]),
        value_units=np.asarray(columns[3], dtype=np.int64),
        lead=np.asarray(columns[4], dtype=bool),
        qualified=np.asarray(columns[5], dtype=bool),
        first_day=np.asarray(columns[6], dtype=np.int64),
        end_day=np.asarray(columns[7], dtype=np.int64),
        campaigns=[np.asarray(c, dtype=np.int64) for c in columns[8]],
    )


def edit_rule(rules: list[AccountRules], conversion_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change a rule's element as an advertiser would in Campaign Manager; ``lastModified`` moves one hour on.
    Raises ``KeyError`` for an unknown rule, ``ValueError`` for a field that cannot be edited."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    element = next((e for r in rules for e in r.elements if e["id"] == int(conversion_id)), None)
    if element is None:
        raise KeyError(f"no conversion rule {conversion_id}")
    element.update(changes)
    if element.get("value") is None:
        element.pop("value", None)
    element["lastModified"] = element["lastModified"] + 3_600_000
    return element


# -- per-rule facts -----------------------------------------------------------------------------------------------


def _build_facts(rows: dict[str, np.ndarray], rules: AccountRules, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The per-rule facts of one account, sorted by (day, creative, rule); see the module docstring."""
    counted = ("externalWebsiteConversions", "viralExternalWebsiteConversions", "oneClickLeads", "qualifiedLeads")
    active = rows["creative_id"] != 0
    active &= np.logical_or.reduce([rows[m] > 0 for m in counted])
    index = np.flatnonzero(active)
    pair_row, pair_rule = [], []
    for r in range(len(rules.ids)):
        day = rows["day"][index]
        ok = np.isin(rows["campaign_id"][index], rules.campaigns[r])
        ok &= (day >= rules.first_day[r]) & (day < rules.end_day[r])
        pair_row.append(index[ok])
        pair_rule.append(np.full(int(ok.sum()), r, dtype=np.int64))
    row, rule = np.concatenate(pair_row), np.concatenate(pair_rule)
    order = np.lexsort((rule, row))  # rows are sorted by (day, creative): early days draw first
    row, rule = row[order], rule[order]
    p, c = rules.share[rule], rules.click_share[rule]

    def draw(metric: str, share: np.ndarray) -> np.ndarray:
        return rng.binomial(rows[metric][row].astype(np.int64), share).astype(np.int64)

    f: dict[str, np.ndarray] = {"externalWebsiteConversions": draw("externalWebsiteConversions", p)}
    f["externalWebsitePostClickConversions"] = rng.binomial(f["externalWebsiteConversions"], c).astype(np.int64)
    f["externalWebsitePostViewConversions"] = f["externalWebsiteConversions"] - f["externalWebsitePostClickConversions"]
    f["viralExternalWebsiteConversions"] = draw("viralExternalWebsiteConversions", p)
    viral_click = rng.binomial(f["viralExternalWebsiteConversions"], c).astype(np.int64)
    f["viralExternalWebsitePostClickConversions"] = viral_click
    f["viralExternalWebsitePostViewConversions"] = f["viralExternalWebsiteConversions"] - viral_click
    f["oneClickLeads"] = draw("oneClickLeads", p * rules.lead[rule])
    f["qualifiedLeads"] = draw("qualifiedLeads", p * rules.qualified[rule])
    f["conversionValueInLocalCurrency"] = f["externalWebsiteConversions"] * rules.value_units[rule]
    keep = np.logical_or.reduce([f[m] != 0 for m in CONVERSION_METRICS])
    out = {name: rows[name][row[keep]] for name in ("day", "account_id", "group_id", "campaign_id", "creative_id",
                                                      "ctype")}  # fmt: skip
    out["conversion_id"] = rules.ids[rule[keep]]
    for metric in CONVERSION_METRICS:
        column = f[metric][keep]
        out[metric] = column if metric == "conversionValueInLocalCurrency" else column.astype(np.int32)
    return out


def rule_facts(dataset: Dataset, account: AccountData) -> dict[str, np.ndarray]:
    """One account's per-rule facts at the current generation, columnar and sorted by day (built once, cached
    beside the account's other tables). Columns: ``day``, ``account_id``, ``group_id``, ``campaign_id``,
    ``creative_id``, ``ctype``, ``conversion_id`` and :data:`CONVERSION_METRICS` (money in 1e-7 units)."""
    metrics = dataset.account_metrics(account)
    with metrics.lock:
        table = metrics.tables.get(_TABLE)
        if table is None:
            rng = np.random.default_rng([dataset.seed, account.index, 7])
            table = metrics.tables[_TABLE] = _build_facts(metrics.rows, dataset.conversion_rules[account.id], rng)
        return table


# -- the endpoint's aggregation -----------------------------------------------------------------------------------


def conversion_rows(dataset: Dataset, query: AnalyticsQuery) -> dict[str, np.ndarray]:
    """Aggregated rows of a query with a ``CONVERSION`` pivot: one per (pivot values, bucket) with a fact."""
    from linkedin_assets.simulator.analytics import ID_COLUMN, _buckets, _chosen_creatives, _concat, selected_rows

    first = (query.start - dataset.history_start).days
    last = (query.end - dataset.history_start).days
    ids = tuple(dict.fromkeys(ID_COLUMN[p] for p in query.pivots))
    names = (*ids, "b_start", "b_end", *CONVERSION_METRICS)
    if last < 0 or first >= dataset.days:
        return _concat([], names)
    parts = []
    for account in dataset.account_data:
        chosen = _chosen_creatives(account, query)
        if chosen is not None and not chosen.any():
            continue
        part = selected_rows(dataset, rule_facts(dataset, account), query, creative_facts=False)
        if part is None:
            continue
        part["b_start"], part["b_end"] = _buckets(dataset, part["day"], query)
        parts.append(group_sum(part, ("b_start", "b_end", *ids), CONVERSION_METRICS))
    return _concat(parts, names)


# -- ground truth ---------------------------------------------------------------------------------------------------


def _utc(ms: int) -> pd.Timestamp:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC")


def ground_truth_conversion_rules(dataset: Dataset) -> pd.DataFrame:
    """Every rule the finder serves, one row each (current state, edits included): ``id``, ``account_id``,
    ``name``, ``type``, ``attribution_type``, ``post_click_attribution_window_size``,
    ``view_through_attribution_window_size``, ``enabled``, ``conversion_method``, ``campaign_ids`` (list of int),
    ``value_amount`` (``Decimal`` or ``None``), ``value_currency_code``, ``created``, ``last_modified`` (UTC
    timestamps). Sorted by ``id``."""
    rows = []
    for account in dataset.account_data:
        for e in dataset.conversion_rules[account.id].elements:
            value = e.get("value") or {}
            rows.append({
                "id": int(e["id"]), "account_id": int(e["account"].rsplit(":", 1)[1]), "name": e["name"],
                "type": e["type"], "attribution_type": e["attributionType"],
                "post_click_attribution_window_size": int(e["postClickAttributionWindowSize"]),
                "view_through_attribution_window_size": int(e["viewThroughAttributionWindowSize"]),
                "enabled": bool(e["enabled"]), "conversion_method": e["conversionMethod"],
                "campaign_ids": [int(c.rsplit(":", 1)[1]) for c in e["campaigns"]],
                "value_amount": Decimal(value["amount"]) if value else None,
                "value_currency_code": value.get("currencyCode"),
                "created": _utc(e["created"]), "last_modified": _utc(e["lastModified"]),
            })  # fmt: skip
    return pd.DataFrame(rows).sort_values("id", ignore_index=True)


def conversion_facts(dataset: Dataset) -> pd.DataFrame:
    """The raw per-rule facts of every account: ``account_id``, ``campaign_group_id``, ``campaign_id``,
    ``creative_id``, ``conversion_id`` (ints), ``date`` and :data:`CONVERSION_METRICS` (counts ``int64``, the value
    as ``Decimal``). One row per (creative, rule, day) where the rule counted something."""
    frames = []
    for account in dataset.account_data:
        f = rule_facts(dataset, account)
        frame = pd.DataFrame({
            "account_id": f["account_id"].astype(np.int64), "campaign_group_id": f["group_id"].astype(np.int64),
            "campaign_id": f["campaign_id"].astype(np.int64), "creative_id": f["creative_id"].astype(np.int64),
            "conversion_id": f["conversion_id"].astype(np.int64), "date": dataset.dates_of(f["day"]),
        })  # fmt: skip
        for metric in CONVERSION_METRICS:
            frame[metric] = f[metric].astype(np.int64)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name)


def ground_truth_by_rule(dataset: Dataset, pivot: str) -> pd.DataFrame:
    """A DAILY ``pivots=List(<pivot>,CONVERSION)`` report over the whole history, from the raw per-rule facts
    (pandas sums, not the endpoint's code). ``pivot``: ``"CAMPAIGN"`` or ``"CREATIVE"``.

    Columns: ``campaign_id`` or ``creative_id``, ``conversion_id``, ``date`` (``datetime.date``), ``account_id``,
    then the snake_case :data:`CONVERSION_METRICS` (``int64``; ``conversion_value_in_local_currency`` as an exact
    ``Decimal``). One row per (entity, rule, day) with activity, sorted by those keys.
    """
    if pivot not in ("CAMPAIGN", "CREATIVE"):
        raise ValueError("pivot is 'CAMPAIGN' or 'CREATIVE'")
    entity = "campaign_id" if pivot == "CAMPAIGN" else "creative_id"
    facts = conversion_facts(dataset)
    keys = [entity, "conversion_id", "date"]
    grouped = facts.groupby(keys, sort=True).agg({"account_id": "first", **dict.fromkeys(CONVERSION_METRICS, "sum")})
    out = grouped.reset_index()
    out = out[[*keys, "account_id", *CONVERSION_METRICS]]
    value = out["conversionValueInLocalCurrency"].tolist()
    out = out.rename(columns={m: _snake(m) for m in CONVERSION_METRICS})
    out["conversion_value_in_local_currency"] = [to_decimal(int(v)) for v in value]
    return out.reset_index(drop=True)
