"""The shared LinkedIn budget in Redis, against the real Redis at ``LINKEDIN_ASSETS_TEST_REDIS`` (default
``redis://127.0.0.1:6379/15``): limits hold across processes, a killed holder's slot comes back, a pause set by one
process is honoured by another, and the rate holds across budgets.

Every test uses a namespace of its own and deletes it afterwards. Waits are on conditions with a deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
import redis

from linkedin_assets.linkedin.budget import RequestBudget
from linkedin_assets.linkedin.redis_budget import RedisBudget

REDIS_URL = os.environ.get("LINKEDIN_ASSETS_TEST_REDIS", "redis://127.0.0.1:6379/15")


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"linkedin_assets_test:{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(*(f"{name}:{key}" for key in ("leases", "next", "pause", "in_flight", "peak", "done")))
    client.close()


_HAMMER = """
import asyncio, sys
from redis import asyncio as aioredis
from linkedin_assets.linkedin.redis_budget import RedisBudget

url, ns, limit, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
PEAK = "if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end"

async def one(budget, client):
    async with budget.slot():
        now = await client.incr(ns + ":in_flight")
        await client.eval(PEAK, 1, ns + ":peak", now)
        await asyncio.sleep(0.005)  # the "request": long enough for other holders to overlap with it
        await client.decr(ns + ":in_flight")
    await client.incr(ns + ":done")

async def main():
    client = aioredis.Redis.from_url(url)
    async with RedisBudget(url, limit, namespace=ns) as budget:
        await asyncio.gather(*(one(budget, client) for _ in range(tasks)))
    await client.aclose()

asyncio.run(main())
"""
"""One process: ``tasks`` concurrent requests through the budget; each counts itself in and out of a shared
in-flight counter while it holds its slot, and the peak is kept in Redis."""


def test_redis_budget_is_a_request_budget() -> None:
    budget = RedisBudget("redis://:secret@127.0.0.1:6379/0", 2, 5.0)
    assert isinstance(budget, RequestBudget)
    assert "secret" not in repr(budget)


def test_concurrent_acquirers_in_several_processes_never_exceed_the_limit(namespace: str) -> None:
    limit, processes, tasks = 3, 4, 25
    workers = [
        subprocess.Popen([sys.executable, "-c", _HAMMER, REDIS_URL, namespace, str(limit), str(tasks)])
        for _ in range(processes)
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    client = redis.Redis.from_url(REDIS_URL)
    assert int(client.get(f"{namespace}:done")) == processes * tasks
    assert 1 <= int(client.get(f"{namespace}:peak")) <= limit
    assert int(client.get(f"{namespace}:in_flight")) == 0
    assert client.zcard(f"{namespace}:leases") == 0  # every slot was given back


_HOLD_FOREVER = """
import asyncio, sys
from linkedin_assets.linkedin.redis_budget import RedisBudget

async def main():
    budget = RedisBudget(sys.argv[1], 1, namespace=sys.argv[2], lease_ttl_s=0.5)
    async with budget.slot():
        print("held", flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def test_the_slot_of_a_killed_process_comes_back(namespace: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_FOREVER, REDIS_URL, namespace], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"

        async def check() -> None:
            async with RedisBudget(REDIS_URL, 1, namespace=namespace, lease_ttl_s=0.5) as budget:
                # The live holder renews its 0.5 s lease: after three lease lifetimes it is still the one in use.
                deadline = await budget.server_time_ms() + 1500
                while await budget.server_time_ms() < deadline:
                    assert await budget.leases() == 1
                    await asyncio.sleep(0.1)
                holder.send_signal(signal.SIGKILL)
                holder.wait(timeout=10)
                # Nobody releases the dead holder's slot; its lease expires and the slot is granted again.
                async with asyncio.timeout(10):
                    async with budget.slot():
                        assert await budget.leases() == 1

        asyncio.run(check())
    finally:
        holder.kill()
        holder.wait()


_PAUSE = """
import asyncio, sys
from linkedin_assets.linkedin.redis_budget import RedisBudget

async def main():
    budget = RedisBudget(sys.argv[1], 4, namespace=sys.argv[2])
    await budget.pause(float(sys.argv[3]))

asyncio.run(main())
"""


def test_a_pause_set_by_one_process_holds_up_another(namespace: str) -> None:
    async def check() -> None:
        async with RedisBudget(REDIS_URL, 4, namespace=namespace) as budget:
            pauser = await asyncio.create_subprocess_exec(sys.executable, "-c", _PAUSE, REDIS_URL, namespace, "1.5")
            try:
                async with asyncio.timeout(30):
                    while (until := await budget.pause_until_ms()) is None:
                        await asyncio.sleep(0.01)
                    async with budget.slot():
                        granted = budget.last_grant_ms
                    assert granted is not None and granted >= until  # by Redis's own clock
                    assert await pauser.wait() == 0
            finally:
                if pauser.returncode is None:
                    pauser.kill()
                    await pauser.wait()

    asyncio.run(check())


def test_the_rate_holds_across_budgets(namespace: str) -> None:
    rate = 20.0  # one start per 50 ms

    async def check() -> list[int]:
        grants: list[int] = []
        first = RedisBudget(REDIS_URL, 8, rate, namespace=namespace)
        second = RedisBudget(REDIS_URL, 8, rate, namespace=namespace)

        async def one(budget: RedisBudget) -> None:
            async with budget.slot():
                grants.append(budget.last_grant_ms)

        await asyncio.gather(*(one(b) for _ in range(6) for b in (first, second)))
        await first.aclose()
        await second.aclose()
        return grants

    grants = sorted(asyncio.run(check()))
    assert len(grants) == 12
    assert all(later - earlier >= 50 for earlier, later in zip(grants, grants[1:], strict=False))


def test_a_cancelled_request_gives_its_slot_back(namespace: str) -> None:
    async def check() -> None:
        async with RedisBudget(REDIS_URL, 1, namespace=namespace) as budget:
            entered = asyncio.Event()

            async def hold() -> None:
                async with budget.slot():
                    entered.set()
                    await asyncio.Event().wait()

            task = asyncio.create_task(hold())
            await entered.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await budget.leases() == 0

    asyncio.run(check())


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RedisBudget(REDIS_URL, 0)
    with pytest.raises(ValueError):
        RedisBudget(REDIS_URL, 1, 0)


def test_an_operators_hold_stops_everyone_until_resumed(namespace: str) -> None:
    async def check() -> None:
        async with (
            RedisBudget(REDIS_URL, 2, namespace=namespace) as operator,
            RedisBudget(REDIS_URL, 2, namespace=namespace) as worker,
        ):
            until = await operator.hold(600)
            waiting = asyncio.create_task(worker.slot().__aenter__())
            # still waiting while the hold stands: the budget reports no lease taken
            for _ in range(5):
                await asyncio.sleep(0.05)
                assert not waiting.done() and await worker.leases() == 0
            await operator.resume()
            async with asyncio.timeout(10):
                await waiting
            assert worker.last_grant_ms < until
            assert await worker.leases() == 1

    asyncio.run(check())
