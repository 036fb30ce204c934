"""The metric assets' account shards: one step per shard, the same tables and the same requests as one shard."""

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd

from linkedin_assets.cli.sync import plan_stages, run_stage
from linkedin_assets.definitions import build_definitions, build_resources
from linkedin_assets.defs.assets.common import Shard, split_accounts
from linkedin_assets.defs.io_managers.warehouse import WarehouseResource
from linkedin_assets.warehouse import WriteRecord, WriteResult, Writes
from linkedin_assets_tests.ground_truth import DEFAULTS, sim_settings

PER_RULE_TABLES = ("campaign_conversion_daily_metrics", "creative_conversion_daily_metrics")
METRIC_TABLES = ("campaign_daily_metrics", "creative_daily_metrics", "demographic_metrics")
VOLATILE = ["_synced_at", "_dagster_run_id"]
SIZES = {"profile": "custom", "accounts": 3, "campaigns_per_account": 3, "creatives_per_campaign": 2, "days": 10}
"""The ``small`` profile's sizes but three accounts: with one account every split is one shard."""


def definitions(sim, tmp_path: Path, name: str, accounts_per_step: int) -> tuple[dg.Definitions, WarehouseResource]:
    settings = sim_settings(sim, tmp_path, accounts_per_step=accounts_per_step)
    warehouse = WarehouseResource(duckdb_path=str(tmp_path / f"{name}.duckdb"))
    resources = build_resources(settings, warehouse=warehouse, snapshot_dir=str(tmp_path / f"{name}-snapshots"))
    return build_definitions(settings, resources), warehouse


def history(sim) -> tuple[dt.date, dt.date]:
    end = sim.state.config.today - dt.timedelta(days=1)
    return end - dt.timedelta(days=sim.state.config.sizes.days - 1), end


def sync(sim, defs: dg.Definitions) -> tuple[list[dg.ExecuteInProcessResult], int]:
    """Both stages of a sync of the whole history; returns the runs and the adAnalytics requests they made."""
    sim.state.reset_log()
    results = []
    with dg.DagsterInstance.ephemeral() as instance:
        for job_name, tags in plan_stages(*history(sim), DEFAULTS):
            results.append(run_stage(defs, instance, job_name, tags))
    return results, sim.state.counts_by_endpoint().get("adAnalytics", 0)


def shard_steps(results: list[dg.ExecuteInProcessResult], asset: str) -> set[str]:
    return {
        event.step_key
        for result in results
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_SUCCESS and f"{asset}__sync_shard[" in event.step_key
    }


def last_metadata(results: list[dg.ExecuteInProcessResult], asset: str) -> dict:
    events = [e for r in results for e in r.get_asset_materialization_events() if e.asset_key.path[-1] == asset]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def tables(warehouse: WarehouseResource) -> dict[str, pd.DataFrame]:
    with warehouse.open() as wh:
        return {name: wh.read(name).drop(columns=VOLATILE) for name in METRIC_TABLES}


def test_split_accounts():
    assert split_accounts([3, 5, 9], 0) == [(3, 5, 9)]
    assert split_accounts([3, 5, 9], 1) == [(3,), (5,), (9,)]
    assert split_accounts([3, 5, 9], 2) == [(3, 5), (9,)]
    assert split_accounts([], 2) == [()]  # one (empty) shard: the asset still materializes
    day = dt.date(2026, 1, 1)
    assert [Shard(ids, day, day).mapping_key for ids in ((), (7,), (3, 9))] == [
        "no_accounts",
        "account_7",
        "accounts_3_to_9",
    ]


def _record(run_id, step, result, accounts, days=None, figures=None):
    return WriteRecord(run_id, step, "campaign_daily_metrics", accounts, days, result, 0.5, figures or {})


