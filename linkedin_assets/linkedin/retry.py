"""When the client asks LinkedIn again, how long it waits first, and when it gives up: one policy for every request.

An attempt (one request, sent and read) ends in a result or an exception; :class:`RetryPolicy` decides from the
exception alone:

- a refused connection or a failed DNS lookup (``httpx.ConnectError``): the short ``connect_retry_delays_s``, then
  :class:`~.errors.LinkedInConnectionError` naming the URL (an API that cannot be reached is reported in about a
  second, not after minutes of backoff);
- a plain 429 (:class:`Throttled`): exponential backoff through the budget's pause (LinkedIn's limits belong to the
  application, so every request waits), not counted against ``max_retries``; 429s for ``quota_exhausted_after_s``
  in a row raise :class:`~.errors.LinkedInQuotaExhausted`;
- the adAnalytics data-volume 429 (:class:`Throttled` with ``data_volume``): ``throttle_wait_s``, pausing the whole
  budget, counted against ``max_retries``;
- a 5xx (:class:`ServerError`), an unreadable 200 body (:class:`Retryable`), a timeout or another transport error:
  exponential backoff with full jitter capped by ``backoff_cap_s``, at most ``max_retries`` times.

Anything else is raised at once: an attempt raises these signals for what may be retried and errors for what may
not, so the error that ended the retries of a nested request (the OAuth refresh inside an API request) is not retried
again. Every wait goes through the injectable ``sleep`` or the budget's ``pause``; the retry lines are logged at INFO.
"""

from __future__ import annotations

import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import httpx

from .budget import RequestBudget
from .errors import LinkedInConnectionError, LinkedInError, LinkedInHTTPError, LinkedInQuotaExhausted
from .stats import RequestStats

if TYPE_CHECKING:
    from .client import ClientConfig

__all__ = ["RETRYABLE_STATUSES", "Retryable", "RetryPolicy", "ServerError", "Throttled", "safe_url"]

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})

T = TypeVar("T")


