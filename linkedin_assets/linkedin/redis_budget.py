"""One LinkedIn request budget for every process of a deployment, kept in Redis.

LinkedIn's limits belong to the application and the member, not to a worker: when several Celery workers (or
several runs) sync at once, the number of requests in flight, the request rate and the back-off after a 429 must
hold across all of them. :class:`RedisBudget` implements :class:`~linkedin_assets.linkedin.budget.RequestBudget`
with three Redis keys under one namespace:

- ``<ns>:leases``: a sorted set of lease ids scored by their expiry (Redis server time, ms). A slot is a lease; a
  Lua script drops expired leases and adds one only while fewer than ``max_concurrency`` remain, so the check and
  the claim are one atomic step. A holder renews its lease every ``lease_ttl_s / 3`` while its request runs; a
  worker that is killed stops renewing, and its slots come back after ``lease_ttl_s``.
- ``<ns>:next``: the earliest time the next request may start (``1 / requests_per_second`` after the last one).
- ``<ns>:pause``: set by :meth:`RedisBudget.pause` with a TTL; while it exists nobody is granted a slot.

All times are Redis's own clock (``TIME``), so workers on machines with skewed clocks still agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from redis import asyncio as aioredis

__all__ = ["RedisBudget"]

# KEYS: leases, next, pause. ARGV: lease id, max concurrency, lease ttl ms, interval ms (0 = no rate limit).
# Returns {granted (1/0), wait ms hint, server time ms}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = redis.call('PTTL', KEYS[3])
if paused > 0 then
  return {0, paused, now}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= limit then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, -(tonumber(first[2]) - now), now}
end
local interval = tonumber(ARGV[4])
if interval > 0 then
  local nxt = tonumber(redis.call('GET', KEYS[2]) or '0')
  if nxt > now then
    return {0, nxt - now, now}
  end
  redis.call('SET', KEYS[2], now + interval, 'PX', interval + 60000)
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
return {1, 0, now}
"""

# KEYS: leases. ARGV: lease id, lease ttl ms. Extends a lease that still exists (XX: a lease that expired is gone).
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local renewed = redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return renewed
"""

# KEYS: pause. ARGV: pause ms. Lengthens the shared pause, never shortens it; returns its end (server time, ms).
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], now + ms, 'PX', ms)
  return now + ms
end
return tonumber(redis.call('GET', KEYS[1]))
"""