def test_shard_writes_add_up_their_shards():
    january, february = (dt.date(2026, 1, 1), dt.date(2026, 1, 31)), (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    records = [
        _record("r", "a", WriteResult(1, 2, 3, 3, 1), (9, 3), january, {"linkedin/requests": 2, "spend_usd": 1.5}),
        _record("r", "b", WriteResult(4, 0, 0, 4, 2), (5,), february, {"linkedin/requests": 3}),
    ]
    writes = Writes.latest_per_step(records, ["r"])
    assert writes.total == WriteResult(5, 2, 3, 7, 3)
    assert writes.account_ids == (3, 5, 9)
    assert writes.date_range == (january[0], february[1])
    assert writes.figures == {"linkedin/requests": 5, "spend_usd": 1.5}
    assert Writes([_record("r", "a", WriteResult(0, 0, 0, 0, 0), ())]).date_range is None


def test_a_re_execution_counts_the_steps_it_skipped_by_their_earlier_runs_records():
    """A re-execution from failure runs the failed shard again and skips the one that had succeeded: the asset's
    writes are the new run's for the first, the parent run's for the second; a run outside the lineage is ignored."""
    records = [
        _record("parent", "shard[a]", WriteResult(5, 0, 0, 5, 1), (1,)),
        _record("child", "shard[b]", WriteResult(7, 0, 0, 7, 1), (2,)),
        _record("parent", "shard[b]", WriteResult(1, 0, 0, 1, 1), (2,)),  # superseded by the child's
        _record("unrelated", "shard[c]", WriteResult(9, 0, 0, 9, 1), (3,)),
    ]
    writes = Writes.latest_per_step(records, ["child", "parent"])
    assert [(r.step_key, r.run_id) for r in writes.records] == [("shard[a]", "parent"), ("shard[b]", "child")]
    assert (writes.total.rows, writes.account_ids, writes.run_ids) == (12, (1, 2), ("parent", "child"))


def test_one_step_per_account_same_tables_same_requests(make_simulator, tmp_path, monkeypatch):
    sim = make_simulator(seed=21, **SIZES)
    account_ids = sorted(a["id"] for a in sim.state.dataset.accounts)

    one_defs, one_warehouse = definitions(sim, tmp_path, "one", accounts_per_step=0)
    dg.Definitions.validate_loadable(one_defs)
    one_results, one_requests = sync(sim, one_defs)
    many_defs, many_warehouse = definitions(sim, tmp_path, "many", accounts_per_step=1)
    many_results, many_requests = sync(sim, many_defs)

    assert all(r.success for r in one_results + many_results)
    for asset in METRIC_TABLES:
        assert len(shard_steps(one_results, asset)) == 1
        assert shard_steps(many_results, asset) == {
            f"linkedin_ads__{asset}.{asset}__sync_shard[account_{a}]" for a in account_ids
        }
    assert many_requests == one_requests > 0
    one, many = tables(one_warehouse), tables(many_warehouse)
    for name in METRIC_TABLES:
        assert len(one[name]) > 0, name
        pd.testing.assert_frame_equal(many[name], one[name], obj=name)

    for results, shards in ((one_results, 1), (many_results, len(account_ids))):
        planned = 0
        for asset in METRIC_TABLES:
            metadata = last_metadata(results, asset)
            assert metadata["shards"] == shards
            assert metadata["dagster/row_count"] == metadata["rows_fetched"] == len(one[asset])
            assert isinstance(metadata["spend_usd"], float) and metadata["spend_usd"] > 0
            assert isinstance(metadata["impressions"], int) and metadata["impressions"] > 0
            assert isinstance(metadata["clicks"], int)
            assert metadata["linkedin/resplits"] == 0
            assert metadata["linkedin/requests"] == metadata["linkedin/planned_requests"]
            planned += metadata["linkedin/planned_requests"]
        for asset in PER_RULE_TABLES:  # no spend in them; sharded and planned the same way
            metadata = last_metadata(results, asset)
            assert (
                metadata["shards"] == shards and metadata["linkedin/requests"] == metadata["linkedin/planned_requests"]
            )
            planned += metadata["linkedin/planned_requests"]
        assert planned == one_requests  # every analytics request was planned: the plans' lower bound


def test_creative_plan_comes_from_the_campaign_rows(make_simulator, tmp_path, monkeypatch):
    """Delete one account's campaign rows: its creatives are then known not to deliver, and are not asked for."""
    sim = make_simulator(seed=22, **SIZES)
    defs, warehouse = definitions(sim, tmp_path, "wh", accounts_per_step=0)
    silent, *others = sorted(a["id"] for a in sim.state.dataset.accounts)
    daily_job, tags = plan_stages(*history(sim), DEFAULTS)[0]
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_stage(defs, instance, daily_job, tags).success
        with warehouse.open() as wh:
            wh.query(f"DELETE FROM {wh.qualified('campaign_daily_metrics')} WHERE account_id = {silent} RETURNING 1")
        sim.state.reset_log()
        creative_key = dg.AssetKey(["linkedin_ads", "creative_daily_metrics"])
        result = defs.resolve_job_def(daily_job).execute_in_process(
            instance=instance, tags=tags, asset_selection=[creative_key], raise_on_error=False
        )
    assert result.success
    asked = [r.query for r in sim.state.request_log if r.endpoint == "adAnalytics"]
    assert asked and all("CREATIVE" in q for q in asked)
    assert not [q for q in asked if f"sponsoredAccount%3A{silent}" in q]
    assert all(any(f"sponsoredAccount%3A{a}" in q for q in asked) for a in others)
    with warehouse.open() as wh:
        creatives = wh.read("creative_daily_metrics")
    assert silent not in set(creatives["account_id"]) and set(creatives["account_id"]) == set(others)
