"""A full sync of a simulator profile's whole history through Dagster into PostgreSQL, measured end to end.

Starts the simulator in this process, runs the daily job over the profile's days and then the monthly job (as
``linkedin-assets sync`` does, but in-process on an ephemeral instance), and prints the requests made per endpoint
against the plans' lower bound, the wall time per stage and per step, the rows/s of the warehouse writes of the
metric tables beside a plain ``COPY`` of the same rows, and peak RSS.

    .venv/bin/python benchmarks/bench_sync.py [--profile medium] [--latency-ms 100] [--pg-url URL] [--keep]

The tables go to a throwaway schema in ``--pg-url`` (default ``$LINKEDIN_ASSETS_BENCH_PG`` or
``postgresql://postgres@127.0.0.1:5432/postgres``), dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pandas as pd
import psycopg

from linkedin_assets.cli import plan_stages, run_stage
from linkedin_assets.definitions import build_definitions, build_resources
from linkedin_assets.io_managers.warehouse import WarehouseResource
from linkedin_assets.simulator import SimulatorConfig, SimulatorServer
from linkedin_assets.warehouse import backends
from linkedin_assets.warehouse.backends import quote

PG_URL = os.environ.get("LINKEDIN_ASSETS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
METRIC_TABLES = ("campaign_daily_metrics", "creative_daily_metrics", "demographic_metrics")
CLIENT_COUNTERS = ("requests", "retries", "throttled", "server_errors", "timeouts", "refreshes", "resplits")


@dataclass
class TableWrites:
    """The ``Warehouse.write`` calls of one table: their batches and the seconds they took."""

    seconds: float = 0.0
    batches: list[pd.DataFrame] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(len(batch) for batch in self.batches)


@contextmanager
def timed_writes() -> Iterator[dict[str, TableWrites]]:
    """Time every ``PostgresWarehouse.write`` while the block runs, keeping each batch for the plain COPY."""
    writes: dict[str, TableWrites] = defaultdict(TableWrites)
    real_write = backends.PostgresWarehouse.write

    def write(self, table, frame, **kwargs):
        started = time.perf_counter()
        result = real_write(self, table, frame, **kwargs)
        writes[table].seconds += time.perf_counter() - started
        writes[table].batches.append(frame)
        return result

    backends.PostgresWarehouse.write = write
    try:
        yield writes
    finally:
        backends.PostgresWarehouse.write = real_write


def plain_copy(url: str, schema: str, table: str, batches: Sequence[pd.DataFrame]) -> float:
    """Seconds to ``COPY ... FROM STDIN`` the batches' rows into an empty, unindexed copy of ``table``."""
    target = f"{quote(schema)}.{quote('plain_' + table)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {target} (LIKE {quote(schema)}.{quote(table)})")
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cursor:
            for batch in batches:
                names = ", ".join(map(quote, batch.columns))
                rows = batch.astype(object).where(batch.notna(), None).itertuples(index=False, name=None)
                with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        return time.perf_counter() - started


def point_at(sim: SimulatorServer, token_store: Path) -> None:
    """The ``LINKEDIN_*`` environment for ``sim`` (all accounts) and a private token store."""
    os.environ.update(sim.client_env(), LINKEDIN_TOKEN_STORE=str(token_store))
    os.environ.pop("LINKEDIN_ACCOUNT_IDS", None)


def last_metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, object]]:
    """Metadata of each asset's last materialization in the run (a range run repeats it on every partition)."""
    by_asset = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        by_asset[materialization.asset_key.to_user_string()] = {
            key: value.value for key, value in materialization.metadata.items()
        }
    return by_asset


def step_seconds(result: dg.ExecuteInProcessResult) -> dict[str, float]:
    """Seconds of each step that succeeded, as Dagster measured them."""
    return {
        event.step_key.removeprefix("linkedin_ads__"): event.step_success_data.duration_ms / 1000
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_SUCCESS
    }


