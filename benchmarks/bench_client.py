"""Sync the ``medium`` profile through the client against an in-process simulator with 100 ms latency.

Fetches every entity of every account, CAMPAIGN and CREATIVE daily analytics over the profile's 90 days, and
account-level MONTHLY demographics for the 8 MEMBER_* pivots over the covered months; then prints requests
made against the lower bound per endpoint, wall time, CPU time and peak RSS.

``--decode`` instead measures, in-process, what the client's decode path relies on: stdlib ``json`` against
``orjson`` on a 15,000-element adAnalytics page, decode + parse with the cyclic collector running or paused (with
``--heap-objects`` long-lived objects in the process, as a sync's Dagster process holds), and the cost of one TLS
context.

    .venv/bin/python benchmarks/bench_client.py [--latency-ms 100] [--concurrency 4] [--profile medium]
    .venv/bin/python benchmarks/bench_client.py --decode [--heap-objects 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import math
import resource
import statistics
import time
from typing import Any

import httpx
import orjson

from linkedin_assets.defs.resources import linkedin_resource
from linkedin_assets.linkedin import client as client_module
from linkedin_assets.linkedin.catalogue import DAILY_METRICS, DEMOGRAPHIC_METRICS
from linkedin_assets.linkedin.client import ClientConfig, LinkedInClient
from linkedin_assets.linkedin.fields import MEMBER_PIVOTS
from linkedin_assets.linkedin.models import parse_analytics_elements
from linkedin_assets.linkedin.plan import entity_spans, merge_plans, plan_daily, plan_monthly
from linkedin_assets.settings import load_settings
from linkedin_assets.simulator import SimulatorConfig, SimulatorServer


def client_config(env: dict[str, str], **overrides: Any) -> ClientConfig:
    """The client configuration the project builds from the ``LINKEDIN_*`` values ``env``, then ``overrides``."""
    return dataclasses.replace(linkedin_resource(load_settings(env), env_vars=False).config(), **overrides)


async def sync(client: LinkedInClient, start, end) -> tuple[dict[str, int], int, int]:
    """The whole sync; returns (lower bound per endpoint, analytics rows, plan size)."""
    accounts = await client.ad_accounts()
    per_account = await asyncio.gather(
        *(
            asyncio.gather(client.campaign_groups(a.id), client.campaigns(a.id), client.creatives(a.id))
            for a in accounts
        )
    )
    parts = []
    for account, (_, campaigns, creatives) in zip(accounts, per_account, strict=True):
        spans = entity_spans([c.to_row() for c in campaigns], [c.to_row() for c in creatives])
        for pivot in ("CAMPAIGN", "CREATIVE"):
            parts.append(plan_daily(account.urn, pivot, spans[pivot], start, end, DAILY_METRICS))
        for pivot in MEMBER_PIVOTS:
            parts.append(plan_monthly("accounts", [account.urn], pivot, start, end, DEMOGRAPHIC_METRICS))
    plan = merge_plans(*parts)
    rows = await client.run_analytics(plan)

    def pages(n: int, size: int) -> int:
        return max(1, math.ceil(n / size))

    bound = {
        "adAccountUsers": pages(len(accounts), client_module.OFFSET_PAGE_SIZE),
        "adAccounts": pages(len(accounts), client_module.ACCOUNT_BATCH_SIZE),
        "adCampaignGroups": sum(pages(len(g), client_module.CURSOR_PAGE_SIZE) for g, _, _ in per_account),
        "adCampaigns": sum(pages(len(c), client_module.CURSOR_PAGE_SIZE) for _, c, _ in per_account),
        "creatives": sum(pages(len(c), client_module.CREATIVES_PAGE_SIZE) for _, _, c in per_account),
        "adAnalytics": plan.request_count,
    }
    print(plan.describe())
    return bound, len(rows), plan.request_count


def _cpu_ms(work, repeat: int = 5) -> float:
    """The least CPU milliseconds of ``repeat`` runs of ``work()``."""
    times = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        times.append((time.process_time() - started) * 1000)
    return min(times)


def decode_figures(heap_objects: int) -> None:
    """The figures behind the decode path's choices (orjson, the paused collector, one TLS context per process)."""
    metrics = DAILY_METRICS[:18]
    day = {"year": 2026, "month": 3, "day": 9}
    page = orjson.dumps({"elements": [
        {"pivotValues": [f"urn:li:sponsoredCreative:{i}"], "dateRange": {"start": day, "end": day},
         **{m: (i * 7 + n) % 1000 for n, m in enumerate(metrics)}} for i in range(15_000)]})  # fmt: skip
    heap = [{"n": i} for i in range(heap_objects)]  # long-lived objects a full collection must traverse
    collections = []
    gc.callbacks.append(lambda phase, info: collections.append(info["generation"]) if phase == "start" else None)

    def parse(loads) -> None:
        parse_analytics_elements(loads(page)["elements"], metrics)

    print(f"adAnalytics page: 15,000 elements of {len(metrics)} metrics, {len(page) / 1e6:.1f} MB;"
          f" {heap_objects:,} long-lived objects in the process; least CPU of 5 runs")  # fmt: skip
    print(f"  decode, json.loads:                {_cpu_ms(lambda: json.loads(page)):8.1f} ms")
    print(f"  decode, orjson.loads:              {_cpu_ms(lambda: orjson.loads(page)):8.1f} ms")
    collections.clear()
    running = _cpu_ms(lambda: parse(orjson.loads))
    ran = len(collections)
    gc.disable()
    try:
        paused = _cpu_ms(lambda: parse(orjson.loads))
    finally:
        gc.enable()
    print(f"  decode + parse, collector running: {running:8.1f} ms ({ran} collections in 5 runs)")
    print(f"  decode + parse, collector paused:  {paused:8.1f} ms")
    contexts = []
    for _ in range(20):
        started = time.process_time()
        httpx.create_ssl_context()
        contexts.append((time.process_time() - started) * 1000)
    print(f"  one TLS context (httpx.create_ssl_context): {statistics.mean(contexts):.1f} ms CPU (mean of 20)")
    del heap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="medium")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--decode", action="store_true", help="the decode path's figures instead of a sync")
    parser.add_argument("--heap-objects", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.decode:
        decode_figures(args.heap_objects)
        return

    with SimulatorServer(SimulatorConfig(profile=args.profile, seed=1, latency_ms=args.latency_ms)) as sim:
        dataset = sim.state.dataset
        config = client_config(sim.client_env(), max_concurrency=args.concurrency)

        async def run() -> tuple[dict[str, int], int, LinkedInClient]:
            async with LinkedInClient(config) as client:
                bound, rows, _ = await sync(client, dataset.history_start, dataset.today)
                return bound, rows, client

        started, cpu_started = time.perf_counter(), time.process_time()
        bound, rows, client = asyncio.run(run())
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        made = sim.state.counts_by_endpoint()

    print(f"\nprofile={args.profile} latency={args.latency_ms:.0f} ms concurrency={args.concurrency}")
    print(f"{'endpoint':<20}{'requests':>10}{'lower bound':>13}")
    for endpoint in sorted(set(bound) | set(made)):
        print(f"{endpoint:<20}{made.get(endpoint, 0):>10}{bound.get(endpoint, 0):>13}")
    print(f"{'total':<20}{sum(made.values()):>10}{sum(bound.values()):>13}")
    print(f"analytics rows: {rows}, resplits: {client.stats.resplits}, retries: {client.stats.retries}")
    print(f"bytes received: {client.stats.bytes_received / 1e6:.1f} MB")
    print(f"wall: {wall:.2f} s")
    print(f"CPU (client and in-process simulator): {cpu:.2f} s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
