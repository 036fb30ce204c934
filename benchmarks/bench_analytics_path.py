"""CPU per metric row of the analytics data path, stage by stage, on ``large``-profile responses.

The in-process simulator (``large`` profile, ``--accounts`` accounts) answers the CAMPAIGN and CREATIVE daily plans
of the last ``--days`` days once; its responses are kept (``--cache``, a pickle in /tmp) and replayed from memory
through an httpx transport, so the figures are the client's CPU only (no simulator, no sockets). Stages, each
timed in CPU seconds (``time.process_time``) and repeated ``--repeat`` times (the best and the median are printed):

- ``decode``: ``orjson.loads`` alone of every adAnalytics body, the garbage collector running (a reference: the
  client decodes the same bodies first, since 2026-11-29 with the collector paused);
- ``client``: ``LinkedInClient.iter_analytics`` over the replayed responses (request building, decode, element
  validation, chunk merge): everything until a window is handed over;
- ``frame``: the assets' conversion of every window (``metrics_frame``, owner columns included);
- ``vectors``: the warehouse's column conversion of every frame into the values psycopg's binary COPY takes (no
  database; psycopg encodes them inside ``write``);
- ``write`` (``--write``): ``Warehouse.write`` of the frames, streamed, into a throwaway PostgreSQL schema (the
  client side's CPU only: the server's is another process).

    .venv/bin/python benchmarks/bench_analytics_path.py [--accounts 2] [--days 75] [--repeat 3] [--write]
        [--profile-stage client|frame|vectors]   # cProfile of one stage, top functions by own time
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import datetime as dt
import os
import pickle
import pstats
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from linkedin_assets.defs.assets.metrics import metrics_frame
from linkedin_assets.defs.resources import linkedin_resource
from linkedin_assets.linkedin.catalogue import DAILY_METRICS
from linkedin_assets.linkedin.client import ClientConfig, LinkedInClient
from linkedin_assets.linkedin.plan import AnalyticsPlan, entity_spans, merge_plans, plan_daily
from linkedin_assets.settings import load_settings
from linkedin_assets.warehouse.backends import _batch_chunks, _batch_columns
from linkedin_assets.warehouse.columns import python_values
from linkedin_assets.warehouse.schema import table_spec

PG_URL = os.environ.get("LINKEDIN_ASSETS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
KEYS = {"CAMPAIGN": ("campaign_id", "campaign_daily_metrics"), "CREATIVE": ("creative_id", "creative_daily_metrics")}


def client_config(env: dict[str, str], **overrides: Any) -> ClientConfig:
    """The client configuration the project builds from the ``LINKEDIN_*`` values ``env``, then ``overrides``."""
    return dataclasses.replace(linkedin_resource(load_settings(env), env_vars=False).config(), **overrides)


# --- capturing and replaying the simulator's responses ---------------------------------------------------------


def _key(request: httpx.Request) -> tuple[str, str, bytes]:
    return request.method, str(request.url), request.content


class _Recording(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.seen: dict[tuple[str, str, bytes], tuple[int, list[tuple[bytes, bytes]], bytes]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in (b"content-length", b"content-encoding")]
        self.seen[_key(request)] = (response.status_code, headers, body)
        return httpx.Response(response.status_code, headers=headers, content=body, request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Replay(httpx.AsyncBaseTransport):
    def __init__(self, seen: dict[tuple[str, str, bytes], tuple[int, list, bytes]]) -> None:
        self.seen = seen

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        status, headers, body = self.seen[_key(request)]
        return httpx.Response(status, headers=headers, content=body, request=request)


def capture(accounts: int, days: int) -> dict[str, Any]:
    """Plans, owners and every response of the CAMPAIGN and CREATIVE daily plans of the last ``days`` days."""
    from linkedin_assets.simulator import SimulatorConfig, SimulatorServer

    today = dt.date(2026, 11, 1)
    with SimulatorServer(SimulatorConfig(profile="large", seed=1, accounts=accounts, today=today)) as sim:
        env = sim.client_env()
        config = client_config(env, max_concurrency=4)
        recording = _Recording()

        async def run() -> dict[str, Any]:
            async with LinkedInClient(config, transport=recording) as client:
                found = await client.ad_accounts()
                plans: dict[str, list] = {"CAMPAIGN": [], "CREATIVE": []}
                owners: dict[str, dict[int, dict[str, int]]] = {"CAMPAIGN": {}, "CREATIVE": {}}
                end = sim.state.dataset.today - dt.timedelta(days=1)
                start = end - dt.timedelta(days=days - 1)
                for account in found:
                    campaigns = [c.to_row() for c in await client.campaigns(account.id)]
                    creatives = [c.to_row() for c in await client.creatives(account.id)]
                    spans = entity_spans(campaigns, creatives)
                    for pivot in plans:
                        plans[pivot].append(plan_daily(account.urn, pivot, spans[pivot], start, end, DAILY_METRICS))
                    owners["CAMPAIGN"].update({c["id"]: {"account_id": c["account_id"]} for c in campaigns})
                    owners["CREATIVE"].update(
                        {c["id"]: {"account_id": c["account_id"], "campaign_id": c["campaign_id"]} for c in creatives}
                    )
                merged = {pivot: merge_plans(*parts) for pivot, parts in plans.items()}
                for plan in merged.values():  # the responses of every planned request (and of any re-ask)
                    async for _ in client.iter_analytics(plan):
                        pass
                return {"plans": merged, "owners": owners}

        captured = asyncio.run(run())
    captured["responses"] = recording.seen
    captured["env"] = env
    return captured


# --- the stages ----------------------------------------------------------------------------------------------


def _config(captured: dict[str, Any]) -> ClientConfig:
    return client_config(captured["env"], max_concurrency=4)


def stage_decode(captured: dict[str, Any]) -> int:
    count = 0
    for (_, url, _), (_, _, body) in captured["responses"].items():
        if "/adAnalytics" in url:
            count += len(orjson.loads(body)["elements"])
    return count


def stage_client(captured: dict[str, Any]) -> dict[str, list]:
    """Every window of both plans as the client hands it over."""
    replay = _Replay(captured["responses"])

    async def run() -> dict[str, list]:
        windows: dict[str, list] = {}
        async with LinkedInClient(_config(captured), transport=replay) as client:
            for pivot, plan in captured["plans"].items():
                windows[pivot] = [window async for window in client.iter_analytics(plan)]
        return windows

    return asyncio.run(run())


def stage_frame(captured: dict[str, Any], windows: dict[str, list]) -> dict[str, list]:
    return {
        pivot: [metrics_frame(window, KEYS[pivot][0], captured["owners"][pivot]) for window in parts]
        for pivot, parts in windows.items()
    }


def stage_vectors(frames: dict[str, list]) -> int:
    size = 0
    for pivot, parts in frames.items():
        spec = table_spec(KEYS[pivot][1])
        for frame in parts:
            columns = _batch_columns(spec, frame)
            for vectors in _batch_chunks(spec, frame, columns):
                size += sum(len(python_values(column)) for column in vectors)
    return size


def stage_write(frames: dict[str, list], schema: str) -> int:
    from linkedin_assets.warehouse import open_warehouse

    written = 0
    with open_warehouse(PG_URL, schema) as wh:
        wh.ensure_schema()
        for pivot, parts in frames.items():
            table = KEYS[pivot][1]
            account_ids = sorted({int(a) for frame in parts for a in frame["account_id"]})
            dates = [d for frame in parts for d in (frame["date"].min(), frame["date"].max())]
            result = wh.write(
                table, iter(parts), account_ids=account_ids, date_range=(min(dates), max(dates)), run_id="bench"
            )
            written += result.rows
    return written


def _cpu(call: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    started = time.process_time()
    result = call(*args)
    return time.process_time() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2)
    parser.add_argument("--days", type=int, default=75)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="also write into a throwaway PostgreSQL schema")
    parser.add_argument("--profile-stage", choices=["client", "frame", "vectors"], default=None)
    parser.add_argument("--cache", default=None, help="pickle of the captured responses (default: in /tmp)")
    args = parser.parse_args()

    cache = Path(args.cache or f"/tmp/bench_analytics_path_{args.accounts}a_{args.days}d.pickle")
    if cache.exists():
        captured = pickle.loads(cache.read_bytes())
    else:
        started = time.perf_counter()
        captured = capture(args.accounts, args.days)
        cache.write_bytes(pickle.dumps(captured, protocol=pickle.HIGHEST_PROTOCOL))
        print(f"captured the simulator's responses in {time.perf_counter() - started:.1f} s -> {cache}")
    analytics = [body for (_, url, _), (_, _, body) in captured["responses"].items() if "/adAnalytics" in url]
    plans: dict[str, AnalyticsPlan] = captured["plans"]
    print(
        f"large profile, {args.accounts} account(s), {args.days} days: {sum(p.request_count for p in plans.values())}"
        f" planned adAnalytics requests, {len(analytics)} responses, {sum(map(len, analytics)) / 1e6:.1f} MB"
    )

    if args.profile_stage:
        windows = stage_client(captured)
        frames = stage_frame(captured, windows)
        stage: tuple[Callable[..., Any], tuple] = {
            "client": (stage_client, (captured,)),
            "frame": (stage_frame, (captured, windows)),
            "vectors": (stage_vectors, (frames,)),
        }[args.profile_stage]
        profiler = cProfile.Profile()
        profiler.runcall(stage[0], *stage[1])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return

    timings: dict[str, list[float]] = {"decode": [], "client": [], "frame": [], "vectors": []}
    if args.write:
        timings["write"] = []
    rows = 0
    for _ in range(args.repeat):
        seconds, _ = _cpu(stage_decode, captured)
        timings["decode"].append(seconds)
        seconds, windows = _cpu(stage_client, captured)
        timings["client"].append(seconds)
        seconds, frames = _cpu(stage_frame, captured, windows)
        timings["frame"].append(seconds)
        windows = None
        rows = sum(len(frame) for parts in frames.values() for frame in parts)
        seconds, _ = _cpu(stage_vectors, frames)
        timings["vectors"].append(seconds)
        if args.write:
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            try:
                seconds, written = _cpu(stage_write, frames, schema)
                assert written == rows, (written, rows)
                timings["write"].append(seconds)
            finally:
                import psycopg

                with psycopg.connect(PG_URL, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        frames = None

    print(f"{rows:,} metric rows; CPU seconds (best / median of {args.repeat}) and µs per row (best)")
    print(f"{'stage':<10}{'best s':>9}{'median s':>10}{'µs/row':>9}")
    path = 0.0
    for stage, values in timings.items():
        best = min(values)
        if stage in ("client", "frame", "vectors"):
            path += best
        print(f"{stage:<10}{best:>9.2f}{statistics.median(values):>10.2f}{best / rows * 1e6:>9.1f}")
    print(
        f"{'path':<10}{path:>9.2f}{'':>10}{path / rows * 1e6:>9.1f}   (client + frame + vectors; decode is in client)"
    )


if __name__ == "__main__":
    main()
