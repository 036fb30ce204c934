"""A whole sync into PostgreSQL compared with the independently computed ground truth: every table, every column.

The truth comes from ``ground_truth.py`` (the simulator's raw facts, aggregated there); the request counts are held
against a lower bound computed from the data alone, not against the sync's own plan.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from linkedin_assets.linkedin.catalogue import served
from linkedin_assets.linkedin.fields import chunk_metrics
from linkedin_assets.linkedin.restli import decode_query
from linkedin_assets.simulator.conversions import ground_truth_conversion_rules
from linkedin_assets_tests.ground_truth import (
    COST_METRICS,
    DAILY_METRICS,
    DEMOGRAPHIC_METRICS,
    assert_tables_equal,
    expected_tables,
    months_between,
    read_tables,
    request_lower_bound,
    requests_made,
    sim_settings,
    snake,
    sync_in_process,
)

pytestmark = pytest.mark.postgres

YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
DAILY_TABLES = ("accounts", "campaign_groups", "campaigns", "creatives", "conversions", "campaign_daily_metrics",
                "creative_daily_metrics", "campaign_conversion_daily_metrics",
                "creative_conversion_daily_metrics")  # fmt: skip
MONTHLY_TABLES = ("demographic_metrics", "demographic_values")
REACH_WINDOW_DAYS = 92
"""The longest date range for which LinkedIn reports ``approximateMemberReach``."""


def history(sim) -> tuple[dt.date, dt.date]:
    """The simulator's whole history: its first day to yesterday (the last daily partition)."""
    return sim.state.dataset.history_start, YESTERDAY


def _drop(pg_url: str, schema: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _whole_amounts(tables) -> list:
    money = {snake(m) for m in COST_METRICS}
    return [v for t in ("campaign_daily_metrics", "creative_daily_metrics") for r in tables[t].values()
            for c, v in r.items() if c in money and v and v == v.to_integral_value()]  # fmt: skip


def _seed_with_whole_amounts() -> int:
    """The first of a few seeds whose ``small`` data (which shifts with today's date) holds a whole-number amount
    ("12"): a float detour changes its scale ("12.0"), so the comparison catches it."""
    from linkedin_assets.simulator.config import SimulatorConfig
    from linkedin_assets.simulator.data import Dataset

    for seed in (9, 1, 4, 13, 25, 26, 29, 31, 37, 41, 43, 47):
        dataset = Dataset(SimulatorConfig(profile="small", seed=seed))
        if _whole_amounts(expected_tables(dataset, dataset.history_start, YESTERDAY).tables):
            return seed
    raise AssertionError("no seed gives a whole-number amount today")


@pytest.fixture(scope="module")
def synced_small(pg_url, tmp_path_factory):
    """One full sync (daily + monthly) of a ``small`` simulator, its request log kept from a clean start."""
    from linkedin_assets.simulator import SimulatorConfig, SimulatorServer

    tmp_path = tmp_path_factory.mktemp("exact")
    schema = f"exact_{uuid.uuid4().hex[:10]}"
    with SimulatorServer(SimulatorConfig(profile="small", seed=_seed_with_whole_amounts())) as sim:
        sim.state.reset_log()
        with dg.DagsterInstance.ephemeral() as instance:
            run = sync_in_process(sim, pg_url, schema, tmp_path, *history(sim), instance=instance)
            log = list(sim.state.request_log)
            yield run, log, instance
    _drop(pg_url, schema)


def test_every_table_equals_the_ground_truth(synced_small, pg_url):
    run, _, _ = synced_small
    assert [r.success for r in run.results] == [True, True]
    dataset = run.sim.state.dataset
    expected = expected_tables(dataset, run.start, run.end, run.months).tables
    assert all(expected[t] for t in (*DAILY_TABLES, *MONTHLY_TABLES)), "the data set should fill every table"
    assert _whole_amounts(expected), "the data set should hold a whole-number amount (a float detour changes it)"
    with psycopg.connect(pg_url) as conn:
        actual = read_tables(conn, run.schema, expected)
    daily, monthly = run.run_id("linkedin_daily_sync"), run.run_id("linkedin_monthly_sync")
    compared = assert_tables_equal({t: expected[t] for t in DAILY_TABLES}, actual, written_by=daily)
    compared += assert_tables_equal({t: expected[t] for t in MONTHLY_TABLES}, actual, written_by=monthly)
    assert compared == sum(len(rows) for rows in expected.values())


def test_no_secret_in_the_warehouse_the_snapshot_or_the_event_log(synced_small, pg_url):
    """The seed tokens, the client secret and the tokens minted by refreshes appear in no table cell, in no file
    of the snapshot directory and in no event of the sync's runs."""
    run, _, instance = synced_small
    sim = run.sim
    secrets = [sim.access_token, sim.refresh_token, sim.client_secret]
    store = Path(run.snapshot_dir).parent / "tokens.json"
    if store.exists():
        stored = json.loads(store.read_text())
        secrets += [stored[k] for k in ("access_token", "refresh_token") if stored.get(k)]
    with psycopg.connect(pg_url) as conn:
        tables = read_tables(conn, run.schema, (*DAILY_TABLES, *MONTHLY_TABLES))
    cells = json.dumps(tables, default=str)
    files = "".join(p.read_text() for p in Path(run.snapshot_dir).glob("*.json"))
    events = "".join(repr(e) for r in run.results for e in instance.all_logs(r.run_id))  # log lines, metadata
    assert "LinkedIn requests" in events and files and cells, "the check must see the log lines, files and cells"
    for secret in secrets:
        assert secret not in cells and secret not in files and secret not in events, secret[:6] + "..."


def test_metric_columns_have_the_warehouse_types(synced_small, pg_url):
    """Money is NUMERIC (exact decimals), every other metric BIGINT; nothing is a float."""
    run, _, _ = synced_small
    with psycopg.connect(pg_url) as conn:
        types = {
            (table, column): data_type
            for table, column, data_type in conn.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = %s",
                (run.schema,),
            )
        }
    for table, metrics in (
        ("campaign_daily_metrics", DAILY_METRICS),
        ("creative_daily_metrics", DAILY_METRICS),
        ("demographic_metrics", DEMOGRAPHIC_METRICS),
    ):
        for metric in metrics:
            wanted = "numeric" if metric in COST_METRICS else "bigint"
            assert types[(table, snake(metric))] == wanted, (table, metric)
    assert "double precision" not in {t for (table, _), t in types.items() if table.endswith("metrics")}


