"""An async client for the versioned LinkedIn Marketing API (``/rest``), built for a read-only ads sync.

It speaks Rest.li 2.0 (queries built by :mod:`restli`, tunneled when longer than 4 KB), refreshes the OAuth
token when needed, retries what LinkedIn says is transient, and runs :class:`AnalyticsPlan` s window by window.
Every HTTP request holds a slot of the client's :class:`~.budget.RequestBudget` (concurrency, rate, 429 pauses).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from . import oauth, restli
from .auth import LinkedInAuth
from .budget import LocalBudget, RequestBudget
from .errors import AccountFailure, LinkedInConfigError, LinkedInHTTPError, LinkedInPayloadError, account_failure
from .fields import MAX_ELEMENTS
from .models import (
    AdAccount,
    AdAccountUser,
    AnalyticsRow,
    AnalyticsWindow,
    Campaign,
    CampaignGroup,
    ConversionRule,
    Creative,
    ElementColumns,
    Post,
    TargetingEntity,
    merge_chunks,
    parse_analytics_elements,
    parse_entity,
)
from .plan import AnalyticsPlan, AnalyticsQuery, split_query
from .responses import read_response
from .retry import RetryPolicy
from .stats import RequestStats, endpoint_name
from .tokens import TokenStore
from .transport import client_transport

__all__ = ["ClientConfig", "LinkedInClient", "RequestStats"]

CURSOR_PAGE_SIZE = 1000
CREATIVES_PAGE_SIZE = 100
OFFSET_PAGE_SIZE = 1000
BATCH_SIZE = 50
"""URNs per batch get of posts and per adTargetingEntities lookup."""
ACCOUNT_BATCH_SIZE = 100
MAX_QUERY_BYTES = 4096
"""Longer query strings are tunneled (LinkedIn answers 414 above 4 KB)."""

GROUP_STATUSES = ("ACTIVE", "ARCHIVED", "CANCELED", "DRAFT", "PAUSED", "PENDING_DELETION", "REMOVED")
CAMPAIGN_STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED", "COMPLETED", "CANCELED", "DRAFT", "PENDING_DELETION", "REMOVED")
POST_URN_PREFIXES = ("urn:li:share:", "urn:li:ugcPost:")
VERSION_MAX_AGE_MONTHS = 9
_VERSION = re.compile(r"\d{4}(0[1-9]|1[0-2])")
_ACCOUNT_URN = re.compile(r"urn:li:sponsoredAccount:(\d+)")

T = TypeVar("T")


@dataclass(frozen=True)
class ClientConfig:
    """Where and how to reach LinkedIn. Secrets are left out of ``repr``."""

    api_base_url: str = "https://api.linkedin.com/rest"
    oauth_base_url: str = "https://www.linkedin.com/oauth/v2"
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    api_version: str = "202610"
    """``LinkedIn-Version`` header, ``YYYYMM``; a warning is logged when it is older than 9 months."""
    account_ids: tuple[int, ...] = ()
    """Accounts to sync; empty means every account the token can see."""
    token_store_path: str | None = None
    """Where refreshed tokens are kept (mode 0600); ``None`` keeps them in memory only."""
    max_concurrency: int = 4
    requests_per_second: float | None = None
    """Start at most this many requests per second (``None``: no rate limit beyond the concurrency)."""
    timeout_s: float = 60.0
    max_retries: int = 6
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 120.0
    connect_retry_delays_s: tuple[float, ...] = (0.2, 0.5)
    """Waits before the (at most two) retries of a refused connection or a failed DNS lookup: an API that cannot
    be reached at all is reported in about a second, not after minutes of backoff."""
    throttle_wait_s: float = 330.0
    """Wait after the analytics data-volume 429 (45 million metric values per 5 minutes)."""
    quota_exhausted_after_s: float = 900.0
    """Plain 429s for this long in a row mean the daily quota is spent: stop with :class:`LinkedInQuotaExhausted`."""
    max_elements: int = MAX_ELEMENTS
    """The adAnalytics element cap: a response this long is treated as truncated (lowered only in tests)."""

    def __post_init__(self) -> None:
        if not _VERSION.fullmatch(self.api_version):
            raise LinkedInConfigError(
                f"LinkedIn API version {self.api_version!r} is not YYYYMM with a month 01-12 (e.g. 202610)"
            )
        if any(isinstance(i, bool) or not isinstance(i, int) or i <= 0 for i in self.account_ids):
            raise LinkedInConfigError(f"account ids must be positive integers, got {self.account_ids!r}")
        if self.max_concurrency < 1:
            raise LinkedInConfigError(f"max_concurrency must be at least 1, got {self.max_concurrency}")
        if self.requests_per_second is not None and self.requests_per_second <= 0:
            raise LinkedInConfigError(f"requests_per_second must be positive, got {self.requests_per_second}")

    @classmethod
    def with_defaults(cls, **values: Any) -> ClientConfig:
        """A configuration of ``values``, where ``None`` (an unset setting) means this class's default."""
        return cls(**{name: value for name, value in values.items() if value is not None})


