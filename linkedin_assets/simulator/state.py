"""Everything the simulator knows at run time: config, data, tokens, quotas and the request log."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass

from linkedin_assets.simulator.config import SimulatorConfig
from linkedin_assets.simulator.data import Dataset

__all__ = ["RequestRecord", "SimulatorState", "TokenProblem", "max_in_flight"]

REFRESH_WINDOW_S = 365 * 86_400
SCOPE = "r_ads,r_ads_reporting"
_BUDGET_WINDOW_S = 300.0


@dataclass(frozen=True)
class RequestRecord:
    """One request as the simulator saw it (``query`` is the raw query string or the tunneled body).

    ``started`` and ``ended`` are wall-clock seconds (``time.time()``): when the request reached the simulator
    and when its answer was ready (or, for an injected timeout, when the client hung up). A request is in
    flight on ``[started, ended)``; see :meth:`SimulatorState.max_in_flight`.
    """

    method: str
    path: str
    endpoint: str
    query: str
    status: int
    tunneled: bool
    elements: int | None
    bytes: int
    started: float = 0.0
    ended: float = 0.0

    def as_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def max_in_flight(records: Iterable[RequestRecord]) -> int:
    """The largest number of requests whose ``[started, ended)`` intervals overlap at one instant."""
    records = list(records)
    events = sorted([(r.started, 1) for r in records] + [(r.ended, -1) for r in records])  # a tie: end first
    current = peak = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


class TokenProblem(Exception):
    """Why an access token was refused: ``EXPIRED_ACCESS_TOKEN``, ``REVOKED_ACCESS_TOKEN``, ..."""


@dataclass
class _Access:
    expires_at: float
    revoked: bool = False


@dataclass
class _Refresh:
    window_end: float
    revoked: bool = False


class SimulatorState:
    """Config, data set and mutable server state; thread-safe (the server runs in another thread)."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._lock = threading.Lock()
        self.config = config
        self.dataset = Dataset(config)
        self.client_id = "sim" + secrets.token_hex(6)
        self.client_secret = secrets.token_urlsafe(18)
        self.request_log: list[RequestRecord] = []
        """Every ``/rest`` and OAuth request since the last :meth:`reset_log`, in completion order."""
        self.in_flight = 0
        """``/rest`` requests being answered right now."""
        self._bucket = (0.0, 0.0)  # (tokens, monotonic time of the last refill) of the requests/s limit
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._codes: dict[str, tuple[str, float]] = {}
        self._daily: Counter[tuple[str, dt.date]] = Counter()
        self._budget: deque[tuple[float, int]] = deque()
        self._faults = random.Random(config.seed)
        self.refused: dict[int, str] = {}
        """Ad accounts listed to the member but refused (:meth:`refuse_account`), with how adAnalytics answers."""
        self.access_token, self.refresh_token = self.mint_tokens()

    # -- knobs and log ------------------------------------------------------------------------------------------
    def configure(self, **knobs: object) -> None:
        with self._lock:
            self.config = self.config.with_knobs(**knobs)

    def record(self, entry: RequestRecord) -> None:
        with self._lock:
            self.request_log.append(entry)

    def counts_by_endpoint(self) -> dict[str, int]:
        """Requests per endpoint name since the last :meth:`reset_log`."""
        with self._lock:
            return dict(Counter(r.endpoint for r in self.request_log))

    def reset_log(self) -> None:
        with self._lock:
            self.request_log.clear()

    def requests(self, endpoint: str | None = None) -> list[RequestRecord]:
        """A copy of the request log, optionally of one endpoint (``"adAnalytics"``, ``"adCampaigns"``, ...)."""
        with self._lock:
            return [r for r in self.request_log if endpoint is None or r.endpoint == endpoint]

    def max_in_flight(self, endpoint: str | None = None) -> int:
        """The most requests (of ``endpoint``, or all ``/rest`` ones) the simulator was answering at one instant.

        Computed from the log's ``started``/``ended`` stamps. To see a client's concurrency limit, give the
        simulator some ``latency_ms`` so that concurrent requests overlap measurably.
        """
        return max_in_flight(r for r in self.requests(endpoint) if not r.endpoint.startswith("oauth."))

    # -- data -----------------------------------------------------------------------------------------------------
    def new_generation(self) -> None:
        """Late-data mode: the last ``late_data_days`` days' metrics change (no-op when the mode is off)."""
        self.dataset.new_generation()

    def remove_campaign(self, campaign_id: int) -> None:
        """Stop returning a campaign from the entity endpoints, as LinkedIn does for some deleted campaigns."""
        self.dataset.remove_campaign(campaign_id)

    def remove_creative(self, creative_id: int) -> None:
        """Stop listing a creative; its past delivery stays in adAnalytics, as on LinkedIn."""
        self.dataset.remove_creative(creative_id)

    def edit_campaign(self, campaign_id: int, changes: dict[str, object], *, touch: bool = True) -> None:
        """Change a campaign between syncs (``Dataset.edit_campaign``): a new version for the history tables."""
        with self._lock:
            self.dataset.edit_campaign(campaign_id, dict(changes), touch=touch)

    def edit_conversion(self, conversion_id: int, changes: dict[str, object]) -> dict[str, object]:
        """Change a conversion rule between syncs (``name``, ``enabled``, ``postClickAttributionWindowSize``,
        ``viewThroughAttributionWindowSize``, ...): ``lastModified`` moves on, so a history table sees a new version.
        Returns the rule's new element (a copy)."""
        with self._lock:
            return dict(self.dataset.edit_conversion(conversion_id, dict(changes)))

    def refuse_account(self, account_id: int, analytics: str = "empty") -> None:
        """The member's role on one ad account was changed: the account is still listed (``adAccountUsers``,
        ``adAccounts``), but its campaign groups, campaigns and creatives answer 403, and adAnalytics answers with no
        rows for it (``analytics="empty"``, what the reference documents for entities without access) or 403
        (``"403"``, as some accounts have been seen to)."""
        if analytics not in ("empty", "403"):
            raise ValueError("analytics must be 'empty' or '403'")
        with self._lock:
            self.refused[int(account_id)] = analytics

    def restore_account(self, account_id: int) -> None:
        """The role is back: the account answers again."""
        with self._lock:
            self.refused.pop(int(account_id), None)

    # -- tokens ---------------------------------------------------------------------------------------------------
    def mint_tokens(self) -> tuple[str, str]:
        """A new (access, refresh) pair; the refresh token's fixed 365-day window starts now."""
        refresh = "AQW" + secrets.token_urlsafe(30)
        with self._lock:
            self._refresh[refresh] = _Refresh(time.time() + REFRESH_WINDOW_S)
        return self._new_access(), refresh

    def _new_access(self) -> str:
        token = "AQV" + secrets.token_urlsafe(40)
        with self._lock:
            self._access[token] = _Access(time.time() + self.config.access_token_ttl_s)
        return token

    def check_access(self, token: str) -> None:
        """Raise :class:`TokenProblem` unless ``token`` is a live access token."""
        with self._lock:
            entry = self._access.get(token)
        if entry is None:
            raise TokenProblem("INVALID_ACCESS_TOKEN")
        if entry.revoked:
            raise TokenProblem("REVOKED_ACCESS_TOKEN")
        if time.time() >= entry.expires_at:
            raise TokenProblem("EXPIRED_ACCESS_TOKEN")

    def refresh(self, refresh_token: str) -> dict[str, object] | None:
        """The token response for a refresh grant, or ``None`` when the refresh token is dead."""
        with self._lock:
            entry = self._refresh.get(refresh_token)
        now = time.time()
        if entry is None or entry.revoked or now >= entry.window_end:
            return None
        return self._token_response(self._new_access(), refresh_token, entry.window_end - now)

    def _token_response(self, access: str, refresh: str, refresh_left: float) -> dict[str, object]:
        return {
            "access_token": access,
            "expires_in": self.config.access_token_ttl_s,
            "refresh_token": refresh,
            "refresh_token_expires_in": int(refresh_left),
            "scope": SCOPE,
        }

    def issue_code(self, redirect_uri: str) -> str:
        code = "AQT" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = (redirect_uri, time.time() + 1800)
        return code

    def redeem_code(self, code: str, redirect_uri: str) -> dict[str, object] | None:
        """Exchange a single-use authorization code for a new token pair (fresh 365-day window)."""
        with self._lock:
            entry = self._codes.pop(code, None)
        if entry is None or entry[0] != redirect_uri or time.time() >= entry[1]:
            return None
        access, refresh = self.mint_tokens()
        return self._token_response(access, refresh, REFRESH_WINDOW_S)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far answers 401 ``EXPIRED_ACCESS_TOKEN`` from now on."""
        with self._lock:
            for entry in self._access.values():
                entry.expires_at = min(entry.expires_at, time.time())

    def revoke_access_tokens(self) -> None:
        """Every access token issued so far answers 401 ``REVOKED_ACCESS_TOKEN`` from now on."""
        with self._lock:
            for entry in self._access.values():
                entry.revoked = True

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token issued so far is refused by the token endpoint (re-authorization needed)."""
        with self._lock:
            for entry in self._refresh.values():
                entry.revoked = True

    # -- faults and limits ----------------------------------------------------------------------------------------
    def draw_fault(self) -> str | None:
        """``"429"``, ``"500"``, ``"503"``, ``"timeout"``, ``"truncated"`` or ``None`` for this request."""
        c = self.config
        with self._lock:
            x = self._faults.random()
        for name, rate in (("429", c.rate_429), ("500", c.rate_500), ("503", c.rate_503),
                           ("timeout", c.rate_timeout), ("truncated", c.rate_truncated_body)):  # fmt: skip
            if x < rate:
                return name
            x -= rate
        return None

    def admit(self) -> bool:
        """The requests/s limit: take a token from a bucket holding one second's worth (at least 1) that
        refills continuously; ``False`` (answer 429) when it is empty. Always ``True`` without a limit."""
        rate = self.config.requests_per_second
        if rate is None:
            return True
        now = time.monotonic()
        with self._lock:
            tokens, last = self._bucket
            capacity = max(1.0, rate)
            tokens = capacity if last == 0.0 else min(capacity, tokens + (now - last) * rate)
            admitted = tokens >= 1.0
            self._bucket = (tokens - 1.0 if admitted else tokens, now)
            return admitted

    def count_call(self, endpoint: str) -> bool:
        """Count a call against the endpoint's daily quota (UTC day); ``False`` once the quota is used up."""
        quota = self.config.daily_quota
        key = (endpoint, dt.datetime.now(dt.UTC).date())
        with self._lock:
            self._daily[key] += 1
            return quota is None or self._daily[key] <= quota

    def spend_metric_values(self, cost: int) -> bool:
        """Charge (#fields x #elements) to the 5-minute budget; ``False`` (and no charge) when it would overflow."""
        now = time.monotonic()
        with self._lock:
            while self._budget and now - self._budget[0][0] > _BUDGET_WINDOW_S:
                self._budget.popleft()
            if sum(c for _, c in self._budget) + cost > self.config.metric_value_budget:
                return False
            self._budget.append((now, cost))
            return True