def test_requests_are_the_lower_bound_computed_from_the_data(synced_small):
    """Analytics: exactly the fewest requests the rows need (field chunks x windows per account and pivot, one
    per account and MEMBER_* pivot); entity finders and lookups: at least their bound, and no endpoint the bound
    does not know."""
    run, log, _ = synced_small
    dataset = run.sim.state.dataset
    bound = request_lower_bound(dataset, expected_tables(dataset, run.start, run.end, run.months))
    made = requests_made(log)
    assert all(record.status == 200 for record in log), [r for r in log if r.status != 200][:3]
    analytics = {k: v for k, v in bound.items() if k.startswith("adAnalytics")}
    assert {k: made.get(k, 0) for k in analytics} == analytics
    for endpoint, minimum in bound.items():
        assert made.get(endpoint, 0) >= minimum, (endpoint, made.get(endpoint, 0), minimum)
    assert set(made) - set(bound) == set(), f"requests to endpoints a sync does not need: {made}"
    # finders need no more than their bound on a data set this small (one page each)
    finders = ("adAccountUsers", "adAccounts", "adCampaignGroups", "adCampaigns", "creatives")
    assert {k: made.get(k, 0) for k in finders} == {k: bound[k] for k in finders}
    # lookups: every URN asked once, in batches of at most 50 (what LinkedIn's URL limit and peers allow)
    for endpoint, parameter in (("posts", "ids"), ("adTargetingEntities", "urns")):
        asked = [urn for r in log if r.endpoint == endpoint for urn in decode_query(r.query)[parameter]]
        assert len(asked) == len(set(asked)), f"{endpoint}: some URN asked twice"
        assert made.get(endpoint, 0) == -(-len(asked) // 50), (endpoint, made.get(endpoint, 0), len(asked))


def test_creatives_are_asked_only_where_their_campaigns_delivered(make_simulator, pg_url, pg_schema, tmp_path,
                                                                  monkeypatch):  # fmt: skip
    """A one-day run over many one-campaign accounts: some accounts' campaigns had a dark day or never delivered,
    so their creatives cannot have rows; asking for them anyway costs a request per field chunk and account."""

    sim = make_simulator(profile="custom", accounts=24, campaigns_per_account=1, creatives_per_campaign=1, days=12,
                         seed=7)  # fmt: skip
    day = YESTERDAY - dt.timedelta(days=2)
    for rule in ground_truth_conversion_rules(sim.state.dataset)["id"]:  # else their windows widen the lookback
        sim.state.edit_conversion(int(rule), {"enabled": False})
    sim.state.reset_log()
    settings = sim_settings(sim, tmp_path, lookback_days=1)
    run = sync_in_process(sim, pg_url, pg_schema, tmp_path, day, day, settings=settings,
                          jobs=("linkedin_daily_sync",))  # fmt: skip
    assert [r.success for r in run.results] == [True]
    dataset = sim.state.dataset
    expected = expected_tables(dataset, day, day)
    delivering = {a for a, campaigns in expected.delivered.items() if campaigns}
    scheduled = {a["id"] for a in dataset.accounts}
    assert 0 < len(delivering) < len(scheduled), "the data set should have accounts idle on that day"
    bound = request_lower_bound(dataset, expected)
    made = requests_made(sim.state.request_log)
    chunks = len(chunk_metrics(served(DAILY_METRICS)))  # 63 metrics served of the 64: 4 chunks of 18
    assert made.get("adAnalytics:CREATIVE", 0) == bound["adAnalytics:CREATIVE"] == chunks * len(delivering)
    assert made.get("adAnalytics:CAMPAIGN", 0) >= bound["adAnalytics:CAMPAIGN"]
    with psycopg.connect(pg_url) as conn:
        actual = read_tables(conn, pg_schema, DAILY_TABLES)
    assert_tables_equal(expected.tables, actual, written_by=run.results[0].run_id)


@pytest.mark.parametrize("rules", ["as_generated", "disabled"])
def test_a_one_day_sync_rereads_exactly_the_lookback(make_simulator, pg_url, pg_schema, tmp_path, rules):
    """A daily run of one day on a longer history asks adAnalytics from the lookback's first day, not a day less or
    more: the day itself and the 29 before it (the default 30 days), or as many days as the longest post-click
    window of the account's enabled conversion rules when that is longer (a 90-day rule revises 90 days)."""
    from linkedin_assets.settings import Settings

    sim = make_simulator(profile="custom", accounts=1, campaigns_per_account=2, creatives_per_campaign=1, days=130,
                         seed=8)  # fmt: skip
    found = ground_truth_conversion_rules(sim.state.dataset)
    if rules == "disabled":
        for rule in found["id"]:
            sim.state.edit_conversion(int(rule), {"enabled": False})
    longest = 0 if rules == "disabled" else int(found[found["enabled"]]["post_click_attribution_window_size"].max())
    lookback = max(Settings().lookback_days, longest)
    assert lookback == (90 if rules == "as_generated" else 30), "the data set should have an enabled 90-day rule"
    day = YESTERDAY
    sim.state.reset_log()
    run = sync_in_process(sim, pg_url, pg_schema, tmp_path, day, day, jobs=("linkedin_daily_sync",))
    assert [r.success for r in run.results] == [True]
    starts = {
        (decoded["dateRange"]["start"]["year"], decoded["dateRange"]["start"]["month"],
         decoded["dateRange"]["start"]["day"])
        for r in sim.state.requests("adAnalytics") for decoded in [decode_query(r.query)]
    }  # fmt: skip
    first = day - dt.timedelta(days=lookback - 1)
    expected = expected_tables(sim.state.dataset, first, day)
    assert first in {r["date"] for r in expected.tables["campaign_daily_metrics"].values()}, "delivery on that day"
    assert min(dt.date(*map(int, start)) for start in starts) == first
    tables = ("campaign_daily_metrics", "campaign_conversion_daily_metrics")
    with psycopg.connect(pg_url) as conn:
        actual = read_tables(conn, pg_schema, tables)
    for table in tables:
        assert {r["date"] for r in actual[table]} == {r["date"] for r in expected.tables[table].values()}, table


def test_snapshot_holds_the_last_90_days(make_simulator, pg_url, pg_schema, tmp_path, monkeypatch):
    """With 120 days of history, the snapshot's daily rows are exactly the warehouse's last 90 days."""
    sim = make_simulator(profile="custom", accounts=1, campaigns_per_account=2, creatives_per_campaign=1, days=120,
                         seed=4)  # fmt: skip
    start, end = history(sim)
    run = sync_in_process(sim, pg_url, pg_schema, tmp_path, start, end)
    assert [r.success for r in run.results] == [True, True]
    document = json.loads((Path(run.snapshot_dir) / "latest.json").read_text())
    first = end - dt.timedelta(days=89)
    assert document["window"] == {"start": first.isoformat(), "end": end.isoformat()}
    expected = expected_tables(sim.state.dataset, start, end, window_days=120).tables
    in_window = {k: r for k, r in expected["campaign_daily_metrics"].items() if first <= k[1] <= end}
    older = [k for k in expected["campaign_daily_metrics"] if k[1] < first]
    assert in_window and older, "the data set should have days on both sides of the window"
    got = {
        (campaign["id"], dt.date.fromisoformat(day["date"])): day["impressions"]
        for account in document["accounts"]
        for campaign in account["campaigns"]
        for day in campaign["daily_metrics"]
    }
    assert got == {k: r["impressions"] for k, r in in_window.items()}
    creative_days = {
        (creative["id"], dt.date.fromisoformat(day["date"]))
        for account in document["accounts"]
        for campaign in account["campaigns"]
        for creative in campaign["creatives"]
        for day in creative["daily_metrics"]
    }
    assert creative_days == {k for k in expected["creative_daily_metrics"] if first <= k[1] <= end}


def test_legitimate_oddities_land_and_only_warn(make_simulator, pg_url, pg_schema, tmp_path, monkeypatch):
    """Clicks above impressions, a campaign-day below one of its creatives, floating-point dust in money: LinkedIn
    sends them; every row lands exactly, the checks that judge them warn, the run succeeds, the snapshot lists
    the warnings."""
    import dagster as dg

    sim = make_simulator(profile="small", seed=21, oddities=True)
    run = sync_in_process(sim, pg_url, pg_schema, tmp_path, *history(sim))
    assert [r.success for r in run.results] == [True, True]
    dataset = sim.state.dataset
    expected = expected_tables(dataset, run.start, run.end, run.months).tables
    creative_days = expected["creative_daily_metrics"].values()
    assert any(r["clicks"] > r["impressions"] for r in creative_days), "the oddity mode should make clicks > impr."
    assert not dataset.campaign_day_corrections().empty, "the oddity mode should correct some campaign-days"
    with psycopg.connect(pg_url) as conn:
        assert_tables_equal(expected, read_tables(conn, pg_schema, expected))

    evaluations = [
        event.event_specific_data
        for result in run.results
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    failed = [e for e in evaluations if not e.passed]
    assert failed, "a check should have judged the oddities"
    assert {e.severity for e in failed} == {dg.AssetCheckSeverity.WARN}, [(e.check_name, e.severity) for e in failed]
    document = json.loads((Path(run.snapshot_dir) / "latest.json").read_text())
    warnings = document.get("warnings")
    assert warnings, "the snapshot should list the warnings"
    assert all({"check", "entity", "day"} <= set(w) for w in warnings), warnings[:3]
    assert {w["check"] for w in warnings} <= {e.check_name for e in failed} | {
        str(e.asset_check_key.name) for e in failed
    }


def test_reach_is_kept_over_a_history_longer_than_92_days(make_simulator, pg_url, pg_schema, tmp_path, monkeypatch):
    sim = make_simulator(profile="custom", accounts=1, campaigns_per_account=2, creatives_per_campaign=1, days=120,
                         seed=4)  # fmt: skip
    start, end = history(sim)
    run = sync_in_process(sim, pg_url, pg_schema, tmp_path, start, end, jobs=("linkedin_daily_sync",))
    assert [r.success for r in run.results] == [True]
    expected = expected_tables(sim.state.dataset, start, end, window_days=REACH_WINDOW_DAYS).tables
    tables = ("campaign_daily_metrics", "creative_daily_metrics")
    with psycopg.connect(pg_url) as conn:
        assert_tables_equal({t: expected[t] for t in tables}, read_tables(conn, pg_schema, tables))


def test_revisions_across_a_month_boundary_land_in_every_table(make_simulator, pg_url, pg_schema, tmp_path):
    """LinkedIn revises the last 14 days, which cross a month boundary; the next day's sync (one day, one monthly
    partition, the default 30-day lookback) leaves every table, the previous month's demographics included, equal
    to the revised truth."""
    today = (YESTERDAY.replace(day=1) - dt.timedelta(days=1)).replace(day=6)  # last month's 6th: revisions cross
    sim = make_simulator(profile="custom", accounts=2, campaigns_per_account=3, creatives_per_campaign=2, days=45,
                         seed=31, late_data_days=14, today=today)  # fmt: skip
    start, end = sim.state.dataset.history_start, today - dt.timedelta(days=1)
    months = months_between(start, end)
    assert (end - dt.timedelta(days=13)).month != end.month, "the revised days should cross a month boundary"
    first = sync_in_process(sim, pg_url, pg_schema, tmp_path, start, end)
    assert [r.success for r in first.results] == [True, True]
    before = expected_tables(sim.state.dataset, start, end, months).tables

    sim.state.new_generation()
    revised = expected_tables(sim.state.dataset, start, end, months).tables
    previous_month = end.replace(day=1) - dt.timedelta(days=1)
    old, new = before["demographic_metrics"], revised["demographic_metrics"]
    changed = [key for key, row in new.items() if old.get(key) != row]
    assert any(row_key[-1] == previous_month.replace(day=1) for row_key in changed), "the revision should reach it"

    next_day = sync_in_process(sim, pg_url, pg_schema, tmp_path, end, end)
    assert [r.success for r in next_day.results] == [True, True]
    with psycopg.connect(pg_url) as conn:
        actual = read_tables(conn, pg_schema, revised)
    assert assert_tables_equal(revised, actual) == sum(len(rows) for rows in revised.values())


def test_rows_of_creatives_the_finder_no_longer_lists_land_with_their_account(
    make_simulator, pg_url, pg_schema, tmp_path
):
    """LinkedIn reports the delivery of a creative its finder does not return: the rows land with the account they
    were requested for and count as written, a WARN check names the creative, the sync succeeds and the snapshot
    lists the rows in its warnings."""
    import json

    sim = make_simulator(profile="custom", accounts=2, campaigns_per_account=2, creatives_per_campaign=2, days=10,
                         seed=33)  # fmt: skip
    start, end = history(sim)
    truth = expected_tables(sim.state.dataset, start, end).tables["creative_daily_metrics"]
    (unlisted, _), row = next(iter(truth.items()))
    sim.state.remove_creative(unlisted)
    unlisted_rows = {key: r for key, r in truth.items() if key[0] == unlisted}

    run = sync_in_process(sim, pg_url, pg_schema, tmp_path, start, end)

    assert [r.success for r in run.results] == [True, True]
    with psycopg.connect(pg_url) as conn:
        landed = conn.execute(
            f'SELECT date, account_id, impressions FROM "{pg_schema}".creative_daily_metrics WHERE creative_id = %s',
            (unlisted,),
        ).fetchall()
    assert {(d, a) for d, a, _ in landed} == {(key[1], row["account_id"]) for key, row in unlisted_rows.items()}
    assert sum(i for *_, i in landed) == sum(r["impressions"] for r in unlisted_rows.values())
    checks = {
        (e.asset_key.path[-1], e.check_name): e for result in run.results for e in result.get_asset_check_evaluations()
    }
    named = checks[("creative_daily_metrics", "rows_of_known_entities")]
    assert not named.passed and named.severity.value == "WARN"
    assert {s["entity_id"] for s in named.metadata["sample"].value} == {unlisted}
    assert checks[("creative_daily_metrics", "rows_match_their_run")].passed
    document = json.loads((tmp_path / "snapshots" / "latest.json").read_text())
    warned = {w["entity_id"] for w in document["warnings"] if w["check"] == "rows_of_known_entities"}
    assert warned == {unlisted}


def test_the_snapshot_carries_each_rules_totals_and_adds_no_rules_up(synced_small):
    """Schema 1.2: every conversion rule of each account, with its per-rule totals over the snapshot's window, equal
    to the per-rule campaign rows of those days; nothing in the document sums rules (one action counts under several
    rules)."""
    run, _, _ = synced_small
    document = json.loads((Path(run.snapshot_dir) / "latest.json").read_text())
    assert document["schema_version"] == "1.2"
    start, end = (dt.date.fromisoformat(document["window"][k]) for k in ("start", "end"))
    expected = expected_tables(run.sim.state.dataset, start, end)
    per_rule = expected.tables["campaign_conversion_daily_metrics"].values()
    rules = {r["id"]: r for r in expected.tables["conversions"].values()}
    seen = 0
    for account in document["accounts"]:
        assert {r["id"] for r in account["conversion_rules"]} == {
            i for i, r in rules.items() if r["account_id"] == account["id"]
        }
        for rule in account["conversion_rules"]:
            rows = [r for r in per_rule if r["conversion_id"] == rule["id"]]
            conversions = sum(r["external_website_conversions"] for r in rows) if rows else None
            value = sum(r["conversion_value_in_local_currency"] for r in rows) if rows else None
            assert rule["totals"]["external_website_conversions"] == conversions
            got_value = rule["totals"]["conversion_value_in_local_currency"]
            assert (Decimal(got_value) if got_value is not None else None) == value
            assert rule["name"] == rules[rule["id"]]["name"] and rule["removed"] is False
            seen += bool(rows)
    assert seen > 0
    assert "conversions_total" not in json.dumps(document)


def _view(pg_url: str, schema: str, sql: str) -> list[tuple]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql.format(v=f'"{schema}_fivetran"', t=f'"{schema}"')).fetchall()


def test_the_fivetran_views_hold_every_row_under_fivetrans_names_keys_and_types(synced_small, pg_url):
    """The Fivetran-compatible schema after a sync: each table of fivetran/linkedin's contract (and the conversion
    ones) has the rows of the project's table behind it, keyed as Fivetran keys it, with day a timestamp, month a
    'YYYY-MM' string and the geo URN's numeric id."""
    run, _, _ = synced_small
    q = functools.partial(_view, pg_url, run.schema)
    for view, table in (("ad_analytics_by_campaign", "campaign_daily_metrics"),
                        ("ad_analytics_by_creative", "creative_daily_metrics"),
                        ("ad_analytics_by_campaign_with_conversion_breakdown", "campaign_conversion_daily_metrics"),
                        ("ad_analytics_by_creative_with_conversion_breakdown", "creative_conversion_daily_metrics"),
                        ("account_history", "accounts"), ("campaign_history", "campaigns"),
                        ("campaign_group_history", "campaign_groups"), ("creative_history", "creatives"),
                        ("conversion_history", "conversions")):  # fmt: skip
        [(rows, synced)] = q(f"SELECT count(*), count(_fivetran_synced) FROM {{v}}.{view}")
        [(want,)] = q(f"SELECT count(*) FROM {{t}}.{table}")
        assert rows == synced == want > 0, view  # one version per entity after one sync
    key = "id, last_modified_time"
    for view in ("account_history", "campaign_group_history", "campaign_history", "conversion_history"):
        assert q(f"SELECT {key}, count(*) FROM {{v}}.{view} GROUP BY {key} HAVING count(*) > 1") == [], view
    [(day_type,)] = q(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = '{s}_fivetran' AND "
        "table_name = 'ad_analytics_by_campaign' AND column_name = 'day'".replace("{s}", run.schema)
    )
    assert day_type == "timestamp without time zone"
    country = q(
        "SELECT campaign_id, month, member_country, impressions FROM {v}.monthly_ad_analytics_by_member_country"
    )
    want = q(
        "SELECT entity_id, to_char(month, 'YYYY-MM'), replace(value, 'urn:li:geo:', '')::bigint, impressions "
        "FROM {t}.demographic_metrics WHERE level = 'campaign' AND pivot = 'MEMBER_COUNTRY_V2'"
    )
    assert country and sorted(country) == sorted(want)
    assert all(isinstance(geo, int) and len(month) == 7 for _, month, geo, _ in country)
    named = {i for (i,) in q("SELECT id FROM {v}.geo")}
    assert {geo for _, _, geo, _ in country} <= named
