"""The asset graph end to end: the simulator over loopback -> the warehouse (PostgreSQL and DuckDB) -> the snapshot."""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import jsonschema
import pandas as pd
import pytest

from linkedin_assets.cli.sync import plan_stages, run_stage
from linkedin_assets.definitions import build_definitions, build_resources
from linkedin_assets.defs.io_managers.warehouse import WarehouseResource
from linkedin_assets.snapshot.schema import SCHEMA_VERSION, Snapshot, json_schema
from linkedin_assets_tests.ground_truth import DEFAULTS, sim_settings

YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
KEY = ["campaign_id", "date"]
CHECKED = ["impressions", "clicks", "cost_in_local_currency"]


def definitions(warehouse: WarehouseResource, tmp_path: Path, sim, **overrides) -> dg.Definitions:
    """The project's definitions against ``sim`` with ``warehouse``; ``overrides``: settings by name."""
    settings = sim_settings(sim, tmp_path, **overrides)
    resources = build_resources(settings, warehouse=warehouse, snapshot_dir=str(tmp_path / "snapshots"))
    return build_definitions(settings, resources)


def sync(
    defs: dg.Definitions, instance: dg.DagsterInstance, start: dt.date, end: dt.date
) -> list[dg.ExecuteInProcessResult]:
    results = []
    for job_name, tags in plan_stages(start, end, DEFAULTS):
        results.append(run_stage(defs, instance, job_name, tags))
        if not results[-1].success:
            break
    return results


def table(warehouse: WarehouseResource, name: str) -> pd.DataFrame:
    with warehouse.open() as wh:
        return wh.read(name)


def truth(sim, pivot: str, key: str) -> pd.DataFrame:
    frame = sim.state.dataset.daily_metrics(pivot)
    frame = frame.assign(**{key: frame["pivot_value"].str.rsplit(":", n=1).str[-1].astype(int)})
    return frame.rename(columns={"costInLocalCurrency": "cost_in_local_currency"})[[key, "date", *CHECKED]]


