"""The Starlette application: LinkedIn's transport rules, OAuth endpoints and the read-only ``/rest`` routes."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from linkedin_assets.linkedin.catalogue import KNOWN_METRICS
from linkedin_assets.linkedin.fields import (
    ENTITY_PIVOTS,
    GRANULARITIES,
    KEY_FIELDS,
    MAX_FIELDS_PER_REQUEST,
    MEMBER_PIVOTS,
)
from linkedin_assets.linkedin.restli import RestliDecodeError, decode_query
from linkedin_assets.simulator.analytics import AnalyticsQuery, QueryResult, run_query
from linkedin_assets.simulator.catalog import UNIVERSES, resolve
from linkedin_assets.simulator.config import RUNTIME_KNOBS
from linkedin_assets.simulator.conversions import CONVERSION_METRICS, CONVERSION_PIVOT
from linkedin_assets.simulator.data import AccountData
from linkedin_assets.simulator.devices import DEVICE_PIVOT, NOT_ON_DEVICE_PIVOT
from linkedin_assets.simulator.state import RequestRecord, SimulatorState, TokenProblem

__all__ = ["ApiError", "SimulatorState", "create_app"]

MAX_QUERY_BYTES = 4096
MAX_URL_BYTES = 8192
_ANY_STATUS = ("ACTIVE", "PAUSED", "ARCHIVED", "COMPLETED", "CANCELED", "DRAFT", "PENDING_DELETION", "REMOVED")
_TOKEN_BODIES = {
    "EMPTY_ACCESS_TOKEN": (401, "Empty oauth2_access_token"),
    "INVALID_ACCESS_TOKEN": (65600, "Invalid access token"),
    "EXPIRED_ACCESS_TOKEN": (65602, "The token used in the request has expired"),
    "REVOKED_ACCESS_TOKEN": (65601, "The token used in the request has been revoked by the user"),
}
THROTTLE_MESSAGE = "Resource level throttle limit for calls to this resource is reached."
DATA_LIMIT_MESSAGE = (
    "The data request limit has been exceeded. More than 45 million metric values were requested in a 5-minute window."
)
INVALID_QUERY = "Invalid query parameters passed to request"
_STATISTICS_PIVOTS: tuple[str, ...] = (*ENTITY_PIVOTS, CONVERSION_PIVOT, DEVICE_PIVOT)
_ANALYTICS_PIVOTS: tuple[str, ...] = (*_STATISTICS_PIVOTS, *MEMBER_PIVOTS)


class ApiError(Exception):
    """An error answer in LinkedIn's Rest.li envelope."""

    def __init__(self, status: int, message: str, code: str | None = None, service_code: int | None = 100) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.service_code = status, message, code, service_code

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status}
        if self.service_code is not None:
            body["serviceErrorCode"] = self.service_code
        if self.code:
            body["code"] = self.code
        body["message"] = self.message
        return body


def _bad(message: str = INVALID_QUERY, code: str = "INVALID_QUERY_PARAMETERS") -> ApiError:
    return ApiError(400, message, code)


# -- parameter helpers --------------------------------------------------------------------------------------------


class Params:
    """Decoded query parameters; every accessor raises a 400 on a missing parameter or a wrong type."""

    def __init__(self, values: dict[str, Any], allowed: set[str]) -> None:
        unknown = set(values) - allowed
        if unknown:
            raise _bad(f"{INVALID_QUERY}: unknown parameter(s) {', '.join(sorted(unknown))}")
        self.values = values

    def has(self, name: str) -> bool:
        return name in self.values

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name, default)
        if value is not None and not isinstance(value, str):
            raise _bad(f"{INVALID_QUERY}: {name} must be a single value")
        return value

    def enum(self, name: str, allowed: tuple[str, ...], required: bool = True) -> str | None:
        """A bare enum or the union form ``(value:X)``."""
        value = self.values.get(name)
        if value is None:
            if required:
                raise _bad(f"{INVALID_QUERY}: {name} is required")
            return None
        return _enum_value(value, allowed, name)

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None:
            return default
        if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
            raise _bad(f"{INVALID_QUERY}: {name} must be an integer")
        return int(value)

    def items(self, name: str) -> list[Any] | None:
        value = self.values.get(name)
        if value is not None and not isinstance(value, list):
            raise _bad(f"{INVALID_QUERY}: {name} must be a List(...)")
        return value

    def record(self, name: str) -> dict[str, Any] | None:
        value = self.values.get(name)
        if value is not None and not isinstance(value, dict):
            raise _bad(f"{INVALID_QUERY}: {name} must be a (key:value) record")
        return value


def _enum_value(value: Any, allowed: tuple[str, ...], name: str) -> str:
    if isinstance(value, dict) and set(value) == {"value"}:
        value = value["value"]
    if not isinstance(value, str) or value not in allowed:
        raise _bad(f"{INVALID_QUERY}: {name} has an invalid value")
    return value


