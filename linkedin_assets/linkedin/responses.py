"""What an answer of the LinkedIn API means: a JSON body to parse, a reason to ask again, or an error.

:func:`read_response` turns one answer into ``parse(body)`` or raises what the retry policy (:mod:`.retry`) acts on;
the body is decoded and parsed with the cyclic garbage collector paused (:func:`gc_paused`).
"""

from __future__ import annotations

import contextlib
import gc
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import orjson

from .errors import LinkedInHTTPError
from .retry import RETRYABLE_STATUSES, Retryable, ServerError, Throttled

__all__ = ["DATA_VOLUME_THROTTLE", "error_code", "gc_paused", "http_error", "json_object", "read_response"]

DATA_VOLUME_THROTTLE = "45 million"
"""In the body of the 429 of adAnalytics' data-volume limit (45 million metric values per 5 minutes)."""

T = TypeVar("T")


def read_response(response: httpx.Response, endpoint: str, api_version: str, parse: Callable[[dict[str, Any]], T]) -> T:
    """``parse(body)`` of a 200 whose body is a JSON object; raises :class:`~.retry.Retryable` for any other 200,
    :class:`~.retry.Throttled` for a 429, :class:`~.retry.ServerError` for a 5xx and
    :class:`~.errors.LinkedInHTTPError` for any other status (never retried)."""
    status = response.status_code
    if status == 200:
        with gc_paused():
            body = json_object(response)
            if body is not None:
                result = parse(body)
                del body  # freed before the collector resumes
                return result
        raise Retryable("an unreadable (truncated or non-JSON) 200 body")
    error = http_error(response, endpoint, api_version)
    if status == 429:
        raise Throttled(error, data_volume=DATA_VOLUME_THROTTLE in response.text)
    if status in RETRYABLE_STATUSES:
        raise ServerError(error)
    raise error


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a response body is decoded and parsed.

    An adAnalytics page of up to 15,000 elements decodes into tens of thousands of dicts and lists that live until
    it is parsed; each allocation counts towards the collector's thresholds, so a decode would run several
    collections that traverse the half-built page and, in full ones, the process's whole heap: a large share of its
    CPU (``benchmarks/README.md``, "The layered client"). A JSON body holds no reference cycles (reference
    counting frees it), so pausing misses no garbage: cycles made meanwhile by other threads wait until the last
    pause (pauses of concurrent clients nest) ends. On a backfill a page is being decoded most of the time, so the
    thread that writes the windows collects its young cycles itself once a window is written (``AnalyticsStream``).
    A collector that was disabled before stays disabled.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or ``None`` when it is not one (truncated, not JSON, another JSON value).

    orjson decodes the adAnalytics pages (up to 15,000 elements, several MB each) faster than stdlib ``json``
    (``benchmarks/README.md``). What orjson refuses but ``response.json()`` accepted (a UTF-8 BOM, UTF-16, NaN, lone
    surrogates) gets the stdlib decoder as before, so the bodies accepted and the retries of unreadable ones are
    unchanged.
    """
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        try:
            body = response.json()
        except ValueError:
            return None
    return body if isinstance(body, dict) else None


def error_code(response: httpx.Response) -> str | None:
    """LinkedIn's ``code`` of an error answer (``EXPIRED_ACCESS_TOKEN``, ...), when its body has one."""
    body = json_object(response)
    return body.get("code") if body else None


def http_error(response: httpx.Response, endpoint: str, api_version: str) -> LinkedInHTTPError:
    """The error an answer stands for: status, LinkedIn's code and message, request id, and what to do about a 426."""
    body = json_object(response)
    if body is not None:
        code, message = body.get("code"), str(body.get("message") or "")
    else:
        code, message = None, response.text[:200]
    hint = None
    if response.status_code == 426:
        hint = (
            f"LinkedIn-Version {api_version} is sunset or unknown; set LINKEDIN_API_VERSION to a current YYYYMM release"
        )
    return LinkedInHTTPError(
        response.status_code,
        endpoint,
        code=code,
        message=message,
        request_id=response.headers.get("x-li-request-id") or response.headers.get("x-li-uuid"),
        hint=hint,
        account_id=requested_account(response),
    )


_ACCOUNT_IN_PATH = re.compile(r"/adAccounts/(\d+)(?:/|$)")
_ACCOUNT_FACETS = re.compile(r"sponsoredAccount(?::|%3A)(\d+)")


def requested_account(response: httpx.Response) -> int | None:
    """The one ad account a request was for: ``/adAccounts/{id}/...``, or a single ``accounts`` facet URN."""
    try:
        url = response.request.url
    except RuntimeError:  # a response built without a request (tests)
        return None
    if found := _ACCOUNT_IN_PATH.search(url.path):
        return int(found.group(1))
    facets = set(_ACCOUNT_FACETS.findall(str(url.query, "ascii", "replace")))
    return int(facets.pop()) if len(facets) == 1 else None
