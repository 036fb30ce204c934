"""The IO managers inside real Dagster runs: warehouse tables (PostgreSQL and DuckDB) and JSON snapshots."""

import os
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, field_serializer

from linkedin_assets import files
from linkedin_assets.definitions import build_definitions, build_resources
from linkedin_assets.defs.failures import what_to_do
from linkedin_assets.defs.io_managers import SnapshotJsonIOManager, WarehouseIOManager, WarehouseResource
from linkedin_assets.defs.io_managers.warehouse import write_metadata
from linkedin_assets.linkedin.errors import LinkedInConnectionError
from linkedin_assets.settings import Settings
from linkedin_assets.warehouse import TABLES, WarehouseBatch, Writes

PASSWORD = "s3cret-pw"
DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-02-01")


@pytest.fixture(scope="module")
def instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "duckdb"])
def resource(request: pytest.FixtureRequest, tmp_path: Path) -> WarehouseResource:
    if request.param == "postgres":
        scheme, rest = request.getfixturevalue("pg_url").split("://postgres@")
        url = f"{scheme}://postgres:{PASSWORD}@{rest}"  # trust auth ignores it; it must never be shown
        return WarehouseResource(database_url=url, schema_name=request.getfixturevalue("pg_schema"))
    return WarehouseResource(duckdb_path=str(tmp_path / "warehouse.duckdb"))


def metrics(*rows: tuple[int, str, int, int]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["campaign_id", "date", "account_id", "impressions"])
    frame["date"] = [date.fromisoformat(day) for day in frame["date"]]
    return frame


@dg.asset(key_prefix="linkedin_ads", io_manager_key="warehouse_io")
def campaigns() -> WarehouseBatch:
    frame = pd.DataFrame({"id": [1, 2], "account_id": [10, 10], "name": ["Brand | EU", "Leads"]})
    return WarehouseBatch(frame=frame, account_ids=(10,))


@dg.asset(ins={"campaigns": dg.AssetIn(key=campaigns.key)})
def campaign_names(campaigns: pd.DataFrame) -> list[str]:
    return campaigns["name"].tolist()


@dg.asset(key_prefix="linkedin_ads", io_manager_key="warehouse_io", partitions_def=DAILY)
def campaign_daily_metrics(context: dg.AssetExecutionContext) -> WarehouseBatch:
    window = context.partition_time_window
    days = pd.date_range(window.start, window.end, inclusive="left").date
    return WarehouseBatch(frame=metrics(*[(1, day.isoformat(), 10, 7) for day in days]), account_ids=(10,))


@dg.asset(partitions_def=DAILY, ins={"rows": dg.AssetIn(key=campaign_daily_metrics.key)})
def daily_impressions(rows: pd.DataFrame) -> dict[str, int]:
    return {day.isoformat(): int(total) for day, total in rows.groupby("date")["impressions"].sum().items()}


def resources(resource: WarehouseResource) -> dict[str, Any]:
    return {
        "warehouse": resource,
        "warehouse_io": WarehouseIOManager(warehouse=resource),
        "io_manager": dg.InMemoryIOManager(),
    }


def materialization(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, Any]:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == key][:1]
    return {name: value.value for name, value in event.materialization.metadata.items()}


def test_unpartitioned_entity_asset_round_trip(resource: WarehouseResource, instance: dg.DagsterInstance) -> None:
    first = dg.materialize([campaigns, campaign_names], resources=resources(resource), instance=instance)
    again = dg.materialize([campaigns, campaign_names], resources=resources(resource), instance=instance)

    assert first.output_for_node("campaign_names") == ["Brand | EU", "Leads"]
    meta = materialization(first, campaigns.key)
    assert meta["dagster/row_count"] == 2
    assert (meta["rows_inserted"], meta["rows_updated"], meta["rows_removed"]) == (2, 0, 0)
    assert meta["dagster/table_name"] == f"{resource.schema_name}.campaigns"
    assert "| 1 | 10 | Brand \\| EU |" in meta["preview"]
    assert materialization(again, campaigns.key)["rows_inserted"] == 0

    logged = " ".join(str(record) for record in instance.all_logs(first.run_id))
    assert PASSWORD not in logged and PASSWORD not in repr(resource) and PASSWORD not in resource.location