def mib(kilobytes: int) -> str:
    return f"{kilobytes / 1024:,.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="medium", choices=("small", "medium", "large"))
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--keep", action="store_true", help="keep the schema (its name is printed)")
    args = parser.parse_args()

    schema = f"bench_sync_{uuid.uuid4().hex[:10]}"
    config = SimulatorConfig(profile=args.profile, seed=1, latency_ms=args.latency_ms)
    stages: list[tuple[str, float, dg.ExecuteInProcessResult]] = []
    try:
        with (
            tempfile.TemporaryDirectory() as directory,
            SimulatorServer(config) as sim,
            timed_writes() as writes,
            dg.DagsterInstance.ephemeral() as instance,
        ):
            point_at(sim, Path(directory) / "tokens.json")
            warehouse = WarehouseResource(database_url=args.pg_url, schema_name=schema)
            defs = build_definitions(build_resources(warehouse=warehouse, snapshot_dir=directory))
            end = config.today - dt.timedelta(days=1)
            start = end - dt.timedelta(days=config.sizes.days - 1)
            sizes = config.sizes
            print(
                f"profile={args.profile} ({sizes.accounts} accounts x {sizes.campaigns_per_account} campaigns x "
                f"{sizes.creatives_per_campaign} creatives, {start}..{end}) latency={args.latency_ms:.0f} ms "
                f"concurrency={os.environ.get('LINKEDIN_MAX_CONCURRENCY', '4')} schema={schema}"
            )
            for job_name, tags in plan_stages(start, end):
                started = time.perf_counter()
                result = run_stage(defs, instance, job_name, tags)
                stages.append((job_name, time.perf_counter() - started, result))
                if not result.success:
                    break
            made = sim.state.counts_by_endpoint()
            copies = {table: plain_copy(args.pg_url, schema, table, writes[table].batches) for table in METRIC_TABLES}
    finally:
        if not args.keep:
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {quote(schema)} CASCADE")

    metadata = {asset: values for _, _, result in stages for asset, values in last_metadata(result).items()}
    planned = sum(int(values.get("linkedin/planned_requests", 0)) for values in metadata.values())
    client = {name: sum(int(v.get(f"linkedin/{name}", 0)) for v in metadata.values()) for name in CLIENT_COUNTERS}

    print(f"\n{'endpoint':<24}{'requests':>10}")
    for endpoint, count in sorted(made.items()):
        print(f"{endpoint:<24}{count:>10}")
    print(f"{'total':<24}{sum(made.values()):>10}")
    print(f"adAnalytics: {made.get('adAnalytics', 0)} made, plans' lower bound {planned}")
    print("client: " + ", ".join(f"{name} {count}" for name, count in client.items()))

    print(f"\n{'stage / step':<56}{'seconds':>10}")
    for job_name, seconds, result in stages:
        print(f"{job_name:<56}{seconds:>10.2f}{'' if result.success else '  FAILED'}")
        for step, step_s in step_seconds(result).items():
            print(f"  {step:<54}{step_s:>10.2f}")
    print(f"{'total':<56}{sum(seconds for _, seconds, _ in stages):>10.2f}")

    print(f"\n{'table':<24}{'rows':>8}{'write s':>9}{'rows/s':>10}{'COPY s':>9}{'rows/s':>10}{'ratio':>7}")
    for table in METRIC_TABLES:
        rows, seconds, copy_s = writes[table].rows, writes[table].seconds, copies[table]
        if not rows:
            print(f"{table:<24}{rows:>8}  (nothing written)")
            continue
        print(
            f"{table:<24}{rows:>8}{seconds:>9.3f}{rows / seconds:>10,.0f}{copy_s:>9.3f}{rows / copy_s:>10,.0f}"
            f"{seconds / copy_s:>7.1f}"
        )
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        f"\npeak RSS: {mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)}"
        + (f", children {mib(children)}" if children else "")
    )
    if args.keep:
        print(f"kept schema {schema}")
    return 0 if stages and all(result.success for _, _, result in stages) else 1


if __name__ == "__main__":
    raise SystemExit(main())