class Retryable(Exception):
    """An answer that asking again may fix: a truncated or non-JSON 200 body, or a :class:`ServerError`.

    ``problem`` is what the retry is logged with; ``error`` what is raised when the retries run out (without one, a
    :class:`~.errors.LinkedInError` saying the request gave up).
    """

    def __init__(self, problem: str, error: LinkedInError | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.error = error


class ServerError(Retryable):
    """A 5xx (:data:`RETRYABLE_STATUSES`): LinkedIn failed this time; the error is raised once retries run out."""

    def __init__(self, error: LinkedInHTTPError) -> None:
        super().__init__(f"HTTP {error.status} {error.code or ''}".rstrip(), error)


class Throttled(Exception):
    """LinkedIn answered 429. ``data_volume``: the adAnalytics limit of 45 million metric values per 5 minutes."""

    def __init__(self, error: LinkedInHTTPError, *, data_volume: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.data_volume = data_volume


@dataclass
class _Tries:
    """The counts of one request's attempts."""

    failures: int = 0
    """Failed attempts counted against ``max_retries``."""
    throttled: int = 0
    """Plain 429s (their backoff grows with each)."""
    unreachable: int = 0
    """Attempts that could not connect."""


class RetryPolicy:
    """The retry rules of one client: :meth:`run` repeats an attempt until it returns or may not be retried.

    ``config`` gives the limits and waits (``max_retries``, ``backoff_base_s``, ``backoff_cap_s``,
    ``connect_retry_delays_s``, ``throttle_wait_s``, ``quota_exhausted_after_s``); ``stats`` counts retries,
    throttles, timeouts, server errors and connection failures; ``sleep`` is every wait of one request, ``budget``
    every wait of all of them (a 429).
    """

    def __init__(
        self,
        config: ClientConfig,
        budget: RequestBudget,
        stats: RequestStats,
        logger: logging.Logger,
        sleep: Callable[[float], Awaitable[object]],
    ) -> None:
        self.config = config
        self.budget = budget
        self.stats = stats
        self.logger = logger
        self._sleep = sleep
        self._throttled_since: float | None = None
        """When the current run of plain 429s began (any success ends it); shared by all requests of the client."""

    async def run(self, endpoint: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``await attempt()`` until it returns; waits as the failure asks, raises what may not be retried."""
        tries = _Tries()
        while True:
            started = time.monotonic()
            try:
                result = await attempt()
            except httpx.ConnectError as exc:
                await self._after_unreachable(endpoint, exc, tries)
            except Throttled as exc:
                await self._after_429(endpoint, exc, tries)
            except httpx.TransportError as exc:
                if isinstance(exc, httpx.TimeoutException):
                    self.stats.timeouts += 1
                problem = f"{type(exc).__name__} after {time.monotonic() - started:.1f} s"
                await self._after_failure(endpoint, problem, None, tries)
            except Retryable as exc:
                if isinstance(exc, ServerError):
                    self.stats.server_errors += 1
                await self._after_failure(endpoint, exc.problem, exc.error, tries)
            else:
                self._throttled_since = None
                return result

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2 ** (attempt - 1))]``."""
        return random.uniform(0, min(self.config.backoff_cap_s, self.config.backoff_base_s * 2 ** (attempt - 1)))

    async def _after_failure(
        self, endpoint: str, problem: str, error: LinkedInError | None, tries: _Tries, *, delay: float | None = None
    ) -> None:
        """Wait before the next attempt (``delay``, or the backoff), or raise once ``max_retries`` are spent.

        A fixed ``delay`` is the data-volume throttle's: the whole budget waits it, not only this request.
        """
        tries.failures += 1
        if tries.failures > self.config.max_retries:
            raise (
                error or LinkedInError(f"{endpoint}: giving up after {tries.failures} attempts; last: {problem}")
            ) from None
        wait = self._backoff(tries.failures) if delay is None else delay
        self.stats.retries += 1
        self.logger.info(
            "%s: %s; retry %d/%d in %.1f s", endpoint, problem, tries.failures, self.config.max_retries, wait
        )
        await (self._sleep(wait) if delay is None else self.budget.pause(wait))

    async def _after_429(self, endpoint: str, throttled: Throttled, tries: _Tries) -> None:
        self.stats.throttled += 1
        if throttled.data_volume:
            problem = "429 from the adAnalytics data-volume limit (45 million metric values per 5 minutes)"
            await self._after_failure(endpoint, problem, throttled.error, tries, delay=self.config.throttle_wait_s)
            return
        tries.throttled += 1
        now = time.monotonic()
        if self._throttled_since is None:
            self._throttled_since = now
        waited = now - self._throttled_since
        if waited >= self.config.quota_exhausted_after_s:
            raise LinkedInQuotaExhausted(endpoint, waited) from None
        delay = self._backoff(tries.throttled)
        self.stats.retries += 1
        self.logger.info("%s: 429 (throttled for %.0f s so far); retry in %.1f s", endpoint, waited, delay)
        await self.budget.pause(delay)  # LinkedIn's limits are per application and member: everyone backs off

    async def _after_unreachable(self, endpoint: str, exc: httpx.ConnectError, tries: _Tries) -> None:
        """Wait before the next attempt of a request that could not connect, or raise when the quick retries are
        spent. Not counted against ``max_retries``: a host that refuses or does not resolve will not start to."""
        self.stats.connection_failures += 1
        tries.unreachable += 1
        url = str(exc.request.url) if _has_request(exc) else endpoint
        reason = _unreachable_reason(exc, url)
        delays = self.config.connect_retry_delays_s
        if tries.unreachable > len(delays):
            oauth = url.startswith(self.config.oauth_base_url.rstrip("/") + "/")
            raise LinkedInConnectionError(
                safe_url(url), reason, "oauth_base_url" if oauth else "api_base_url"
            ) from None
        delay = delays[tries.unreachable - 1]
        self.stats.retries += 1
        self.logger.info(
            "cannot reach %s: %s; retry %d/%d in %.1f s", safe_url(url), reason, tries.unreachable, len(delays), delay
        )
        await self._sleep(delay)


def safe_url(url: str) -> str:
    """Scheme, host, port and path of ``url``: a query string may carry secrets (OAuth codes, tokens)."""
    parts = httpx.URL(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.host}{port}{parts.path}"


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error carries no request
    except RuntimeError:
        return False
    return True


def _unreachable_reason(exc: httpx.ConnectError, url: str) -> str:
    """``connection refused`` / ``DNS lookup of <host> failed`` / the error's own words, from its cause chain."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            host = httpx.URL(url).host if "://" in url else "the host"
            return f"DNS lookup of {host} failed ({cause.strerror or cause})"
        cause = cause.__cause__ or cause.__context__
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