def parse_account_ids(text: str) -> tuple[int, ...]:
    """``"123, urn:li:sponsoredAccount:456"`` -> ``(123, 456)``; anything else names the bad item."""
    ids = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        match = _ACCOUNT_URN.fullmatch(item)
        number = match.group(1) if match else item
        if not number.isdigit() or int(number) == 0:
            raise LinkedInConfigError(
                f"LINKEDIN_ACCOUNT_IDS: {item!r} is neither an account id nor urn:li:sponsoredAccount:<id>"
            )
        ids.append(int(number))
    return tuple(dict.fromkeys(ids))


class LinkedInClient:
    """Async LinkedIn Marketing API client: ``async with LinkedInClient(config) as client: ...``."""

    def __init__(
        self,
        config: ClientConfig,
        logger: logging.Logger | None = None,
        budget: RequestBudget | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``budget``: shared limiter (default: a :class:`LocalBudget` of ``config.max_concurrency`` and
        ``config.requests_per_second``). ``sleep``: every backoff wait goes through it (tests pass a fake clock).
        ``transport``: the network under the client's own layers (tests pass an ``httpx.MockTransport``)."""
        self.config = config
        self.logger = logger or logging.getLogger("linkedin_assets.linkedin")
        self.stats = RequestStats()
        self.budget: RequestBudget = budget or LocalBudget(
            config.max_concurrency, config.requests_per_second, sleep=sleep
        )
        self._retry = RetryPolicy(config, self.budget, self.stats, self.logger, sleep)
        self._network = transport
        self._store = TokenStore(config.token_store_path) if config.token_store_path else None
        self._http: httpx.AsyncClient | None = None
        self._auth: LinkedInAuth | None = None

    def __repr__(self) -> str:
        return f"LinkedInClient(api_base_url={self.config.api_base_url!r}, api_version={self.config.api_version!r})"

    async def __aenter__(self) -> LinkedInClient:
        transport = client_transport(self.config.api_base_url, self.budget, self.stats, self.logger, self._network)
        self._http = httpx.AsyncClient(transport=transport, timeout=self.config.timeout_s)
        self._auth = LinkedInAuth(
            oauth.initial_tokens(self.config, self._store),
            http=self._http,
            config=self.config,
            retry=self._retry,
            store=self._store,
            stats=self.stats,
            logger=self.logger,
        )
        self._warn_about_version()
        self._auth.warn_about_refresh_token()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
            self._auth = None

    # -- entities -----------------------------------------------------------------------------------------

    async def ad_accounts(self) -> list[AdAccount]:
        """The accounts to sync: every account the member has a role on, narrowed to ``config.account_ids``."""
        users = await self._offset_pages("adAccountUsers", [("q", "authenticatedUser")])
        visible = list(
            dict.fromkeys(
                parse_entity(AdAccountUser, user, "adAccountUser", "adAccountUsers").account_id for user in users
            )
        )
        if self.config.account_ids:
            missing = [i for i in self.config.account_ids if i not in visible]
            if missing:
                raise LinkedInConfigError(
                    f"ad account(s) {', '.join(map(str, missing))} are not visible to the authorized LinkedIn member"
                    f" (visible: {', '.join(map(str, visible)) or 'none'}); fix LINKEDIN_ACCOUNT_IDS or the member's roles"
                )
            wanted = list(self.config.account_ids)
        else:
            wanted = visible
        batches = [wanted[i : i + ACCOUNT_BATCH_SIZE] for i in range(0, len(wanted), ACCOUNT_BATCH_SIZE)]
        pages = await self._gather(
            self._get("adAccounts", [("ids", batch)], restli_method="BATCH_GET") for batch in batches
        )
        results = {key: value for page in pages for key, value in (page.get("results") or {}).items()}
        accounts = []
        for account_id in wanted:
            if str(account_id) not in results:
                self.logger.warning("LinkedIn returned no details for ad account %s; skipping it", account_id)
                continue
            accounts.append(parse_entity(AdAccount, results[str(account_id)], "ad account", "adAccounts"))
        return accounts

    async def campaign_groups(self, account_id: int) -> list[CampaignGroup]:
        """Every campaign group of the account, whatever its status."""
        elements = await self._cursor_pages(
            f"adAccounts/{account_id}/adCampaignGroups",
            [("q", "search"), ("search", {"status": {"values": list(GROUP_STATUSES)}}), ("sortOrder", "ASCENDING")],
            CURSOR_PAGE_SIZE,
        )
        return [parse_entity(CampaignGroup, element, "campaign group", "adCampaignGroups") for element in elements]

    async def campaigns(self, account_id: int) -> list[Campaign]:
        """Every campaign of the account, whatever its status."""
        elements = await self._cursor_pages(
            f"adAccounts/{account_id}/adCampaigns",
            [("q", "search"), ("search", {"status": {"values": list(CAMPAIGN_STATUSES)}}), ("sortOrder", "ASCENDING")],
            CURSOR_PAGE_SIZE,
        )
        return [parse_entity(Campaign, element, "campaign", "adCampaigns") for element in elements]

    async def creatives(self, account_id: int) -> list[Creative]:
        """Every creative of the account (criteria finder without filters)."""
        elements = await self._cursor_pages(
            f"adAccounts/{account_id}/creatives",
            [("q", "criteria"), ("sortOrder", "ASCENDING")],
            CREATIVES_PAGE_SIZE,
            restli_method="FINDER",
        )
        return [parse_entity(Creative, element, "creative", "creatives") for element in elements]

    async def conversions(self, account_id: int) -> list[ConversionRule]:
        """Every conversion rule of the account (enabled or not), with its attribution windows."""
        elements = await self._offset_pages(
            "conversions", [("q", "account"), ("account", f"urn:li:sponsoredAccount:{account_id}")]
        )
        return [parse_entity(ConversionRule, element, "conversion rule", "conversions") for element in elements]

    async def posts(self, urns: Sequence[str]) -> dict[str, Post]:
        """The posts behind sponsored-content creatives, by URN.

        Only ``urn:li:share:``/``urn:li:ugcPost:`` URNs are asked for (anything else is not a post). Posts the
        member may not read, or that no longer exist, are left out.
        """
        wanted = list(dict.fromkeys(urn for urn in urns if urn.startswith(POST_URN_PREFIXES)))
        batches = [wanted[i : i + BATCH_SIZE] for i in range(0, len(wanted), BATCH_SIZE)]
        found: dict[str, Post] = {}
        for part in await self._gather(self._posts_batch(batch) for batch in batches):
            found.update(part)
        return found

    async def _posts_batch(self, urns: list[str]) -> dict[str, Post]:
        try:
            data = await self._get("posts", [("ids", urns)], restli_method="BATCH_GET")
        except LinkedInHTTPError as exc:
            if exc.status not in (403, 404) and exc.code != "INVALID_URN_TYPE":
                raise
            if len(urns) == 1:
                self.logger.debug("Skipping post %s: %s", urns[0], exc)
                return {}
            half = len(urns) // 2
            first, second = await self._gather([self._posts_batch(urns[:half]), self._posts_batch(urns[half:])])
            return first | second
        if data.get("errors"):
            self.logger.debug("Skipping %d unreadable post(s): %s", len(data["errors"]), ", ".join(data["errors"]))
        return {
            urn: parse_entity(Post, {"id": urn, **body}, "post", "posts")
            for urn, body in (data.get("results") or {}).items()
            if isinstance(body, Mapping)
        }

    async def targeting_entity_names(self, urns: Sequence[str]) -> dict[str, str]:
        """Display names of targeting/demographic URNs (seniorities, industries, geos, ...); unknown ones are absent."""
        wanted = list(dict.fromkeys(urns))
        batches = [wanted[i : i + BATCH_SIZE] for i in range(0, len(wanted), BATCH_SIZE)]
        pages = await self._gather(
            self._get(
                "adTargetingEntities",
                [
                    ("q", "urns"),
                    ("queryVersion", "QUERY_USES_URNS"),
                    ("urns", batch),
                    ("locale", {"language": "en", "country": "US"}),
                ],
            )
            for batch in batches
        )
        names = {}
        for page in pages:
            for element in self._elements(page, "adTargetingEntities"):
                entity = parse_entity(TargetingEntity, element, "targeting entity", "adTargetingEntities")
                names[entity.urn] = entity.name
        return names

    # -- analytics ----------------------------------------------------------------------------------------

    async def run_analytics(self, plan: AnalyticsPlan) -> list[AnalyticsRow]:
        """Every row of a plan at once (for small plans): :meth:`iter_analytics`, collected."""
        return [row async for window in self.iter_analytics(plan) for row in window]

    async def iter_analytics(
        self,
        plan: AnalyticsPlan,
        *,
        windows_ahead: int | None = None,
        on_account_failure: Callable[[AccountFailure], None] | None = None,
    ) -> AsyncIterator[AnalyticsWindow]:
        """The merged rows of one window at a time, as soon as that window's responses are all in.

        A window is one planned query without its metrics (account or entity batch x pivot x date range): its
        field chunks are merged into one row per (pivot values, time bucket), a metric of a chunk whose response
        lacks the row being ``None``; each window comes as an :class:`AnalyticsWindow` (its rows column by column;
        iterating it gives :class:`AnalyticsRow` s). Windows are fetched concurrently (the budget bounds the requests
        in flight); at most ``windows_ahead`` are fetched or held ahead of the consumer, so memory stays bounded by a
        few windows however long the plan. The default is the fewest windows whose chunks fill the concurrency limit,
        plus one (4 requests in flight, 2 chunks a window: 3 windows, up to about 45,000 rows). Windows come in
        completion order.

        With ``on_account_failure``, a window of one ad account that LinkedIn refuses (403, 404, a 5xx after the
        retries: :func:`~.errors.account_failure`) is reported there, that account's other windows are not asked, and
        the other accounts' windows go on; the consumer drops what it already had of that account. Without it, or for
        any other error, the first failure ends the iteration.
        """
        windows: dict[AnalyticsQuery, list[AnalyticsQuery]] = {}
        for query in plan.queries:
            windows.setdefault(dataclasses.replace(query, metrics=()), []).append(query)
        todo = list(windows.items())
        todo.reverse()  # pop() from the end keeps the plan's order
        chunks = min((len(queries) for queries in windows.values()), default=1)
        limit = max(1, windows_ahead or -(-self.config.max_concurrency // chunks) + 1)
        running: dict[asyncio.Task[AnalyticsWindow], int | None] = {}
        failed: set[int] = set()
        try:
            while todo or running:
                while todo and len(running) < limit:
                    key, chunks = todo.pop()
                    if key.account_id not in failed:
                        running[asyncio.ensure_future(self._fetch_window(key, chunks))] = key.account_id
                if not running:
                    continue
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    account_id = running.pop(task)
                    if task.cancelled():
                        continue
                    error = task.exception()
                    if error is not None:
                        self._drop_account(error, account_id, running, failed, on_account_failure)
                        continue
                    window = task.result()
                    if len(window) and window.account_id not in failed:
                        yield window
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    def _drop_account(
        self,
        error: BaseException,
        account_id: int | None,
        running: Mapping[asyncio.Task[AnalyticsWindow], int | None],
        failed: set[int],
        on_account_failure: Callable[[AccountFailure], None] | None,
    ) -> None:
        """After a window failed: report its account's failure once and cancel that account's windows in flight,
        or raise ``error`` when it is not one account's (:func:`~.errors.account_failure`) or nobody listens."""
        failure = account_failure(error, account_id) if on_account_failure and account_id else None
        if failure is None or on_account_failure is None:
            raise error  # iter_analytics' finally cancels the rest
        if failure.account_id not in failed:
            failed.add(failure.account_id)
            self.logger.warning(
                "ad account %s: %s; its other analytics requests are not made, the other accounts go on",
                failure.account_id,
                failure.describe(),
            )
            on_account_failure(failure)
        for task, of in running.items():
            if of == failure.account_id:
                task.cancel()

    async def _fetch_window(self, key: AnalyticsQuery, chunks: list[AnalyticsQuery]) -> AnalyticsWindow:
        """Fetch the field chunks of one window and merge them by (pivot values, start, end), column by column."""
        results = await self._gather(self._fetch_analytics(query) for query in chunks)
        names = list(dict.fromkeys(name for query in chunks for name in query.metrics))
        return merge_chunks(results, names, key.pivot, key.facet_urns)

    async def _fetch_analytics(self, query: AnalyticsQuery) -> ElementColumns:
        halves = split_query(query)
        cap = self.config.max_elements

        def parse(data: dict[str, Any]) -> tuple[int, ElementColumns | None]:
            elements = self._elements(data, "adAnalytics")
            if len(elements) >= cap and halves is not None:
                return len(elements), None  # cut at the cap: asked again in two halves below
            return len(elements), parse_analytics_elements(elements, query.metrics)

        count, parsed = await self._request("adAnalytics", query.params(), parse)
        if parsed is None:
            assert halves is not None
            self.stats.resplits += 1
            self.logger.info(
                "adAnalytics %s %s..%s returned %d elements (the cap): asking again in two halves",
                query.pivot,
                query.start,
                query.end,
                count,
            )
            first, second = await self._gather([self._fetch_analytics(half) for half in halves])
            return first + second
        if count >= cap:
            self.logger.warning(
                "adAnalytics %s %s..%s for %s returned %d elements (the cap) and cannot be split further:"
                " rows beyond the cap are missing",
                query.pivot,
                query.start,
                query.end,
                ",".join(query.facet_urns),
                count,
            )
        return parsed

    # -- pagination ---------------------------------------------------------------------------------------

    async def _cursor_pages(
        self, path: str, params: list[tuple[str, Any]], page_size: int, *, restli_method: str | None = None
    ) -> list[dict[str, Any]]:
        """All elements of a cursor-paged finder (``pageSize``/``pageToken`` -> ``metadata.nextPageToken``)."""
        endpoint = endpoint_name(path)
        elements: list[dict[str, Any]] = []
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = await self._get(
                path, [*params, ("pageSize", page_size), ("pageToken", token)], restli_method=restli_method
            )
            batch = self._elements(page, endpoint)
            elements.extend(batch)
            token = (page.get("metadata") or {}).get("nextPageToken")
            if not token or not batch:
                return elements
            if token in seen:
                raise LinkedInPayloadError(f"{endpoint}: the server sent page token {token!r} twice")
            seen.add(token)

    async def _offset_pages(self, path: str, params: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        """All elements of an offset-paged finder (``start``/``count``)."""
        elements: list[dict[str, Any]] = []
        count = OFFSET_PAGE_SIZE
        while True:
            page = await self._get(path, [*params, ("start", len(elements)), ("count", count)])
            batch = self._elements(page, endpoint_name(path))
            elements.extend(batch)
            total = (page.get("paging") or {}).get("total")
            if len(batch) < count or (isinstance(total, int) and len(elements) >= total):
                return elements

    @staticmethod
    def _elements(page: Mapping[str, Any], endpoint: str) -> list[dict[str, Any]]:
        elements = page.get("elements")
        if not isinstance(elements, list) or not all(isinstance(e, dict) for e in elements):
            raise LinkedInPayloadError(f"{endpoint} response: field 'elements' is not a list of objects")
        return elements

    # -- transport ----------------------------------------------------------------------------------------

    async def _get(
        self, path: str, params: Iterable[tuple[str, Any]], *, restli_method: str | None = None
    ) -> dict[str, Any]:
        """One Rest.li GET (tunneled when long) with auth, retries and backoff; returns the JSON body."""
        return await self._request(path, params, _body, restli_method=restli_method)

    async def _request(
        self,
        path: str,
        params: Iterable[tuple[str, Any]],
        parse: Callable[[dict[str, Any]], T],
        *,
        restli_method: str | None = None,
    ) -> T:
        """:meth:`_get`, returning ``parse(body)`` (see :func:`~.responses.read_response`).

        The layers of a request: the retry policy (:mod:`.retry`) repeats the attempt; an attempt sends the request
        with :class:`~.auth.LinkedInAuth` (the bearer token, a refresh on expiry or 401), through the transport
        (:func:`~.transport.client_transport`: the budget's slot, the stats), and reads the answer.
        """
        if self._http is None or self._auth is None:
            raise RuntimeError("LinkedInClient must be used as `async with LinkedInClient(...) as client`")
        http, auth, endpoint = self._http, self._auth, endpoint_name(path)
        build = self._request_maker(http, path, params, restli_method)

        async def attempt() -> T:
            response = await http.send(build(), auth=auth)
            return read_response(response, endpoint, self.config.api_version, parse)

        return await self._retry.run(endpoint, attempt)

    def _request_maker(
        self, http: httpx.AsyncClient, path: str, params: Iterable[tuple[str, Any]], restli_method: str | None
    ) -> Callable[[], httpx.Request]:
        """What makes the request anew for each attempt (with the cookies of the answers so far, as before): a GET
        with the Rest.li query, or, when the query is longer than :data:`MAX_QUERY_BYTES`, a POST carrying it as a
        form body with ``X-HTTP-Method-Override: GET``."""
        query = restli.encode_query(params)
        url = f"{self.config.api_base_url.rstrip('/')}/{path}"
        headers = {"LinkedIn-Version": self.config.api_version, "X-Restli-Protocol-Version": "2.0.0"}
        if restli_method:
            headers["X-RestLi-Method"] = restli_method
        if len(query.encode()) <= MAX_QUERY_BYTES:
            return functools.partial(http.build_request, "GET", f"{url}?{query}", headers=headers)
        headers |= {"X-HTTP-Method-Override": "GET", "Content-Type": "application/x-www-form-urlencoded"}
        return functools.partial(http.build_request, "POST", url, content=query.encode(), headers=headers)

    # -- helpers ------------------------------------------------------------------------------------------

    async def _gather(self, calls: Iterable[Awaitable[T]]) -> list[T]:
        """``asyncio.gather`` that cancels the remaining calls when one fails."""
        tasks = [asyncio.ensure_future(call) for call in calls]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def _warn_about_version(self) -> None:
        year, month = int(self.config.api_version[:4]), int(self.config.api_version[4:])
        today = dt.datetime.now(dt.UTC).date()
        age = (today.year - year) * 12 + today.month - month
        if age > VERSION_MAX_AGE_MONTHS:
            self.logger.warning(
                "LinkedIn-Version %s is %d months old; LinkedIn sunsets versions about 12 months after release"
                " (then every call fails with 426). Raise LINKEDIN_API_VERSION.",
                self.config.api_version,
                age,
            )


def _body(body: dict[str, Any]) -> dict[str, Any]:
    return body
