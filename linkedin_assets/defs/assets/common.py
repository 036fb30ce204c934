"""What every LinkedIn asset shares: key prefix and group, the API source asset, request metadata, the analytics
stream (LinkedIn responses -> warehouse frames, window by window) and the account shards of the metric assets.

The metric assets are graph-backed: ``plan_shards`` splits the active accounts into shards (``accounts_per_step``,
0 = one shard of every account), ``sync_shard`` runs once per shard (a dynamic output) and returns that shard's
``WarehouseBatch``, which the warehouse IO manager writes in a transaction of its own together with the write's record,
and ``summarize`` (after every shard) reads those records back from the warehouse and reports them, added up, as the
asset's materialization. On the in-process executor the shards run one after the other in one process (and the
accounts of a shard concurrently, under the client's budget); on Celery each shard is a step a different worker can
take.
"""

import asyncio
import contextlib
import gc
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import dagster as dg
import numpy as np
import pandas as pd

from linkedin_assets.defs.io_managers.warehouse import (
    LINKEDIN_WAIT,
    TABLE_METADATA_KEY,
    WarehouseResource,
    run_lineage,
    write_metadata,
    write_summary,
)
from linkedin_assets.defs.resources import LinkedInResource, SyncSettings
from linkedin_assets.linkedin.catalogue import DECIMAL_METRICS
from linkedin_assets.linkedin.client import LinkedInClient
from linkedin_assets.linkedin.errors import AccountFailure, LinkedInError, account_failure
from linkedin_assets.linkedin.models import AnalyticsWindow
from linkedin_assets.linkedin.plan import AnalyticsPlan
from linkedin_assets.settings import LINKEDIN_POOL
from linkedin_assets.warehouse import Warehouse, WarehouseBatch, Writes

T = TypeVar("T")

KEY_PREFIX = "linkedin_ads"
GROUP = "linkedin_ads"

linkedin_marketing_api = dg.AssetSpec(
    key=[KEY_PREFIX, "linkedin_marketing_api"],
    group_name=GROUP,
    kinds={"linkedin"},
    description="The LinkedIn Marketing API (versioned /rest), or the built-in simulator of it.",
)

WAREHOUSE_ASSET: dict[str, Any] = {
    "key_prefix": [KEY_PREFIX],
    "group_name": GROUP,
    "io_manager_key": "warehouse_io",
}
"""Decorator arguments of every asset that is a warehouse table."""
API_ASSET: dict[str, Any] = {**WAREHOUSE_ASSET, "pool": LINKEDIN_POOL, "kinds": {"linkedin", "sql"}}
"""... and of those fetched from the LinkedIn API (one run at a time holds the ``linkedin_api`` pool)."""
METRIC_GRAPH_ASSET: dict[str, Any] = {
    "key_prefix": [KEY_PREFIX],
    "group_name": GROUP,
    "kinds": {"linkedin", "sql"},
    "backfill_policy": dg.BackfillPolicy.single_run(),
}
"""Decorator arguments of the graph-backed metric assets (the pool is on their ``sync_shard`` op)."""

QUEUE_WINDOWS = 2
"""Windows converted ahead of the warehouse write: the network keeps going while a frame is COPYed, and memory holds
at most this many windows in the queue (plus the client's read-ahead, ``max_concurrency + 1``)."""


def fetch(
    context: dg.AssetExecutionContext, linkedin: LinkedInResource, work: Callable[[LinkedInClient], Awaitable[T]]
) -> T:
    """Run ``work`` with a fresh client and attach the request counts to the materialization."""

    async def main() -> T:
        async with linkedin.client(client_logger(context.log)) as client:
            try:
                return await work(client)
            finally:
                stats = client.stats
                context.log.info(
                    f"LinkedIn requests: {stats.requests} made, {stats.retries} retried, {stats.throttled} throttled (429)"
                )
                context.add_output_metadata({f"linkedin/{k}": v for k, v in stats.as_metadata().items()})

    return asyncio.run(main())


class _Forward(logging.Handler):
    def __init__(self, target: logging.Logger) -> None:
        super().__init__(logging.INFO)
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        self.target.log(record.levelno, record.getMessage())


def client_logger(target: logging.Logger) -> logging.Logger:
    """A logger for the client that passes INFO and above to ``target`` (``context.log``).

    The client logs every request at DEBUG; through ``context.log`` each line would be an event in the run's event
    log (a database write each: a backfill makes thousands of requests), so DEBUG stays out.
    """
    return _private_logger(_Forward(target))


