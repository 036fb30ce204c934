"""How many LinkedIn requests may be in flight, how fast they may start, and the pause a 429 imposes on all of them.

The client asks its :class:`RequestBudget` for a slot around every HTTP request and reports every 429 to it, so
one object holds the three guarantees (concurrency, rate, shared back-off). :class:`LocalBudget` is the in-process
default; a budget shared by several processes (e.g. in Redis) implements the same protocol.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol, runtime_checkable

__all__ = ["LocalBudget", "RequestBudget"]


@runtime_checkable
class RequestBudget(Protocol):
    """What the client needs from a limiter."""

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Wait for a concurrency slot, a rate token and the end of any pause; held while the request runs."""
        ...

    async def pause(self, seconds: float) -> None:
        """A 429 was seen: nobody starts a request for ``seconds`` (the caller waits them out too)."""
        ...


class LocalBudget:
    """The budget of one event loop: an asyncio semaphore, a token bucket and a pause gate.

    ``requests_per_second``: at most this many requests start per second (``None``: no rate limit); the bucket holds
    one token, so requests are spaced ``1 / rate`` seconds apart rather than sent in bursts.
    ``sleep`` and ``clock`` are injectable so that tests need no real waiting.
    """

    def __init__(
        self,
        max_concurrency: int,
        requests_per_second: float | None = None,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if requests_per_second is not None and requests_per_second <= 0:
            raise ValueError(f"requests_per_second must be positive, got {requests_per_second}")
        self.max_concurrency = max_concurrency
        self.requests_per_second = requests_per_second
        self._sleep = sleep
        self._clock = clock
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._interval = 1.0 / requests_per_second if requests_per_second else None
        self._next_start = 0.0
        self._open = asyncio.Event()
        self._open.set()
        self._pauses = 0
        self.in_flight = 0
        """Requests holding a slot now (for tests and logs)."""
        self.max_in_flight = 0
        """The most requests that held a slot at once."""

    def __repr__(self) -> str:
        return f"LocalBudget(max_concurrency={self.max_concurrency}, requests_per_second={self.requests_per_second})"

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        await self._open.wait()
        async with self._semaphore:
            await self._open.wait()  # a pause may have begun while this request waited for the semaphore
            await self._take_token()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                yield
            finally:
                self.in_flight -= 1

    def slot(self) -> AbstractAsyncContextManager[None]:
        return self._slot()

    async def _take_token(self) -> None:
        if self._interval is None:
            return
        # Reserve the next start time without holding a lock across the wait: each caller gets its own instant.
        now = self._clock()
        start = max(now, self._next_start)
        self._next_start = start + self._interval
        if start > now:
            await self._sleep(start - now)

    async def pause(self, seconds: float) -> None:
        self._pauses += 1
        self._open.clear()
        try:
            await self._sleep(seconds)
        finally:
            self._pauses -= 1
            if self._pauses == 0:
                self._open.set()