def test_every_table_asset_declares_its_columns() -> None:
    """The UI's column view comes from definition metadata: every asset that is a table declares exactly its table's
    columns, whatever its last materialization recorded."""
    settings = Settings()
    resources = build_resources(settings, warehouse=WarehouseResource(duckdb_path=":memory:"))
    graph = build_definitions(settings, resources).resolve_asset_graph()
    declared = {
        key.path[-1]: [column.name for column in graph.get(key).metadata["dagster/column_schema"].columns]
        for key in graph.get_all_asset_keys()
        if "dagster/column_schema" in graph.get(key).metadata
    }
    assert declared == {name: list(spec.column_names) for name, spec in TABLES.items()}
    assert "removed_at" in declared["campaigns"]


def test_partitioned_fact_asset_replaces_its_window(resource: WarehouseResource, instance: dg.DagsterInstance) -> None:
    with resource.open() as warehouse:
        warehouse.write(
            "campaign_daily_metrics",
            metrics(*[(c, f"2024-01-0{d}", 10, 1) for c in (1, 2) for d in (1, 2, 3)]),
            account_ids=[10],
            date_range=None,
            run_id="seed",
        )

    single = dg.materialize(
        [campaign_daily_metrics, daily_impressions],
        resources=resources(resource),
        instance=instance,
        partition_key="2024-01-02",
    )
    meta = materialization(single, campaign_daily_metrics.key)
    assert (meta["date_range"], meta["rows_updated"], meta["rows_deleted"]) == ("2024-01-02..2024-01-02", 1, 1)
    assert single.output_for_node("daily_impressions") == {"2024-01-02": 7}

    ranged = dg.materialize(
        [campaign_daily_metrics],
        resources=resources(resource),
        instance=instance,
        tags={"dagster/asset_partition_range_start": "2024-01-03", "dagster/asset_partition_range_end": "2024-01-04"},
    )
    assert materialization(ranged, campaign_daily_metrics.key)["date_range"] == "2024-01-03..2024-01-04"
    with resource.open() as warehouse:
        rows = warehouse.read("campaign_daily_metrics")
    assert {(r.campaign_id, r.date.day, r.impressions) for r in rows.itertuples()} == {
        (1, 1, 1), (2, 1, 1), (1, 2, 7), (1, 3, 7), (1, 4, 7)
    }  # fmt: skip


SHARDS = {"shard_0": (10,), "shard_1": (20, 30)}
JANUARY = (date(2024, 1, 1), date(2024, 1, 31))


def shard_frames(accounts: tuple[int, ...], metadata: dict[str, Any]) -> Iterator[pd.DataFrame]:
    """One frame per account (each campaign-day of January), counting "requests" as the frames are made."""
    for account in accounts:
        metadata["requests"] = metadata.get("requests", 0) + 1
        yield metrics(*[(account * 100 + c, f"2024-01-{d:02d}", account, c + d) for c in (1, 2) for d in range(1, 32)])


@dg.asset(key_prefix="streamed", name="campaign_daily_metrics", io_manager_key="warehouse_io")
def streamed_metrics() -> WarehouseBatch:
    # Figures as a producer may hold them: numpy and Decimal numbers (kept numeric), and a text that is no figure
    metadata: dict[str, Any] = {"spend": Decimal("12.34"), "windows": np.int64(2), "note": "not a number"}
    return WarehouseBatch(shard_frames((10, 20), metadata), (10, 20), JANUARY, metadata)


@dg.op(out=dg.DynamicOut())
def plan_shards() -> Iterator[dg.DynamicOutput[tuple]]:
    for key, accounts in SHARDS.items():
        yield dg.DynamicOutput(accounts, mapping_key=key)


@dg.op(out=dg.Out(io_manager_key="warehouse_io", metadata={"warehouse/table": "campaign_daily_metrics"}))
def sync_shard(accounts: tuple) -> WarehouseBatch:
    metadata: dict[str, Any] = {}
    return WarehouseBatch(shard_frames(accounts, metadata), accounts, JANUARY, metadata)


@dg.op(ins={"shards": dg.In(dg.Nothing)}, out=dg.Out(dg.Nothing))
def summarize_shards(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.Output]:
    with warehouse.open() as wh:
        writes = Writes.latest_per_step(wh.write_records("campaign_daily_metrics", [context.run_id]), [context.run_id])
    yield dg.Output(None, metadata={**write_metadata("linkedin_ads", "campaign_daily_metrics", writes), "shards": 2})


@dg.graph_asset(key_prefix="linkedin_ads", name="campaign_daily_metrics")
def sharded_metrics() -> None:
    return summarize_shards(plan_shards().map(sync_shard).collect())