def _private_logger(handler: logging.Handler) -> logging.Logger:
    """An INFO logger outside the logging registry (nothing global to clean up) writing only to ``handler``."""
    logger = logging.Logger("linkedin_assets.linkedin", logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    return logger


async def gather_per_account(
    account_ids: Iterable[int],
    call: Callable[[int], Awaitable[list[T]]],
    failures: dict[int, dict[str, Any]] | None = None,
) -> dict[int, list[T]]:
    """``call`` for every account at once (the client bounds the requests in flight).

    With ``failures``, an account LinkedIn refuses (:func:`~linkedin_assets.linkedin.errors.account_failure`) is
    noted there and left out of the result, and the other accounts go on; when every account fails, the first
    error is raised (there is nothing to write). Any other error is raised as it is.
    """
    ids = list(account_ids)
    errors: list[LinkedInError] = []

    async def one(account_id: int) -> list[T]:
        try:
            return await call(account_id)
        except LinkedInError as exc:
            failure = account_failure(exc, account_id)
            if failure is None or failures is None:
                raise
            failures[account_id] = failure.as_record()
            errors.append(exc)
            return []

    results = await asyncio.gather(*(one(account_id) for account_id in ids))
    if ids and len(errors) == len(ids):
        raise errors[0]
    return {a: r for a, r in zip(ids, results, strict=True) if failures is None or a not in failures}


def log_failures(log: logging.Logger, failures: Mapping[int, Mapping[str, Any]]) -> None:
    """One warning per account left out, with LinkedIn's answer."""
    for account_id, record in failures.items():
        failure = AccountFailure.from_record(dict(record))
        log.warning(
            f"ad account {account_id}: {failure.describe()}; left out (its rows stay as they were), the other "
            "accounts go on"
        )


def active_account_ids(accounts: pd.DataFrame, linkedin: LinkedInResource) -> list[int]:
    """Accounts still returned by LinkedIn and inside ``LINKEDIN_ACCOUNT_IDS`` when that is set."""
    if accounts.empty:
        return []
    live = accounts[accounts["removed_at"].isna()]["id"].astype(int).tolist()
    wanted = set(linkedin.config().account_ids)
    return sorted(a for a in live if not wanted or a in wanted)


def rows_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Plain rows -> DataFrame; Decimals stay exact (object columns)."""
    return pd.DataFrame.from_records(list(rows))


def markdown_list(title: str, items: Mapping[Any, Any]) -> dg.MetadataValue:
    lines = [f"| {title} | rows |", "| --- | ---: |", *(f"| {k} | {v} |" for k, v in items.items())]
    return dg.MetadataValue.md("\n".join(lines))


# ------------------------------------------------------------------------------------------ the analytics stream


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Stopped(Exception):
    """The consumer went away: the producer stops fetching."""


_END = object()


class _Collected(logging.Handler):
    """Keeps the client's log records of the producer thread; the consumer re-emits them through ``context.log``."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: deque[logging.LogRecord] = deque()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class AnalyticsStream:
    """An analytics plan as an iterable of DataFrames, one per window, for ``WarehouseBatch(frames=...)``.

    Iterating starts a producer thread that runs the async client (``iter_analytics``) and puts each window (an
    :class:`~linkedin_assets.linkedin.models.AnalyticsWindow`, its rows as columns) into a bounded ``queue.Queue``;
    the consuming thread (the warehouse write) converts them with ``convert`` and COPYs them while the producer keeps
    fetching. An exception in the producer is raised in the consumer (the write's transaction then rolls back); a
    consumer that stops early stops the producer. ``metadata`` holds the planned
    requests from the start and the request counts and row totals once the stream has ended.
    """

    def __init__(
        self,
        linkedin: LinkedInResource,
        plan: AnalyticsPlan,
        convert: Callable[[AnalyticsWindow], pd.DataFrame],
        *,
        log: logging.Logger | None = None,
        queue_windows: int = QUEUE_WINDOWS,
    ) -> None:
        self.linkedin = linkedin
        self.plan = plan
        self.convert = convert
        self.log = log or logging.getLogger("linkedin_assets")
        self.queue_windows = queue_windows
        self.metadata: dict[str, Any] = {"linkedin/planned_requests": plan.request_count}
        self.failures: dict[int, dict[str, Any]] = {}
        """Accounts LinkedIn refused while streaming (``WarehouseBatch.failures``): filled by the producer."""
        self.windows = 0

    def __iter__(self) -> Iterator[pd.DataFrame]:
        rows = impressions = clicks = 0
        spend = waited = 0.0
        if not self.plan.queries:
            self.metadata.update(_figures(rows, spend, impressions, clicks))
            return
        items: queue.Queue[Any] = queue.Queue(maxsize=self.queue_windows)
        stop = threading.Event()
        handler = _Collected()
        thread = threading.Thread(
            target=self._produce, args=(items, stop, handler), name="linkedin-analytics-producer", daemon=True
        )
        thread.start()
        try:
            while True:
                started = time.perf_counter()
                item = items.get()
                waited += time.perf_counter() - started
                self._relay(handler)
                if item is _END:
                    break
                if isinstance(item, _Failed):
                    raise item.error
                frame = self.convert(item)
                del item
                self.windows += 1
                rows += len(frame)
                spend += _total(frame, "cost_in_usd")
                impressions += int(_total(frame, "impressions"))
                clicks += int(_total(frame, "clicks"))
                yield frame
                del frame
                # The producer pauses the cyclic collector while it decodes and parses a page (client._gc_paused),
                # which on a backfill is most of the time, so the cycles this thread makes (frames, the write's
                # objects) would wait for a moment when no page is being decoded. Collecting the young generations
                # once a window is written frees them (peak memory of a long backfill: benchmarks/README.md, SPEED).
                gc.collect(1)
            self.metadata.update(_figures(rows, spend, impressions, clicks))
            self.metadata[LINKEDIN_WAIT] = waited
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting for room in the queue
                with contextlib.suppress(queue.Empty):
                    items.get(timeout=0.1)
            thread.join()
            self._relay(handler)

    def _relay(self, handler: _Collected) -> None:
        while handler.records:
            record = handler.records.popleft()
            self.log.log(record.levelno, record.getMessage())

    def _produce(self, items: queue.Queue[Any], stop: threading.Event, handler: _Collected) -> None:
        logger = _private_logger(handler)
        try:
            asyncio.run(self._fetch(items, stop, logger))
            outcome: Any = _END
        except _Stopped:
            return
        except BaseException as exc:  # noqa: BLE001 - every failure goes to the consumer, which re-raises it
            outcome = _Failed(exc)
        with contextlib.suppress(_Stopped):
            _put(items, stop, outcome)

    async def _fetch(self, items: queue.Queue[Any], stop: threading.Event, logger: logging.Logger) -> None:
        async with self.linkedin.client(logger) as client:
            try:
                async for window in client.iter_analytics(self.plan, on_account_failure=self._account_failed):
                    # waits in a worker thread, so the event loop keeps the other windows' requests going
                    await asyncio.to_thread(_put, items, stop, window)
            finally:
                stats = client.stats
                logger.info(
                    f"LinkedIn requests: {stats.requests} made ({self.plan.request_count} planned), {stats.retries}"
                    f" retried, {stats.throttled} throttled (429), {stats.resplits} re-asked after the element cap"
                )
                self.metadata.update({f"linkedin/{k}": v for k, v in stats.as_metadata().items()})

    def _account_failed(self, failure: AccountFailure) -> None:
        self.failures[failure.account_id] = failure.as_record()


def _put(items: queue.Queue[Any], stop: threading.Event, item: Any) -> None:
    while not stop.is_set():
        try:
            items.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
    raise _Stopped


def _total(frame: pd.DataFrame, column: str) -> float:
    if column not in frame or not len(frame):
        return 0.0
    return float(pd.to_numeric(frame[column], errors="coerce").fillna(0).sum())


def metric_columns(window: AnalyticsWindow, names: Mapping[str, str]) -> dict[str, Any]:
    """The window's metrics as frame columns, ``{LinkedIn name: column name}``: money as its Decimals, whole numbers
    through :func:`whole_numbers`, a metric the window lacks as an all-null column."""
    columns: dict[str, Any] = {}
    for name, column in names.items():
        values = window.metrics.get(name)
        if values is None:
            columns[column] = np.full(len(window), np.nan)
        else:
            columns[column] = values if name in DECIMAL_METRICS else whole_numbers(values)
    return columns


def whole_numbers(values: Sequence[Any]) -> Any:
    """``values`` as an int64 array when every one is a Python ``int`` that fits, at a third of the cost of pandas'
    own inference (it reads a list of ints through an object array); ints beside ``None`` (a metric a chunk lacked)
    as nullable ``Int64``, exact (pandas would infer float64, which rounds integers above 2**53); else as they are."""
    types = set(map(type, values))
    try:
        if types == {int}:
            return np.array(values, dtype=np.int64)
        if types == {int, type(None)}:
            return pd.array(values, dtype="Int64")
    except (OverflowError, TypeError):  # beyond int64: pandas makes these uint64 or object
        pass
    return values


def _figures(rows: int, spend: float, impressions: int, clicks: int) -> dict[str, Any]:
    """The numbers Dagster plots across runs (int and float metadata)."""
    return {"rows_fetched": rows, "spend_usd": float(spend), "impressions": impressions, "clicks": clicks}


def analytics_batch(
    log: logging.Logger,
    linkedin: LinkedInResource,
    plan: AnalyticsPlan,
    convert: Callable[[AnalyticsWindow], pd.DataFrame],
    *,
    what: str,
    account_ids: Sequence[int],
    date_range: tuple[date, date] | None,
) -> WarehouseBatch:
    """A lazy batch: the plan runs while the warehouse writes (see :class:`AnalyticsStream`)."""
    log.info(f"Planned {plan.request_count} analytics request(s) for {what}:\n{plan.describe() or 'nothing to ask'}")
    stream = AnalyticsStream(linkedin, plan, convert, log=log)
    return WarehouseBatch(
        stream,
        account_ids=tuple(account_ids),
        date_range=date_range,
        metadata=stream.metadata,
        failures=stream.failures,
    )


# ------------------------------------------------------------------------------------------------ the shards


@dataclass(frozen=True)
class Shard:
    """A group of accounts whose metrics one ``sync_shard`` step fetches and writes (in one transaction)."""

    account_ids: tuple[int, ...]
    start: date
    end: date
    """The days (inclusive) the asset's run covers: its partitions plus the lookback (months: first days)."""
    left_out: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    """Accounts of the shard not asked, because LinkedIn refused their entities at the latest sync (why, per account):
    asking would risk an answer without their rows (LinkedIn's analytics return nothing for an account without
    access), which would delete what is stored. They are written as failures, and asked again once their entities
    sync."""

    @property
    def mapping_key(self) -> str:
        if not self.account_ids:
            return "no_accounts"
        if len(self.account_ids) == 1:
            return f"account_{self.account_ids[0]}"
        return f"accounts_{self.account_ids[0]}_to_{self.account_ids[-1]}"


PER_ACCOUNT_ENTITIES = ("campaign_groups", "campaigns", "creatives", "conversions")
"""The entity tables fetched per ad account: their latest writes say which accounts LinkedIn refused."""


def refused_accounts(wh: Warehouse, tables: Sequence[str]) -> dict[int, dict[str, Any]]:
    """Accounts the latest write of one of the entity ``tables`` left out, with why (the first table's failure).

    A metric asset asks about the entity tables it depends on: a run writes them before it, so their latest write
    is this run's (an entity table it does not depend on may not have been written yet)."""
    refused: dict[int, dict[str, Any]] = {}
    for record in wh.latest_writes(tables):
        for failure in record.failures:
            refused.setdefault(int(failure["account_id"]), {**failure, "not_asked": f"refused its {record.table}"})
    return refused


def delivering_campaigns(wh: Warehouse, account_ids: Sequence[int], start: date, end: date) -> pd.DataFrame:
    """``campaign_id, account_id, first_day, last_day`` of the campaigns of ``account_ids`` with a daily row in
    ``[start, end]``: whom per-campaign requests (``MEMBER_*`` pivots by campaign) are for."""
    scope = ", ".join(str(int(a)) for a in account_ids) or "NULL"
    return wh.query(
        f"SELECT campaign_id, MIN(account_id) AS account_id, MIN(date) AS first_day, MAX(date) AS last_day "
        f"FROM {wh.qualified('campaign_daily_metrics')} WHERE account_id IN ({scope}) "
        "AND date BETWEEN %(start)s AND %(end)s GROUP BY campaign_id ORDER BY campaign_id",
        {"start": start, "end": end},
    )


def split_accounts(account_ids: Sequence[int], accounts_per_step: int) -> list[tuple[int, ...]]:
    """Consecutive groups of ``accounts_per_step`` accounts (0: one group of all); always at least one group, so the
    asset materializes (empty) when there is no account."""
    ids = tuple(account_ids)
    if accounts_per_step <= 0 or len(ids) <= accounts_per_step:
        return [ids]
    return [ids[i : i + accounts_per_step] for i in range(0, len(ids), accounts_per_step)]


@dataclass(frozen=True)
class ShardOps:
    """The three ops of one sharded metric asset; ``compose`` wires them inside its ``@dg.graph_asset``."""

    plan_shards: dg.OpDefinition
    sync_shard: dg.OpDefinition
    summarize: dg.OpDefinition

    def compose(self, **upstream: Any) -> Any:
        return self.summarize(self.plan_shards(**upstream).map(self.sync_shard).collect())


def shard_ops(
    asset: str,
    *,
    upstream: Sequence[str],
    window: Callable[[dg.OpExecutionContext, SyncSettings, Warehouse], tuple[date, date]],
    sync: Callable[[dg.OpExecutionContext, Shard, LinkedInResource, SyncSettings, WarehouseResource], WarehouseBatch],
) -> ShardOps:
    """Ops for the graph-backed metric asset ``asset`` (also its table).

    ``upstream``: the graph's inputs (asset dependencies, ``Nothing``-typed: each shard reads its own accounts' rows
    from the warehouse, so no table travels between steps). ``window``: the days of the run (it may read the
    warehouse: the conversion rules' windows extend the lookback). ``sync``: a shard's lazy batch (plan, stream).
    """
    return ShardOps(_plan_shards_op(asset, upstream, window), _sync_shard_op(asset, sync), _summarize_op(asset))


def _plan_shards_op(asset: str, upstream: Sequence[str], window: Callable[..., tuple[date, date]]) -> dg.OpDefinition:
    @dg.op(
        name=f"{asset}__plan_shards",
        ins={name: dg.In(dg.Nothing) for name in upstream},
        out=dg.DynamicOut(Shard),
        tags={"kind": "linkedin"},
    )
    def plan_shards(
        context: dg.OpExecutionContext, linkedin: LinkedInResource, settings: SyncSettings, warehouse: WarehouseResource
    ) -> Iterator[dg.DynamicOutput[Shard]]:
        """The active accounts in groups of ``accounts_per_step`` (0: one group), one dynamic output each."""
        with warehouse.open() as wh:
            account_ids = active_account_ids(wh.read("accounts"), linkedin)
            refused = refused_accounts(wh, [t for t in PER_ACCOUNT_ENTITIES if t in upstream] or ["campaigns"])
            start, end = window(context, settings, wh)
        groups = split_accounts(account_ids, settings.accounts_per_step)
        context.log.info(
            f"{len(account_ids)} account(s) in {len(groups)} shard(s) of up to "
            f"{settings.accounts_per_step or len(account_ids)}, {start}..{end}"
        )
        for group in groups:
            left_out = {a: refused[a] for a in group if a in refused}
            shard = Shard(tuple(a for a in group if a not in left_out), start, end, left_out)
            log_failures(context.log, left_out)
            yield dg.DynamicOutput(shard, mapping_key=shard.mapping_key)

    return plan_shards


def _sync_shard_op(asset: str, sync: Callable[..., WarehouseBatch]) -> dg.OpDefinition:
    @dg.op(
        name=f"{asset}__sync_shard",
        pool=LINKEDIN_POOL,
        out=dg.Out(io_manager_key="warehouse_io", metadata={TABLE_METADATA_KEY: asset}),
        tags={"kind": "linkedin"},
    )
    def sync_shard(
        context: dg.OpExecutionContext,
        shard: Shard,
        linkedin: LinkedInResource,
        settings: SyncSettings,
        warehouse: WarehouseResource,
    ) -> WarehouseBatch:
        """Fetch the shard's rows from LinkedIn while the warehouse IO manager writes them (one transaction)."""
        batch = sync(context, shard, linkedin, settings, warehouse)
        batch.account_ids = (*batch.account_ids, *shard.left_out)
        batch.failures.update({a: dict(why) for a, why in shard.left_out.items()})
        return batch

    return sync_shard


def _summarize_op(asset: str) -> dg.OpDefinition:
    @dg.op(name=f"{asset}__summarize", ins={"shards": dg.In(dg.Nothing)}, out=dg.Out(dg.Nothing))
    def summarize(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.Output]:
        """What the shards wrote, read from the warehouse's records of this run (and of the runs it re-executes),
        added up as the asset's materialization."""
        with warehouse.open() as wh:
            lineage = run_lineage(context.instance, context.run_id)
            writes = Writes.latest_per_step(wh.write_records(asset, lineage), lineage)
        context.log.info(f"{len(writes.records)} shard(s): " + write_summary(warehouse.schema_name, asset, writes))
        yield dg.Output(
            None, metadata={**write_metadata(warehouse.schema_name, asset, writes), "shards": len(writes.records)}
        )

    return summarize