def comparable(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    out = frame[[key, "date", *CHECKED]].copy()
    out["date"] = pd.to_datetime(out["date"]).dt.date
    out[key] = out[key].astype(int)
    out["impressions"] = out["impressions"].astype(int)
    out["clicks"] = out["clicks"].astype(int)
    out["cost_in_local_currency"] = out["cost_in_local_currency"].map(lambda v: Decimal(str(v)).normalize())
    return out.sort_values([key, "date"]).reset_index(drop=True)


def history(sim) -> tuple[dt.date, dt.date]:
    return YESTERDAY - dt.timedelta(days=sim.state.config.sizes.days - 1), YESTERDAY


@pytest.fixture(scope="module")
def pg_synced(simulator, pg_url, tmp_path_factory):
    """One full sync of the shared small simulator into a PostgreSQL schema, shared by the tests that only read."""
    tmp_path = tmp_path_factory.mktemp("pg_synced")
    with pytest.MonkeyPatch.context() as monkeypatch:
        warehouse = WarehouseResource(database_url=pg_url, schema_name="e2e_shared")
        defs = definitions(warehouse, tmp_path, simulator)
        with dg.DagsterInstance.ephemeral() as instance:
            results = sync(defs, instance, *history(simulator))
            yield simulator, warehouse, defs, instance, results, tmp_path, monkeypatch


@pytest.mark.postgres
def test_full_sync_into_postgres_matches_the_simulator(pg_synced):
    sim, warehouse, _, _, results, _, _ = pg_synced
    assert [r.success for r in results] == [True, True]
    for pivot, name, key in (
        ("CAMPAIGN", "campaign_daily_metrics", "campaign_id"),
        ("CREATIVE", "creative_daily_metrics", "creative_id"),
    ):
        got = comparable(table(warehouse, name), key)
        expected = comparable(truth(sim, pivot, key), key)
        pd.testing.assert_frame_equal(got, expected)
    campaigns = table(warehouse, "campaigns")
    assert set(campaigns["id"]) == {c["id"] for c in sim.state.dataset.campaigns}
    creatives = table(warehouse, "creatives")
    assert creatives["name"].notna().all() and (creatives["name"] != "").all()
    assert len(table(warehouse, "demographic_metrics")) > 0
    values = table(warehouse, "demographic_values")
    assert values["name"].notna().all()


@pytest.mark.postgres
def test_rerun_leaves_identical_tables(pg_synced):
    sim, warehouse, defs, instance, _, _, _ = pg_synced
    volatile = ["_synced_at", "_dagster_run_id"]
    before = {
        name: table(warehouse, name).drop(columns=volatile)
        for name in (
            "campaigns",
            "creatives",
            "campaign_daily_metrics",
            "creative_daily_metrics",
            "demographic_metrics",
        )
    }
    assert all(r.success for r in sync(defs, instance, *history(sim)))
    for name, frame in before.items():
        pd.testing.assert_frame_equal(table(warehouse, name).drop(columns=volatile), frame, check_dtype=False, obj=name)


@pytest.mark.postgres
def test_snapshot_validates_against_its_json_schema_and_round_trips(pg_synced):
    sim, warehouse, _, _, _, tmp_path, _ = pg_synced
    latest = tmp_path / "snapshots" / "latest.json"
    document = json.loads(latest.read_text())
    jsonschema.validate(document, json_schema())
    assert Snapshot.model_validate_json(latest.read_text()).model_dump(mode="json") == document
    assert document["schema_version"] == SCHEMA_VERSION
    campaign_impressions = sum(
        d["impressions"] or 0 for a in document["accounts"] for c in a["campaigns"] for d in c["daily_metrics"]
    )
    assert campaign_impressions == int(table(warehouse, "campaign_daily_metrics")["impressions"].sum())
    text = latest.read_text()
    assert sim.refresh_token not in text and sim.access_token not in text and sim.client_secret not in text


def test_published_json_schema_is_current():
    published = json.loads((Path(__file__).parent.parent / "docs" / "snapshot.schema.json").read_text())
    assert published == json_schema(), (
        "run `python -m linkedin_assets.snapshot.schema` and commit docs/snapshot.schema.json"
    )


def test_full_sync_into_embedded_duckdb(make_simulator, tmp_path, monkeypatch):
    sim = make_simulator(profile="small", seed=3)
    warehouse = WarehouseResource(duckdb_path=str(tmp_path / "warehouse.duckdb"))
    with dg.DagsterInstance.ephemeral() as instance:
        results = sync(definitions(warehouse, tmp_path, sim), instance, *history(sim))
    assert [r.success for r in results] == [True, True]
    got = comparable(table(warehouse, "campaign_daily_metrics"), "campaign_id")
    pd.testing.assert_frame_equal(got, comparable(truth(sim, "CAMPAIGN", "campaign_id"), "campaign_id"))
    assert (tmp_path / "snapshots" / "latest.json").exists()


def metadata_of(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == asset]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def test_partition_range_is_one_run_with_the_planned_requests(make_simulator, tmp_path, monkeypatch):
    sim = make_simulator(
        profile="custom", accounts=2, campaigns_per_account=4, creatives_per_campaign=2, days=20, seed=5
    )
    warehouse = WarehouseResource(duckdb_path=str(tmp_path / "warehouse.duckdb"))
    defs = definitions(warehouse, tmp_path, sim)
    start, end = YESTERDAY - dt.timedelta(days=4), YESTERDAY - dt.timedelta(days=2)
    with dg.DagsterInstance.ephemeral() as instance:
        sim.state.reset_log()
        job_name, tags = plan_stages(start, end, DEFAULTS)[0]
        result = run_stage(defs, instance, job_name, tags)
        assert result.success
        assert len(instance.get_runs()) == 1
        partitions = {
            e.partition
            for e in result.get_asset_materialization_events()
            if e.asset_key.path[-1] == "campaign_daily_metrics"
        }
        assert partitions == {(start + dt.timedelta(days=i)).isoformat() for i in range(3)}
    planned = sum(
        metadata_of(result, a)["linkedin/planned_requests"]
        for a in (
            "campaign_daily_metrics",
            "creative_daily_metrics",
            "campaign_conversion_daily_metrics",
            "creative_conversion_daily_metrics",
        )
    )
    assert sim.state.counts_by_endpoint().get("adAnalytics", 0) == planned
    # the lookback reaches back 30 days from the range's end: the whole 20-day history is (re)written
    got = comparable(table(warehouse, "campaign_daily_metrics"), "campaign_id")
    expected = comparable(truth(sim, "CAMPAIGN", "campaign_id"), "campaign_id")
    pd.testing.assert_frame_equal(got, expected[expected["date"] <= end].reset_index(drop=True))


def test_lookback_rerun_lands_late_changes(make_simulator, tmp_path, monkeypatch):
    sim = make_simulator(profile="small", seed=8, late_data_days=3)
    warehouse = WarehouseResource(duckdb_path=str(tmp_path / "warehouse.duckdb"))
    defs = definitions(warehouse, tmp_path, sim)
    with dg.DagsterInstance.ephemeral() as instance:
        assert all(r.success for r in sync(defs, instance, *history(sim)))
        before = comparable(table(warehouse, "campaign_daily_metrics"), "campaign_id")
        sim.state.new_generation()
        changed = comparable(truth(sim, "CAMPAIGN", "campaign_id"), "campaign_id")
        assert not changed.equals(before), "late-data mode changed nothing"
        assert run_stage(defs, instance, *plan_stages(YESTERDAY, YESTERDAY, DEFAULTS)[0]).success
    after = comparable(table(warehouse, "campaign_daily_metrics"), "campaign_id")
    pd.testing.assert_frame_equal(after, changed)
    old = before["date"] < YESTERDAY - dt.timedelta(days=2)
    pd.testing.assert_frame_equal(after[old.values].reset_index(drop=True), before[old].reset_index(drop=True))


@pytest.mark.postgres
def test_entity_removed_upstream_is_kept_and_marked(make_simulator, pg_url, pg_schema, tmp_path, monkeypatch):
    sim = make_simulator(profile="small", seed=9)
    warehouse = WarehouseResource(database_url=pg_url, schema_name=pg_schema)
    defs = definitions(warehouse, tmp_path, sim)
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_stage(defs, instance, *plan_stages(YESTERDAY, YESTERDAY, DEFAULTS)[0]).success
        gone = int(table(warehouse, "campaigns")["id"].iloc[0])
        synced = len(sim.state.dataset.campaigns)
        sim.state.remove_campaign(gone)
        assert run_stage(defs, instance, *plan_stages(YESTERDAY, YESTERDAY, DEFAULTS)[0]).success
    campaigns = table(warehouse, "campaigns").set_index("id")
    assert campaigns.loc[gone, "removed_at"] is not None and not pd.isna(campaigns.loc[gone, "removed_at"])
    assert campaigns.drop(index=gone)["removed_at"].isna().all()
    assert len(campaigns) == synced


@pytest.mark.postgres
def test_failed_creative_metrics_write_keeps_campaign_metrics(make_simulator, pg_url, pg_schema, tmp_path, monkeypatch):
    from linkedin_assets.warehouse import backends

    sim = make_simulator(profile="small", seed=10)
    warehouse = WarehouseResource(database_url=pg_url, schema_name=pg_schema)
    real_write = backends.PostgresWarehouse.write

    def failing_write(self, table_name, frames, **kwargs):
        if table_name == "creative_daily_metrics":  # NULL keys: fails inside its transaction
            frames = (frame.assign(creative_id=None) for frame in frames)
        return real_write(self, table_name, frames, **kwargs)

    monkeypatch.setattr(backends.PostgresWarehouse, "write", failing_write)
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_stage(definitions(warehouse, tmp_path, sim), instance, *plan_stages(*history(sim), DEFAULTS)[0])
    assert not result.success
    failed = {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE}
    assert len(failed) == 1 and next(iter(failed)).startswith("linkedin_ads__creative_daily_metrics.")
    assert "sync_shard" in next(iter(failed))
    assert len(table(warehouse, "campaign_daily_metrics")) == len(truth(sim, "CAMPAIGN", "campaign_id"))
    assert table(warehouse, "creative_daily_metrics").empty


@pytest.mark.postgres
def test_no_token_or_secret_in_the_event_log_or_metadata(pg_synced):
    from dagster._serdes import serialize_value

    sim, _, _, instance, results, tmp_path, _ = pg_synced
    secrets = [sim.access_token, sim.refresh_token, sim.client_secret]
    stored = json.loads((tmp_path / "tokens.json").read_text()) if (tmp_path / "tokens.json").exists() else {}
    secrets += [v for k, v in stored.items() if k in ("access_token", "refresh_token") and v]
    for result in results:
        for record in instance.all_logs(result.run_id):
            text = serialize_value(record)
            leaked = [s[:6] + "…" for s in secrets if s in text]
            assert not leaked, f"secret in event log of run {result.run_id}: {leaked}"


def test_campaign_level_demographics_ask_only_for_delivering_campaigns(make_simulator, tmp_path, monkeypatch):
    from linkedin_assets.linkedin.fields import MEMBER_PIVOTS

    sim = make_simulator(
        profile="custom", accounts=1, campaigns_per_account=12, creatives_per_campaign=1, days=150, seed=12
    )
    warehouse = WarehouseResource(duckdb_path=str(tmp_path / "warehouse.duckdb"))
    defs = definitions(warehouse, tmp_path, sim, demographics_level="campaign")
    daily, monthly = plan_stages(YESTERDAY, YESTERDAY, DEFAULTS)
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_stage(defs, instance, *daily).success
        sim.state.reset_log()
        assert run_stage(defs, instance, *monthly).success
    month_start = (YESTERDAY - dt.timedelta(days=DEFAULTS.lookback_days - 1)).replace(day=1)  # the lookback's months
    metrics = table(warehouse, "campaign_daily_metrics")
    delivered = {
        int(c)
        for c, d in zip(metrics["campaign_id"], metrics["date"], strict=True)
        if pd.Timestamp(d).date() >= month_start
    }
    assert 0 < len(delivered) < len(sim.state.dataset.campaigns), "the data set should have idle campaigns too"
    asked = [r for r in sim.state.request_log if r.endpoint == "adAnalytics"]
    assert len(asked) == len(delivered) * len(MEMBER_PIVOTS)
    assert all("campaigns=List(urn%3Ali%3AsponsoredCampaign%3A" in r.query for r in asked)
    rows = table(warehouse, "demographic_metrics")
    assert set(rows["level"]) == {"campaign"}
    assert {int(e) for e in rows["entity_id"]} <= delivered
    assert rows["account_id"].notna().all()