def test_a_streamed_batch_records_numbers_and_the_producers_metadata(
    resource: WarehouseResource, instance: dg.DagsterInstance
) -> None:
    result = dg.materialize([streamed_metrics], resources=resources(resource), instance=instance)
    meta = materialization(result, streamed_metrics.key)
    assert (meta["dagster/row_count"], meta["rows_inserted"], meta["frames"], meta["requests"]) == (124, 124, 2, 2)
    assert all(isinstance(meta[k], int) for k in ("dagster/row_count", "rows_inserted", "rows_deleted", "requests"))
    assert meta["preview"].count("\n") == 11, "header, rule and the first 10 rows seen"
    assert meta["date_range"] == "2024-01-01..2024-01-31"
    assert (meta["spend"], meta["windows"]) == (12.34, 2) and "note" not in meta
    with resource.open() as warehouse:
        [record] = warehouse.write_records("campaign_daily_metrics", [result.run_id])
    assert (record.result.rows, record.account_ids, record.date_range) == (124, (10, 20), JANUARY)
    assert record.figures == {"spend": 12.34, "windows": 2, "requests": 2}
    assert record.step_key == "streamed__campaign_daily_metrics"


def test_shard_steps_write_and_the_graph_asset_records_their_sum(
    resource: WarehouseResource, instance: dg.DagsterInstance
) -> None:
    result = dg.materialize([sharded_metrics], resources=resources(resource), instance=instance)
    meta = materialization(result, sharded_metrics.key)
    assert (meta["dagster/row_count"], meta["rows_inserted"], meta["shards"], meta["requests"]) == (186, 186, 2, 3)
    assert (meta["accounts"], meta["date_range"]) == ("10, 20, 30", "2024-01-01..2024-01-31")
    assert isinstance(meta["write_seconds"], float), "the shards' write seconds, added up"
    with resource.open() as warehouse:
        rows = warehouse.read("campaign_daily_metrics")
        records = warehouse.write_records("campaign_daily_metrics", [result.run_id])
    assert len(rows) == 186 and set(rows["account_id"]) == {10, 20, 30}
    assert sorted(r.account_ids for r in records) == sorted(SHARDS.values()), "one record per shard step"
    assert sum(r.result.rows for r in records) == 186


@dg.asset(key_prefix="failing", name="campaign_daily_metrics", io_manager_key="warehouse_io")
def failing_stream() -> WarehouseBatch:
    def frames() -> Iterator[pd.DataFrame]:
        yield from shard_frames((10,), {})
        raise RuntimeError("LinkedIn stopped answering after the first window")

    return WarehouseBatch(frames(), (10, 20), JANUARY)