def _urn_id(value: Any, kind: str) -> int:
    match = re.fullmatch(rf"urn:li:{kind}:(\d+)", value) if isinstance(value, str) else None
    if not match:
        raise _bad(f"{INVALID_QUERY}: expected urn:li:{kind}:<id>, got {value!r}")
    return int(match.group(1))


def _urn_ids(values: list[Any] | None, kind: str) -> set[int] | None:
    return None if values is None else {_urn_id(v, kind) for v in values}


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"{INVALID_QUERY}: {name} must be a List of values")
    return value


def _boolean(value: Any, name: str) -> bool:
    if value not in ("true", "false"):
        raise _bad(f"{INVALID_QUERY}: {name} must be true or false")
    return value == "true"


# -- paging -------------------------------------------------------------------------------------------------------


def _fingerprint(path: str, params: Params) -> str:
    stable = {k: v for k, v in params.values.items() if k != "pageToken"}
    return hashlib.sha256(f"{path}|{json.dumps(stable, sort_keys=True)}".encode()).hexdigest()[:12]


def _cursor_page(path: str, params: Params, items: list[Any], max_size: int) -> dict[str, Any]:
    """Cursor paging: ``pageSize``/``pageToken`` in, ``metadata.nextPageToken`` out (absent on the last page)."""
    size = params.integer("pageSize", 100)
    if size is None or not 1 <= size <= max_size:
        raise _bad(f"{INVALID_QUERY}: pageSize must be between 1 and {max_size}")
    offset, fingerprint = 0, _fingerprint(path, params)
    token = params.text("pageToken")
    if token:
        try:
            offset_text, _, seen = base64.urlsafe_b64decode(token.encode() + b"==").decode().partition(":")
            offset = int(offset_text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _bad(f"{INVALID_QUERY}: invalid pageToken") from exc
        if seen != fingerprint or offset < 0:
            raise _bad(f"{INVALID_QUERY}: pageToken does not belong to this query")
    page = items[offset : offset + size]
    body: dict[str, Any] = {"elements": page, "paging": {"start": offset, "count": size, "links": []}, "metadata": {}}
    if offset + size < len(items):
        body["metadata"]["nextPageToken"] = base64.urlsafe_b64encode(f"{offset + size}:{fingerprint}".encode()).decode()
    return body


def _offset_page(path: str, params: Params, items: list[Any], total: bool = True) -> dict[str, Any]:
    """Offset paging: ``start``/``count`` in, ``paging {start, count, total, links}`` out."""
    start = params.integer("start", 0) or 0
    count = params.integer("count")
    if count is not None and count > 1000:
        raise _bad("Specified count is larger than 1000")
    if start < 0 or (count is not None and count < 0):
        raise _bad(f"{INVALID_QUERY}: start and count must not be negative")
    if count is None and not params.has("start") and len(items) > 100:
        raise _bad("Request would return too many entities. ")
    size = count if count is not None else len(items)
    page = items[start : start + size]
    paging: dict[str, Any] = {"start": start, "count": size, "links": []}
    if total:
        paging["total"] = len(items)
    if start + size < len(items) and size:
        paging["links"].append(
            {"rel": "next", "type": "application/json", "href": f"{path}?start={start + size}&count={size}"}
        )
    return {"elements": page, "paging": paging}


def _sorted(items: list[dict[str, Any]], params: Params, key: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
    order = params.enum("sortOrder", ("ASCENDING", "DESCENDING"), required=False) or "ASCENDING"
    return sorted(items, key=key, reverse=order == "DESCENDING")


# -- entity routes ------------------------------------------------------------------------------------------------


class Api:
    """Route handlers; each returns a JSON-able body or raises :class:`ApiError`."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state
        self.version = "20250101"

    @property
    def data(self):
        return self.state.dataset

    def _denied(self, resource: str) -> ApiError:
        return ApiError(403, f"Not enough permissions to access: {resource}.{self.version}", "ACCESS_DENIED")

    def _account(self, account_id: int, resource: str) -> AccountData:
        account = self.data.account(account_id)
        if account is None:
            if account_id == self.data.forbidden.id:
                raise self._denied(resource)
            raise ApiError(404, f"Ad account {account_id} not found", "NOT_FOUND")
        if account_id in self.state.refused and not resource.startswith(("adAccounts.", "adAccountUsers.")):
            raise self._denied(resource)
        return account

    def _refused_facets(self, facets: dict[str, frozenset[int]]) -> dict[str, frozenset[int]]:
        """adAnalytics for refused accounts (``SimulatorState.refuse_account``): a 403 when the account (or one of its
        campaigns) is asked for and it answers 403, else no rows for it."""
        refused = dict(self.state.refused)
        if not refused:
            return facets
        accounts = {a.id: a for a in self.data.account_data if a.id in refused}
        campaigns = {int(c["id"]): a for a in accounts.values() for c in a.campaigns}
        asked = set(facets.get("accounts", ())) & set(accounts)
        asked |= {campaigns[c].id for c in facets.get("campaigns", ()) if c in campaigns}
        if any(refused[a] == "403" for a in asked):
            raise self._denied("adAnalytics.FINDER-analytics")
        narrowed = dict(facets)
        if "accounts" in narrowed:
            narrowed["accounts"] = narrowed["accounts"] - set(accounts)
        if "campaigns" in narrowed:
            narrowed["campaigns"] = narrowed["campaigns"] - set(campaigns)
        return narrowed

    def account_users(self, path: str, params: Params) -> dict[str, Any]:
        finder = params.text("q")
        roles = ("ACCOUNT_MANAGER", "CAMPAIGN_MANAGER", "VIEWER", "CREATIVE_MANAGER")
        rows = [
            {
                "account": f"urn:li:sponsoredAccount:{a.id}",
                "user": self.data.member,
                "role": roles[a.index % len(roles)],
                "changeAuditStamps": {
                    "created": {"time": a.account["changeAuditStamps"]["created"]["time"]},
                    "lastModified": {"time": a.account["changeAuditStamps"]["lastModified"]["time"]},
                },
                "version": {"versionTag": "1"},
            }
            for a in self.data.account_data
        ]
        if finder == "authenticatedUser":
            return _offset_page(path, params, rows)
        if finder == "accounts":
            value = params.values.get("accounts")
            first = value[0] if isinstance(value, list) and value else value
            account_id = _urn_id(first, "sponsoredAccount")
            self._account(account_id, "adAccountUsers.FINDER-accounts")
            return _offset_page(path, params, [r for r in rows if r["account"].endswith(f":{account_id}")])
        raise _bad(f"{INVALID_QUERY}: unknown finder q={finder}")

    def accounts(self, path: str, params: Params) -> dict[str, Any]:
        if params.has("ids"):
            return self._batch(params, lambda i: self._account(int(i), "adAccounts.BATCH_GET").account)
        if params.text("q") != "search":
            raise _bad(f"{INVALID_QUERY}: q=search or ids= is required")
        search = _Search(params.record("search") or {}, ("id", "name", "reference", "status", "type", "test"))
        items = [a.account for a in self.data.account_data]
        items = search.apply(items, id_kind="sponsoredAccount")
        return _cursor_page(path, params, _sorted(items, params, lambda e: e["id"]), 1000)

    def account(self, account_id: str) -> dict[str, Any]:
        return self._account(int(account_id), "adAccounts.GET").account

    def _batch(self, params: Params, get: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        ids = _strings(params.items("ids"), "ids")
        results, errors = {}, {}
        for key in ids:
            try:
                results[key] = get(key)
            except ApiError as error:
                errors[key] = error.body()
            except ValueError:
                errors[key] = ApiError(400, f"Invalid key {key}", "INVALID_VALUE_FOR_FIELD").body()
        return {"results": results, "statuses": {k: e["status"] for k, e in errors.items()}, "errors": errors}

    def groups(self, path: str, params: Params, account_id: str) -> dict[str, Any]:
        account = self._account(int(account_id), "adCampaignGroups.FINDER-search")
        by_id = {g["id"]: g for g in account.campaign_groups}
        if params.has("ids"):
            return self._batch(params, lambda i: _found(by_id.get(int(i)), "Campaign group", i))
        if params.text("q") != "search":
            raise _bad(f"{INVALID_QUERY}: q=search or ids= is required")
        search = _Search(params.record("search") or {}, ("id", "name", "status", "test"))
        items = search.apply(list(by_id.values()), id_kind="sponsoredCampaignGroup")
        return _cursor_page(path, params, _sorted(items, params, lambda e: e["id"]), 1000)

    def group(self, account_id: str, group_id: str) -> dict[str, Any]:
        account = self._account(int(account_id), "adCampaignGroups.GET")
        return _found({g["id"]: g for g in account.campaign_groups}.get(int(group_id)), "Campaign group", group_id)

    def _campaigns(self, account: AccountData) -> dict[int, dict[str, Any]]:
        return {c["id"]: c for c in account.campaigns if c["id"] not in self.data.removed_campaigns}

    def campaigns(self, path: str, params: Params, account_id: str) -> dict[str, Any]:
        account = self._account(int(account_id), "adCampaigns.FINDER-search")
        by_id = self._campaigns(account)
        if params.has("ids"):
            return self._batch(params, lambda i: _found(by_id.get(int(i)), "Campaign", i))
        if params.text("q") != "search":
            raise _bad(f"{INVALID_QUERY}: q=search or ids= is required")
        search = _Search(params.record("search") or {}, ("id", "campaignGroup", "name", "type", "status", "test"))
        items = search.apply(list(by_id.values()), id_kind="sponsoredCampaign")
        if not params.has("pageSize") and not params.has("pageToken") and len(items) > 1000:
            raise ApiError(400, "Request would return too many entities. ", service_code=None)
        return _cursor_page(path, params, _sorted(items, params, lambda e: e["id"]), 1000)

    def campaign(self, account_id: str, campaign_id: str) -> dict[str, Any]:
        account = self._account(int(account_id), "adCampaigns.GET")
        return _found(self._campaigns(account).get(int(campaign_id)), "Campaign", campaign_id)

    def creatives(self, path: str, params: Params, account_id: str) -> dict[str, Any]:
        account = self._account(int(account_id), "creatives.FINDER-criteria")
        if params.text("q") != "criteria":
            raise _bad(f"{INVALID_QUERY}: q=criteria is required")
        items = [c for c in account.creatives if c["id"] not in self.data.removed_creatives]
        campaigns = params.items("campaigns")
        if campaigns is not None:
            wanted = {f"urn:li:sponsoredCampaign:{i}" for i in _urn_ids(campaigns, "sponsoredCampaign") or ()}
            items = [c for c in items if c["campaign"] in wanted]
        creatives = params.items("creatives")
        if creatives is not None:
            wanted = {f"urn:li:sponsoredCreative:{i}" for i in _urn_ids(creatives, "sponsoredCreative") or ()}
            items = [c for c in items if c["id"] in wanted]
        references = params.items("contentReferences")
        if references is not None:
            refs = set(_strings(references, "contentReferences"))
            items = [c for c in items if c.get("content", {}).get("reference") in refs]
        statuses = params.items("intendedStatuses")
        if statuses is not None:
            allowed = {_enum_value(s, (*_ANY_STATUS, "CANCELLED"), "intendedStatuses") for s in statuses}
            items = [
                c for c in items if c["intendedStatus"] in allowed | ({"CANCELED"} if "CANCELLED" in allowed else set())
            ]
        elif campaigns is not None:
            items = [c for c in items if c["intendedStatus"] != "CANCELED"]  # hidden from per-campaign listings
        for flag in ("isTestAccount", "isTotalIncluded"):
            if params.has(flag):
                _boolean(params.values[flag], flag)
        body = _cursor_page(path, params, _sorted(items, params, lambda e: int(e["id"].rsplit(":", 1)[1])), 100)
        if params.has("isTotalIncluded") and params.values["isTotalIncluded"] == "true":
            body["paging"]["total"] = len(items)
        return body

    def creative(self, account_id: str, urn: str) -> dict[str, Any]:
        account = self._account(int(account_id), "creatives.GET")
        listed = {c["id"]: c for c in account.creatives if c["id"] not in self.data.removed_creatives}
        return _found(listed.get(urn), "Creative", urn)

    def posts(self, params: Params) -> dict[str, Any]:
        ids = _strings(params.items("ids"), "ids")
        for urn in ids:
            self._check_post_urn(urn)
        return self._batch(params, self.post)

    def _check_post_urn(self, urn: str) -> None:
        if not re.fullmatch(r"urn:li:(share|ugcPost):\d+", urn):
            raise ApiError(400, f"Invalid URN type for the posts resource: {urn}", "INVALID_URN_TYPE")

    def post(self, urn: str) -> dict[str, Any]:
        self._check_post_urn(urn)
        posts = self.data.posts
        if posts.get(urn) is None:
            raise ApiError(404, f"Post {urn} not found" + (" (deleted)" if urn in posts else ""), "NOT_FOUND")
        return posts[urn]

    def targeting_entities(self, path: str, params: Params) -> dict[str, Any]:
        finder = params.text("q")
        if params.has("locale"):
            params.record("locale")
        if finder == "urns":
            if params.text("queryVersion", "QUERY_USES_URNS") != "QUERY_USES_URNS":
                raise _bad(f"{INVALID_QUERY}: queryVersion must be QUERY_USES_URNS")
            urns = _strings(params.items("urns"), "urns")
            items = [hit for urn in dict.fromkeys(urns) if (hit := resolve(urn)) is not None]
        elif finder == "adTargetingFacet":
            facet = params.text("facet")
            small = {f.facet_urn for f in UNIVERSES.values() if len(f.values) <= 50 and f.pivot != "MEMBER_COUNTRY_V2"}
            if facet not in small:
                raise _bad(f"{INVALID_QUERY}: facet {facet} supports typeahead only")
            items = [
                hit
                for f in UNIVERSES.values()
                if f.facet_urn == facet
                for v in f.values
                if (hit := resolve(v)) is not None
            ]
        else:
            raise _bad(f"{INVALID_QUERY}: unknown finder q={finder}")
        body = _offset_page(path, params, items, total=False)
        body["paging"]["count"] = params.integer("count", 2_147_483_647)
        return body

    # -- adAnalytics ----------------------------------------------------------------------------------------------
    def _pivots(self, params: Params) -> tuple[str, ...]:
        """The request's pivots: one for ``q=analytics``, 1-3 distinct ones (no ``MEMBER_*``) for ``q=statistics``;
        ``CONVERSION`` may be one of them."""
        finder = params.text("q")
        if finder == "analytics":
            if params.has("pivots"):
                raise _bad(f"{INVALID_QUERY}: q=analytics takes exactly one pivot")
            return (params.enum("pivot", _ANALYTICS_PIVOTS),)
        if finder != "statistics":
            raise _bad(f"{INVALID_QUERY}: q must be analytics or statistics")
        if params.has("pivot"):
            raise _bad(f"{INVALID_QUERY}: q=statistics takes pivots=List(...)")
        raw = params.items("pivots")
        if not raw or len(raw) > 3:
            raise _bad(f"{INVALID_QUERY}: pivots must hold 1 to 3 pivots")
        if any(_enum_value(p, _ANALYTICS_PIVOTS, "pivots") in MEMBER_PIVOTS for p in raw):
            raise ApiError(
                400,
                "Invalid value for field pivots: MEMBER_* pivots are not supported by statistics",
                "FIELD_INVALID",
            )
        pivots = tuple(_enum_value(p, _STATISTICS_PIVOTS, "pivots") for p in raw)
        if len(set(pivots)) != len(pivots):
            raise _bad(f"{INVALID_QUERY}: a pivot is repeated")
        if {CONVERSION_PIVOT, DEVICE_PIVOT} <= set(pivots):
            raise ApiError(
                400, "Invalid value for field pivots: CONVERSION with IMPRESSION_DEVICE_TYPE", "FIELD_INVALID"
            )
        return pivots

    def analytics(self, params: Params) -> dict[str, Any]:
        pivots = self._pivots(params)
        granularity = params.enum("timeGranularity", GRANULARITIES)
        start, end = self._date_range(params.record("dateRange"))
        facets: dict[str, frozenset[int]] = {}
        kinds = {"accounts": "sponsoredAccount", "campaignGroups": "sponsoredCampaignGroup",
                 "campaigns": "sponsoredCampaign", "creatives": "sponsoredCreative"}  # fmt: skip
        for name, kind in kinds.items():
            ids = _urn_ids(params.items(name), kind)
            if ids is not None:
                facets[name] = frozenset(ids - {self.data.forbidden.id} if name == "accounts" else ids)
        if not facets:
            raise _bad(f"{INVALID_QUERY}: at least one of accounts, campaignGroups, campaigns, creatives is required")
        facets = self._refused_facets(facets)
        campaign_type = params.enum(
            "campaignType", ("TEXT_AD", "SPONSORED_UPDATES", "SPONSORED_INMAILS", "DYNAMIC"), False
        )
        if params.has("sortBy"):
            params.record("sortBy")
        fields = self._fields(params.values.get("fields"), pivots)
        forbidden = set(self.data.forbidden.creative_campaign_ids.tolist()) | {self.data.forbidden.id}
        if facets.get("campaigns") and facets["campaigns"] <= forbidden:
            facets["campaigns"] = frozenset()
        query = AnalyticsQuery(pivots, granularity, start, end, facets, fields, campaign_type)
        result = run_query(self.data, query, self.state.config.max_elements)
        if not self.state.spend_metric_values(len(fields) * result.elements):
            raise ApiError(429, DATA_LIMIT_MESSAGE, "TOO_MANY_REQUESTS", service_code=None)
        return result

    def _date_range(self, value: dict[str, Any] | None) -> tuple[dt.date, dt.date]:
        if not value or "start" not in value or set(value) - {"start", "end"}:
            raise _bad(f"{INVALID_QUERY}: dateRange=(start:(year:Y,month:M,day:D)) is required")
        start = _date(value["start"])
        end = _date(value["end"]) if "end" in value else self.data.today
        if end < start:
            raise _bad(f"{INVALID_QUERY}: dateRange end is before its start")
        return start, end

    def _fields(self, value: Any, pivots: tuple[str, ...]) -> tuple[str, ...]:
        conversion = CONVERSION_PIVOT in pivots
        if value is None:
            return ("externalWebsiteConversions", *KEY_FIELDS) if conversion else ("impressions", "clicks", *KEY_FIELDS)
        names = [f for f in value.split(",") if f]
        if not names or len(names) > MAX_FIELDS_PER_REQUEST:
            raise _bad(f"{INVALID_QUERY}: fields must hold 1 to {MAX_FIELDS_PER_REQUEST} entries")
        unknown = [f for f in names if f not in KNOWN_METRICS and f not in KEY_FIELDS]
        if unknown:
            raise ApiError(400, f"Invalid field(s) requested: {', '.join(unknown)}", "FIELD_INVALID")
        if conversion and (invalid := [f for f in names if f not in CONVERSION_METRICS and f not in KEY_FIELDS]):
            raise ApiError(400, f"Invalid field(s) for the CONVERSION pivot: {', '.join(invalid)}", "FIELD_INVALID")
        if DEVICE_PIVOT in pivots and (invalid := [f for f in names if f in NOT_ON_DEVICE_PIVOT]):
            raise ApiError(
                400, f"Invalid field(s) for the IMPRESSION_DEVICE_TYPE pivot: {', '.join(invalid)}", "FIELD_INVALID"
            )
        return tuple(dict.fromkeys(names))

    # -- conversion rules -----------------------------------------------------------------------------------------
    def conversions(self, path: str, params: Params) -> dict[str, Any]:
        """``q=account&account=urn:li:sponsoredAccount:N``: the account's conversion rules, offset-paged."""
        if params.text("q") != "account":
            raise _bad(f"{INVALID_QUERY}: q=account is required")
        value = params.values.get("account")
        value = value[0] if isinstance(value, list) and len(value) == 1 else value
        if value is None:
            raise _bad(f"{INVALID_QUERY}: account is required")
        account = self._account(_urn_id(value, "sponsoredAccount"), "conversions.FINDER-account")
        rules = sorted(self.data.conversion_rules[account.id].elements, key=lambda e: e["id"])
        return _offset_page(path, params, rules)


def _date(value: Any) -> dt.date:
    if not isinstance(value, dict) or set(value) != {"year", "month", "day"}:
        raise _bad(f"{INVALID_QUERY}: a date is (year:Y,month:M,day:D)")
    try:
        return dt.date(int(value["year"]), int(value["month"]), int(value["day"]))
    except (TypeError, ValueError) as exc:
        raise _bad(f"{INVALID_QUERY}: invalid date") from exc


def _found(entity: dict[str, Any] | None, what: str, key: str) -> dict[str, Any]:
    if entity is None:
        raise ApiError(404, f"{what} {key} not found", "NOT_FOUND")
    return entity


class _Search:
    """A ``search=(field:(values:List(...)),test:false)`` criterion; fields AND, values OR."""

    def __init__(self, search: dict[str, Any], allowed: tuple[str, ...]) -> None:
        unknown = set(search) - set(allowed)
        if unknown:
            raise _bad(f"{INVALID_QUERY}: unknown search field(s) {', '.join(sorted(unknown))}")
        self.test = _boolean(search["test"], "search.test") if "test" in search else None
        self.values: dict[str, set[str]] = {}
        for name, criterion in search.items():
            if name == "test":
                continue
            if not isinstance(criterion, dict) or set(criterion) != {"values"}:
                raise _bad(f"{INVALID_QUERY}: search.{name} must be (values:List(...))")
            values = set(_strings(criterion["values"], f"search.{name}"))
            if name == "status":
                values = {"CANCELED" if v == "CANCELLED" else v for v in values}
            self.values[name] = values

    def apply(self, items: list[dict[str, Any]], id_kind: str) -> list[dict[str, Any]]:
        out = []
        for item in items:
            if self.test is not None and item.get("test") != self.test:
                continue
            ok = True
            for name, values in self.values.items():
                if name == "id":
                    ids = {v.rsplit(":", 1)[-1] for v in values}
                    ok = str(item["id"]) in ids
                else:
                    ok = item.get(name) in values
                if not ok:
                    break
            if ok:
                out.append(item)
        return out


# -- transport ----------------------------------------------------------------------------------------------------

_ROUTES: list[tuple[re.Pattern[str], str, str, set[str]]] = [
    (re.compile(r"/rest/adAccountUsers"), "adAccountUsers", "account_users", {"q", "accounts", "start", "count"}),
    (re.compile(r"/rest/adAccounts"), "adAccounts", "accounts", {"q", "search", "ids", "pageSize", "pageToken", "sortOrder"}),
    (re.compile(r"/rest/adAccounts/(\d+)"), "adAccounts", "account", set()),
    (re.compile(r"/rest/adAccounts/(\d+)/adCampaignGroups"), "adCampaignGroups", "groups",
     {"q", "search", "ids", "pageSize", "pageToken", "sortOrder"}),
    (re.compile(r"/rest/adAccounts/(\d+)/adCampaignGroups/(\d+)"), "adCampaignGroups", "group", set()),
    (re.compile(r"/rest/adAccounts/(\d+)/adCampaigns"), "adCampaigns", "campaigns",
     {"q", "search", "ids", "pageSize", "pageToken", "sortOrder"}),
    (re.compile(r"/rest/adAccounts/(\d+)/adCampaigns/(\d+)"), "adCampaigns", "campaign", set()),
    (re.compile(r"/rest/adAccounts/(\d+)/creatives"), "creatives", "creatives",
     {"q", "campaigns", "creatives", "contentReferences", "intendedStatuses", "isTestAccount", "isTotalIncluded",
      "leadgenCreativeCallToActionDestinations", "sortOrder", "pageSize", "pageToken"}),
    (re.compile(r"/rest/adAccounts/(\d+)/creatives/([^/]+)"), "creatives", "creative", set()),
    (re.compile(r"/rest/posts"), "posts", "posts", {"ids"}),
    (re.compile(r"/rest/posts/([^/]+)"), "posts", "post", set()),
    (re.compile(r"/rest/adTargetingEntities"), "adTargetingEntities", "targeting_entities",
     {"q", "urns", "queryVersion", "locale", "facet", "fetchType", "start", "count"}),
    (re.compile(r"/rest/conversions"), "conversions", "conversions", {"q", "account", "start", "count"}),
    (re.compile(r"/rest/adAnalytics"), "adAnalytics", "analytics",
     {"q", "pivot", "pivots", "timeGranularity", "dateRange", "accounts", "campaignGroups", "campaigns", "creatives",
      "campaignType", "fields", "sortBy"}),
]  # fmt: skip
_WITH_PATH = {"account_users", "accounts", "groups", "campaigns", "creatives", "targeting_entities", "conversions"}
_WITH_PARAMS = _WITH_PATH | {"posts", "analytics"}


def _headers() -> dict[str, str]:
    return {
        "X-RestLi-Protocol-Version": "2.0.0",
        "x-li-uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
        "x-li-request-id": secrets.token_hex(8).upper(),
        "x-li-fabric": "prod-lsg1",
    }


def _json(status: int, body: Any) -> Response:
    if isinstance(body, QueryResult):  # adAnalytics writes its own JSON (see analytics.py)
        return Response(body.body, status_code=status, media_type="application/json", headers=_headers())
    return JSONResponse(body, status_code=status, headers=_headers())


class _TruncatedResponse(Response):
    """Declares the full ``Content-Length`` but sends half of the body, then ends: a dropped connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": False})


def create_app(state: SimulatorState) -> Starlette:
    """The ASGI app serving ``/rest`` and ``/oauth/v2`` from ``state``."""
    api = Api(state)

    async def rest(request: Request) -> Response:
        request.state.sim_started = time.time()
        state.in_flight += 1  # one event loop thread: no lock needed
        try:
            return await answer(request)
        finally:
            state.in_flight -= 1

    async def answer(request: Request) -> Response:
        config = state.config
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        path = request.url.path
        route = next(((m, r) for r in _ROUTES if (m := r[0].fullmatch(path))), None)
        endpoint = route[1][1] if route else "unknown"
        tunneled = request.method == "POST"
        query = request.scope["query_string"].decode("latin-1")
        status, body, truncated = 200, None, False
        try:
            if tunneled:
                if request.headers.get("x-http-method-override", "").upper() != "GET":
                    raise ApiError(
                        405, "Method not allowed: only tunneled GETs (X-HTTP-Method-Override: GET) are supported"
                    )
                if "content-length" not in request.headers:
                    raise ApiError(411, "Length Required", service_code=None)
                query = (await request.body()).decode("utf-8", "replace")
            elif len(query.encode()) > MAX_QUERY_BYTES or len(str(request.url).encode()) > MAX_URL_BYTES:
                raise ApiError(414, "Request-URI Too Long", service_code=None)
            if not state.admit():
                raise ApiError(429, THROTTLE_MESSAGE, "TOO_MANY_REQUESTS")
            fault = state.draw_fault()
            if fault == "timeout":
                await _hold(request, config.timeout_s)
            elif fault == "503":
                return _log(state, request, endpoint, query, tunneled, PlainTextResponse(
                    "<html><body><h1>503 Service Unavailable</h1></body></html>", 503, media_type="text/html"))  # fmt: skip
            elif fault in ("429", "500"):
                raise (
                    ApiError(429, THROTTLE_MESSAGE, "TOO_MANY_REQUESTS")
                    if fault == "429"
                    else ApiError(500, "Internal Server Error", "INTERNAL_SERVER_ERROR", service_code=None)
                )
            truncated = fault == "truncated"
            _authenticate(state, request)
            api.version = _check_version(state, request)
            if request.headers.get("x-restli-protocol-version") != "2.0.0" and "(" in query:
                raise _bad()
            try:
                values = decode_query(query)
            except RestliDecodeError as exc:
                raise _bad() from exc
            if route is None:
                raise ApiError(404, "No virtual resource found", "RESOURCE_NOT_FOUND", service_code=None)
            match, (_, name, handler, allowed) = route
            if not state.count_call(name):
                raise ApiError(429, THROTTLE_MESSAGE, "TOO_MANY_REQUESTS")
            params = Params(values, allowed)
            args: list[Any] = [path] if handler in _WITH_PATH else []
            args += [params] if handler in _WITH_PARAMS else []
            body = getattr(api, handler)(*args, *match.groups())
        except ApiError as error:
            status, body = error.status, error.body()
        response = _json(status, body)
        if truncated:
            response = _TruncatedResponse(response.body, status, headers=dict(response.headers))
        return _log(state, request, endpoint, query, tunneled, response, body)

    async def access_token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        grant = form.get("grant_type")
        required = {"refresh_token": ("refresh_token",), "authorization_code": ("code", "redirect_uri")}
        if grant not in required:
            return _oauth_error(state, request, 400, "unsupported_grant_type" if grant else "invalid_request",
                                "A required parameter \"grant_type\" is missing" if not grant else f"Unsupported grant type {grant}")  # fmt: skip
        for name in (*required[grant], "client_id", "client_secret"):
            if not form.get(name):
                return _oauth_error(state, request, 400, "invalid_request", f'A required parameter "{name}" is missing')
        if form["client_id"] != state.client_id or not secrets.compare_digest(
            form["client_secret"], state.client_secret
        ):
            return _oauth_error(state, request, 401, "invalid_client", "Client authentication failed")
        tokens = (
            state.refresh(form["refresh_token"])
            if grant == "refresh_token"
            else state.redeem_code(form["code"], form["redirect_uri"])
        )
        if tokens is None:
            return _oauth_error(state, request, 400, "invalid_request",
                                "The provided authorization grant or refresh token is invalid, expired or revoked")  # fmt: skip
        return _log(
            state, request, "oauth.accessToken", "", False, JSONResponse(tokens, headers={"Cache-Control": "no-store"})
        )

    async def authorization(request: Request) -> Response:
        q = request.query_params
        redirect_uri = q.get("redirect_uri")
        if q.get("response_type") != "code" or q.get("client_id") != state.client_id or not redirect_uri:
            response: Response = PlainTextResponse("invalid authorization request", 400)
        else:
            code = state.issue_code(redirect_uri)
            extra = {"code": code} | ({"state": q["state"]} if "state" in q else {})
            response = RedirectResponse(redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(extra), 302)
        return _log(state, request, "oauth.authorization", "", False, response)

    async def sim_requests(request: Request) -> Response:
        if request.method == "DELETE":
            state.reset_log()
            return JSONResponse({"requests": [], "max_in_flight": 0})
        endpoint = request.query_params.get("endpoint")
        records = state.requests(endpoint)
        return JSONResponse(
            {"requests": [r.as_json() for r in records], "max_in_flight": state.max_in_flight(endpoint)}
        )

    async def sim_knobs(request: Request) -> Response:
        try:
            knobs = json.loads(await request.body() or b"{}")
            if not isinstance(knobs, dict):
                raise ValueError("a JSON object of knobs is expected")
            if "active_versions" in knobs:
                knobs["active_versions"] = frozenset(knobs["active_versions"])
            state.configure(**knobs)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        config = state.config
        return JSONResponse({name: _sorted_if_set(getattr(config, name)) for name in sorted(RUNTIME_KNOBS)})

    async def sim_new_generation(request: Request) -> Response:
        state.new_generation()
        return JSONResponse({"generation": state.dataset.generation})

    return Starlette(
        routes=[
            Route("/oauth/v2/accessToken", access_token, methods=["POST"]),
            Route("/oauth/v2/authorization", authorization, methods=["GET"]),
            Route("/rest/{rest:path}", rest, methods=["GET", "POST"]),
            # Simulator-only administration (not LinkedIn's API): the request log, run-time knobs, late data.
            Route("/_sim/requests", sim_requests, methods=["GET", "DELETE"]),
            Route("/_sim/knobs", sim_knobs, methods=["POST"]),
            Route("/_sim/new-generation", sim_new_generation, methods=["POST"]),
        ]
    )


def _sorted_if_set(value: Any) -> Any:
    return sorted(value) if isinstance(value, frozenset) else value


async def _hold(request: Request, seconds: float) -> None:
    """An injected timeout: keep the request open ``seconds``, or until the client hangs up."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await asyncio.wait_for(request.receive(), timeout=min(left, 0.05))
        except TimeoutError:
            continue
        if message["type"] == "http.disconnect":
            return


def _authenticate(state: SimulatorState, request: Request) -> None:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    try:
        if not token:
            raise TokenProblem("EMPTY_ACCESS_TOKEN")
        state.check_access(token)
    except TokenProblem as problem:
        code = str(problem)
        service_code, message = _TOKEN_BODIES[code]
        raise ApiError(401, message, code, service_code) from None


def _check_version(state: SimulatorState, request: Request) -> str:
    version = request.headers.get("linkedin-version")
    if not version:
        raise ApiError(
            400,
            "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
            "VERSION_MISSING",
        )
    month = version.split(".", 1)[0]
    if month not in state.config.active_versions:
        shown = f"{month}01" if re.fullmatch(r"\d{6}", month) else version
        raise ApiError(426, f"Requested version {shown} is not active", "NONEXISTENT_VERSION", service_code=None)
    return f"{month}01"


def _oauth_error(state: SimulatorState, request: Request, status: int, error: str, description: str) -> Response:
    body = {"error": error, "error_description": description}
    return _log(state, request, "oauth.accessToken", "", False, JSONResponse(body, status_code=status), body)


def _log(
    state: SimulatorState,
    request: Request,
    endpoint: str,
    query: str,
    tunneled: bool,
    response: Response,
    body: Any = None,
) -> Response:
    if isinstance(body, QueryResult):
        elements: int | None = body.elements
    else:
        elements = len(body["elements"]) if isinstance(body, dict) and isinstance(body.get("elements"), list) else None
    state.record(
        RequestRecord(
            request.method,
            request.url.path,
            endpoint,
            query,
            response.status_code,
            tunneled,
            elements,
            len(response.body),
            getattr(request.state, "sim_started", None) or time.time(),
            time.time(),
        )
    )
    return response
