"""The layers under the client's ``httpx.AsyncClient``, outermost first (:func:`client_transport`):

- :class:`BudgetTransport`: each request holds a slot of the :class:`~.budget.RequestBudget` (concurrency, rate,
  the pause after a 429) from before it is sent until its whole body is read;
- :class:`RecordingTransport`: counts each answer of the API in :class:`~.stats.RequestStats`, with a debug line;
- the network: httpx's own transport (or one a test passes).

Both layers read the whole body before they return, so the slot covers the download and the byte count is exact.
"""

from __future__ import annotations

import functools
import logging
import ssl
import time
import urllib.request

import httpx

from .budget import RequestBudget
from .stats import RequestStats, endpoint_name

__all__ = ["BudgetTransport", "RecordingTransport", "client_transport"]


def client_transport(
    api_base_url: str,
    budget: RequestBudget,
    stats: RequestStats,
    logger: logging.Logger,
    network: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncBaseTransport:
    """The budget's slot around the stats around ``network``; without one, httpx's transport with one shared TLS
    context and the proxy the environment names for the API (what httpx uses for a client without a transport)."""
    if network is None:
        network = httpx.AsyncHTTPTransport(verify=_tls_context(), proxy=_environment_proxy(api_base_url))
    return BudgetTransport(RecordingTransport(network, stats, logger, api_base_url), budget)


class BudgetTransport(httpx.AsyncBaseTransport):
    """Holds a slot of ``budget`` for each request (of the API or the OAuth refresh) until its body is read."""

    def __init__(self, transport: httpx.AsyncBaseTransport, budget: RequestBudget) -> None:
        self._transport = transport
        self._budget = budget

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self._budget.slot():
            return await _read_whole(self._transport, request)

    async def aclose(self) -> None:
        await self._transport.aclose()


class RecordingTransport(httpx.AsyncBaseTransport):
    """Counts every answer to a request under ``api_base_url`` in ``stats`` (``requests``, ``by_endpoint``,
    ``bytes_received``) and logs it at debug level; requests elsewhere (the OAuth host) pass uncounted.

    A 401 or a 429 is counted like a 200; a request that got no answer (a timeout, a refused connection) is not.
    """

    def __init__(
        self, transport: httpx.AsyncBaseTransport, stats: RequestStats, logger: logging.Logger, api_base_url: str
    ) -> None:
        self._transport = transport
        self._stats = stats
        self._logger = logger
        self._base = api_base_url.rstrip("/") + "/"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        response = await _read_whole(self._transport, request)
        url = str(request.url)
        if url.startswith(self._base):
            path = url[len(self._base) :].split("?", 1)[0]
            endpoint = endpoint_name(path)
            self._stats.requests += 1
            self._stats.by_endpoint[endpoint] = self._stats.by_endpoint.get(endpoint, 0) + 1
            self._stats.bytes_received += len(response.content)
            self._logger.debug(
                "%s /%s -> %d (%d B, %.3f s)",
                "POST (tunneled GET)" if "X-HTTP-Method-Override" in request.headers else "GET",
                path,
                response.status_code,
                len(response.content),
                time.monotonic() - started,
            )
        return response

    async def aclose(self) -> None:
        await self._transport.aclose()


async def _read_whole(transport: httpx.AsyncBaseTransport, request: httpx.Request) -> httpx.Response:
    """``transport``'s answer to ``request`` with its body read (the connection goes back to the pool)."""
    response = await transport.handle_async_request(request)
    try:
        await response.aread()
    except BaseException:
        await response.aclose()
        raise
    return response


def _environment_proxy(url: str) -> str | None:
    """The proxy ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` name for ``url``, unless ``NO_PROXY`` exempts its host."""
    target = httpx.URL(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(target.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(target.host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``), made once per process.

    Each new context loads the CA bundle (its cost: ``benchmarks/README.md``, "The layered client"); a sync
    opens a client per asset and per shard stream.
    """
    return httpx.create_ssl_context()