def test_a_stream_that_fails_mid_way_fails_the_step_and_changes_nothing(
    resource: WarehouseResource, instance: dg.DagsterInstance
) -> None:
    dg.materialize([streamed_metrics], resources=resources(resource), instance=instance)
    with resource.open() as warehouse:
        before = warehouse.read("campaign_daily_metrics")

    result = dg.materialize([failing_stream], resources=resources(resource), instance=instance, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "LinkedIn stopped answering" in str(failure.step_failure_data.error)
    assert not result.get_asset_materialization_events()
    with resource.open() as warehouse:
        pd.testing.assert_frame_equal(warehouse.read("campaign_daily_metrics"), before)
        assert warehouse.write_records("campaign_daily_metrics", [result.run_id]) == [], "no record without its rows"


@dg.asset(key_prefix="unreachable", name="campaign_daily_metrics", io_manager_key="warehouse_io")
def unreachable_stream() -> WarehouseBatch:
    def frames() -> Iterator[pd.DataFrame]:
        yield from shard_frames((10,), {})
        raise LinkedInConnectionError("https://api.linkedin.example/rest/adAnalytics", "connection refused")

    return WarehouseBatch(frames(), (10, 20), JANUARY)


def test_a_linkedin_error_mid_stream_is_the_steps_short_failure_with_what_to_do(
    resource: WarehouseResource, instance: dg.DagsterInstance
) -> None:
    result = dg.materialize(
        [unreachable_stream], resources=resources(resource), instance=instance, raise_on_error=False
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    user = failure.step_failure_data.user_failure_data
    assert user is not None, "the UI shows a dg.Failure's description, not a wrapped stack"
    assert user.description == (
        "LinkedInConnectionError: cannot reach https://api.linkedin.example/rest/adAnalytics: connection refused"
    )
    assert user.metadata["what to do"].value == what_to_do("LinkedInConnectionError")
    assert user.metadata["url"].value == "https://api.linkedin.example/rest/adAnalytics"


def test_handle_output_refuses_other_values(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    @dg.asset(key_prefix="linkedin_ads", name="campaigns", io_manager_key="warehouse_io")
    def bare_frame() -> pd.DataFrame:
        return pd.DataFrame({"id": [1]})

    resource = WarehouseResource(duckdb_path=str(tmp_path / "w.duckdb"))
    result = dg.materialize([bare_frame], resources=resources(resource), instance=instance, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "WarehouseBatch" in str(failure.step_failure_data.error)


def test_resource_repr_redacts_passwords() -> None:
    resource = WarehouseResource(database_url=f"postgresql://app:{PASSWORD}@db:5432/ads?sslmode=require")
    assert PASSWORD not in repr(resource)
    assert "postgresql://app:***@db:5432/ads?sslmode=require" in repr(resource)


# --- JSON snapshots -----------------------------------------------------------------------------------------------


class Snapshot(BaseModel):
    accounts: list[int]
    spend: str


class Unserialisable(BaseModel):
    value: int

    @field_serializer("value")
    def explode(self, value: int) -> int:
        raise RuntimeError("serializer failed half-way")


def snapshot_files(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


def test_snapshot_is_written_then_copied_to_latest(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    @dg.asset(io_manager_key="snapshot_io")
    def snapshot() -> Snapshot:
        return Snapshot(accounts=[10, 20], spend="-2E-18")

    @dg.asset(ins={"snapshot": dg.AssetIn(input_manager_key="snapshot_io")})
    def snapshot_accounts(snapshot: Snapshot) -> list[int]:
        return snapshot.accounts

    manager = SnapshotJsonIOManager(base_dir=str(tmp_path / "snapshots"))
    result = dg.materialize(
        [snapshot, snapshot_accounts],
        resources={"snapshot_io": manager, "io_manager": dg.InMemoryIOManager()},
        instance=instance,
    )
    meta = materialization(result, snapshot.key)
    written = Path(meta["path"])
    assert written.read_bytes() == (written.parent / "latest.json").read_bytes()
    assert Snapshot.model_validate_json(written.read_bytes()) == Snapshot(accounts=[10, 20], spend="-2E-18")
    assert meta["bytes"] == written.stat().st_size and meta["dagster/uri"] == written.as_uri()
    assert snapshot_files(written.parent) == {written.name, "latest.json"}
    assert result.output_for_node("snapshot_accounts") == [10, 20]


def _fail_replacing_latest(real_replace: Any) -> Any:
    def replace(source: str, destination: str | os.PathLike[str]) -> None:
        if Path(destination).name == "latest.json":
            raise OSError("disk full")
        real_replace(source, destination)

    return replace


@pytest.mark.parametrize("crash", ["serializer", "fsync", "replace-latest"])
def test_a_crash_keeps_the_previous_latest(crash: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = SnapshotJsonIOManager(base_dir=str(tmp_path))
    manager.handle_output(dg.build_output_context(asset_key="snapshot"), Snapshot(accounts=[1], spend="1"))
    previous = (tmp_path / "latest.json").read_bytes()
    before = snapshot_files(tmp_path)
    for path in tmp_path.iterdir():
        if path.name != "latest.json":
            path.rename(tmp_path / "2000-01-01T00-00-00Z.json")  # the next snapshot must not reuse its name

    value: BaseModel = Snapshot(accounts=[1, 2], spend="2")
    if crash == "serializer":
        value = Unserialisable(value=1)
    elif crash == "fsync":
        monkeypatch.setattr(files.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("I/O error")))
    else:
        monkeypatch.setattr(files.os, "replace", _fail_replacing_latest(os.replace))

    with pytest.raises((OSError, RuntimeError, ValueError)):
        manager.handle_output(dg.build_output_context(asset_key="snapshot"), value)

    assert (tmp_path / "latest.json").read_bytes() == previous
    remaining = snapshot_files(tmp_path)
    assert not [name for name in remaining if name.endswith(".tmp")], "temporary files are cleaned up"
    if crash == "replace-latest":
        [new] = remaining - {"latest.json", "2000-01-01T00-00-00Z.json"}
        assert Snapshot.model_validate_json((tmp_path / new).read_bytes()).accounts == [1, 2]
    else:
        assert len(remaining) == len(before)