class RedisBudget:
    """A :class:`RequestBudget` shared through Redis by every process that uses the same ``url`` and ``namespace``.

    ``max_concurrency``: LinkedIn requests in flight across all processes. ``requests_per_second``: starts per
    second across all processes (``None``: no rate limit). ``lease_ttl_s``: how long the slot of a process that
    died without releasing it stays taken (live holders renew theirs). ``poll_s``: the longest a waiter sleeps
    before asking again while all slots are taken (a release is noticed within it). ``max_hold_s``: the longest one
    request keeps its slot renewed (a request takes at most the client's timeout, 60 s, per attempt).
    """

    def __init__(
        self,
        url: str,
        max_concurrency: int,
        requests_per_second: float | None = None,
        *,
        namespace: str = "linkedin_assets:budget",
        lease_ttl_s: float = 10.0,
        poll_s: float = 0.02,
        max_hold_s: float = 300.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if requests_per_second is not None and requests_per_second <= 0:
            raise ValueError(f"requests_per_second must be positive, got {requests_per_second}")
        if lease_ttl_s <= 0 or poll_s <= 0:
            raise ValueError("lease_ttl_s and poll_s must be positive")
        self._url = url
        self.max_concurrency = max_concurrency
        self.requests_per_second = requests_per_second
        self.namespace = namespace
        self.lease_ttl_ms = max(int(lease_ttl_s * 1000), 1)
        self._interval_ms = int(round(1000 / requests_per_second)) if requests_per_second else 0
        self._poll_s = poll_s
        self.max_hold_s = max_hold_s
        self._sleep = sleep
        self._keys = [f"{namespace}:leases", f"{namespace}:next", f"{namespace}:pause"]
        self._redis: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate: asyncio.Lock | None = None
        self._scripts: dict[str, Any] = {}
        self.in_flight = 0
        """Slots this object holds now (for tests and logs)."""
        self.max_in_flight = 0
        """The most slots this object held at once."""
        self.last_grant_ms: int | None = None
        """Redis server time (ms) at which the last slot was granted."""

    def __repr__(self) -> str:
        # The URL may carry a password: only the namespace and the limits are shown.
        return (
            f"RedisBudget(namespace={self.namespace!r}, max_concurrency={self.max_concurrency}, "
            f"requests_per_second={self.requests_per_second})"
        )

    # -- connection ---------------------------------------------------------------------------------------------
    def _client(self) -> aioredis.Redis:
        """The Redis client of the running event loop (a client's connections belong to the loop that made them)."""
        loop = asyncio.get_running_loop()
        if self._redis is None or self._loop is not loop:
            self._redis = aioredis.Redis.from_url(self._url)
            self._loop = loop
            self._gate = asyncio.Lock()
            self._scripts = {
                name: self._redis.register_script(text)
                for name, text in (("acquire", _ACQUIRE), ("renew", _RENEW), ("pause", _PAUSE))
            }
        return self._redis

    async def aclose(self) -> None:
        """Close this object's connections (slots held by it are released by their ``slot`` blocks first)."""
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
            self._loop = None

    async def __aenter__(self) -> RedisBudget:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- RequestBudget --------------------------------------------------------------------------------------------
    def slot(self) -> AbstractAsyncContextManager[None]:
        return self._slot()

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        lease = await self._acquire()
        renewer = asyncio.create_task(self._renew(lease))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1
            # Not awaited: the release must never wait on the renewer (a renewal after the release cannot bring the
            # lease back: it only extends a lease that still exists).
            renewer.cancel()
            # A cancelled request must still give its slot back: shield the release from the cancellation.
            await asyncio.shield(self._client().zrem(self._keys[0], lease))

    async def pause(self, seconds: float) -> None:
        """Nobody, in any process, is granted a slot for ``seconds``; the caller waits them out as well."""
        await self.hold(seconds)
        await self._sleep(seconds)

    # -- operator controls ------------------------------------------------------------------------------------------
    async def hold(self, seconds: float) -> int:
        """Stop every process from starting LinkedIn requests for ``seconds`` (an existing longer pause stays);
        returns the pause's end (Redis server time, ms). Requests already in flight finish."""
        self._client()
        return int(await self._scripts["pause"](keys=[self._keys[2]], args=[max(int(seconds * 1000), 1)]))

    async def resume(self) -> None:
        """End the shared pause now; waiters notice within 0.5 s."""
        await self._client().delete(self._keys[2])

    # -- inspection (tests, logs) ---------------------------------------------------------------------------------
    async def leases(self) -> int:
        """Slots taken right now across all processes (expired leases not counted)."""
        client = self._client()
        now_s, now_us = await client.time()
        now_ms = now_s * 1000 + now_us // 1000
        return await client.zcount(self._keys[0], f"({now_ms}", "+inf")

    async def pause_until_ms(self) -> int | None:
        """End of the current shared pause (Redis server time, ms), or ``None`` when there is none."""
        value = await self._client().get(self._keys[2])
        return int(value) if value is not None else None

    async def server_time_ms(self) -> int:
        now_s, now_us = await self._client().time()
        return now_s * 1000 + now_us // 1000

    async def reset(self) -> None:
        """Forget every lease, the rate state and any pause of this namespace (tests, or after an incident)."""
        await self._client().delete(*self._keys)

    # -- internals ----------------------------------------------------------------------------------------------
    async def _acquire(self) -> str:
        self._client()
        # One waiter per process asks Redis at a time, the others queue behind it in order (asyncio.Lock is FIFO):
        # a process with a hundred waiting requests then gets no bigger share of the freed slots than one with a
        # single waiting request, and Redis sees one poller per process instead of one per request.
        async with self._gate:
            return await self._claim()

    async def _claim(self) -> str:
        lease = uuid.uuid4().hex
        while True:
            granted, wait_ms, now_ms = await self._scripts["acquire"](
                keys=self._keys, args=[lease, self.max_concurrency, self.lease_ttl_ms, self._interval_ms]
            )
            if granted:
                self.last_grant_ms = int(now_ms)
                return lease
            if wait_ms >= 0:
                # a pause or the rate: the script knows when the next start is allowed; ask again after at most
                # 0.5 s all the same, so that a pause lifted by an operator (``reset``) is noticed soon
                await self._sleep(min(max(wait_ms, 1) / 1000, 0.5))
            else:
                # every slot is taken: a release can come at any moment; the oldest lease expires at -wait_ms at the
                # latest. Jitter keeps waiters of different processes from asking in lock-step.
                await self._sleep(min(-wait_ms / 1000, self._poll_s) * random.uniform(0.5, 1.0))

    async def _renew(self, lease: str) -> None:
        # A request holds its slot for at most max_hold_s: a holder stuck for longer (a bug, a hung connection) must
        # not keep a slot of the whole cluster forever; its lease then expires like a dead worker's.
        deadline = asyncio.get_running_loop().time() + self.max_hold_s
        with contextlib.suppress(Exception):  # a failed renewal must not replace the request's outcome
            while asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(self.lease_ttl_ms / 3000)
                await self._scripts["renew"](keys=[self._keys[0]], args=[lease, self.lease_ttl_ms])
