"""The LinkedIn client against the simulator on loopback: paging, analytics plans, tunneling, auth, retries, errors."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import os
import stat
from decimal import Decimal

import pytest

from linkedin_assets.linkedin import client as client_module
from linkedin_assets.linkedin.catalogue import DAILY_METRICS, served
from linkedin_assets.linkedin.client import ClientConfig, LinkedInClient
from linkedin_assets.linkedin.errors import (
    LinkedInAuthError,
    LinkedInConfigError,
    LinkedInHTTPError,
    LinkedInPayloadError,
    LinkedInQuotaExhausted,
)
from linkedin_assets.linkedin.fields import MAX_ELEMENTS, chunk_metrics
from linkedin_assets.linkedin.models import Campaign, Creative, parse_entity
from linkedin_assets.linkedin.plan import (
    ActivitySpan,
    AnalyticsPlan,
    AnalyticsQuery,
    entity_spans,
    merge_plans,
    plan_daily,
)

CUSTOM_MEDIUM = {
    "profile": "custom",
    "accounts": 2,
    "campaigns_per_account": 30,
    "creatives_per_campaign": 3,
    "days": 60,
}

SERVED = served(DAILY_METRICS)
"""The daily metrics LinkedIn still serves (the retired one is never asked for)."""
CHUNKS = len(chunk_metrics(SERVED))


def config_for(sim, **overrides) -> ClientConfig:
    """Client settings for a simulator, with every wait shrunk to milliseconds."""
    values = {
        "api_base_url": sim.api_base_url,
        "oauth_base_url": sim.oauth_base_url,
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "access_token": sim.access_token,
        "refresh_token": sim.refresh_token,
        "timeout_s": 5.0,
        "backoff_base_s": 0.001,
        "backoff_cap_s": 0.01,
        "throttle_wait_s": 0.01,
        "quota_exhausted_after_s": 30.0,
        "max_retries": 12,
    }
    return ClientConfig(**{**values, **overrides})


def run(config: ClientConfig, work, **client_kwargs):
    """Run ``work(client)`` in a fresh client; returns (result, client)."""

    async def main():
        async with LinkedInClient(config, **client_kwargs) as client:
            return await work(client), client

    return asyncio.run(main())


async def fetch_entities(client: LinkedInClient):
    accounts = await client.ad_accounts()
    groups, campaigns, creatives = {}, {}, {}
    for account in accounts:
        groups[account.id] = await client.campaign_groups(account.id)
        campaigns[account.id] = await client.campaigns(account.id)
        creatives[account.id] = await client.creatives(account.id)
    return accounts, groups, campaigns, creatives


def daily_plan(sim, entities, max_elements: int = MAX_ELEMENTS, metrics=SERVED) -> AnalyticsPlan:
    accounts, _, campaigns, creatives = entities
    dataset = sim.state.dataset
    parts = []
    for account in accounts:
        spans = entity_spans([c.to_row() for c in campaigns[account.id]], [c.to_row() for c in creatives[account.id]])
        for pivot in ("CAMPAIGN", "CREATIVE"):
            parts.append(
                plan_daily(
                    account.urn, pivot, spans[pivot], dataset.history_start, dataset.today, metrics, max_elements
                )
            )
    return merge_plans(*parts)


def as_truth(rows, pivot: str, metrics=SERVED) -> dict:
    """Client rows of one pivot as {(urn, day): {metric: value}}."""
    out = {}
    for row in rows:
        if row.pivot == pivot:
            assert row.start == row.end
            assert (row.pivot_value, row.start) not in out
            out[(row.pivot_value, row.start)] = {m: row.metrics[m] for m in metrics}
    return out


def ground_truth(sim, pivot: str, metrics=SERVED) -> dict:
    frame = sim.state.dataset.daily_metrics(pivot)
    return {
        (record["pivot_value"], record["date"]): {
            m: record[m] if isinstance(record[m], Decimal) else int(record[m]) for m in metrics
        }
        for record in frame.to_dict("records")
    }


def analytics_log(sim):
    return [r for r in sim.state.request_log if r.endpoint == "adAnalytics"]


# -- configuration and models (no server) -------------------------------------------------------------------


def test_the_client_config_is_built_from_the_settings():
    from linkedin_assets.defs.resources import linkedin_resource
    from linkedin_assets.settings import load_settings

    settings = load_settings(
        {
            "LINKEDIN_CLIENT_ID": "app",
            "LINKEDIN_CLIENT_SECRET": "s3cret",
            "LINKEDIN_REFRESH_TOKEN": "rt-value",
            "LINKEDIN_ACCOUNT_IDS": "512, urn:li:sponsoredAccount:77 ,512",
            "LINKEDIN_API_VERSION": "202607",
            "LINKEDIN_MAX_CONCURRENCY": "2",
            "LINKEDIN_TOKEN_STORE": "/tmp/x.json",
            "UNRELATED": "x",
        }
    )
    config = linkedin_resource(settings).config()
    assert config.account_ids == (512, 77)
    assert (config.api_version, config.max_concurrency, config.token_store_path) == ("202607", 2, "/tmp/x.json")
    assert (config.client_id, config.client_secret, config.refresh_token) == ("app", "s3cret", "rt-value")
    assert config.api_base_url == ClientConfig().api_base_url  # unset: the client's own default
    assert "s3cret" not in repr(config) and "rt-value" not in repr(config)
    assert "s3cret" not in repr(settings) and "rt-value" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LINKEDIN_ACCOUNT_IDS": "12,abc,34"}, "'abc'"),
        ({"LINKEDIN_ACCOUNT_IDS": "urn:li:sponsoredCampaign:5"}, "urn:li:sponsoredCampaign:5"),
        ({"LINKEDIN_API_VERSION": "202613"}, "202613"),
        ({"LINKEDIN_API_VERSION": "2026-10"}, "2026-10"),
        ({"LINKEDIN_MAX_CONCURRENCY": "many"}, "many"),
    ],
)
def test_bad_configuration_names_the_bad_item(env, named):
    from linkedin_assets.defs.resources import linkedin_resource
    from linkedin_assets.settings import SettingsError, load_settings

    with pytest.raises((LinkedInConfigError, SettingsError), match=named):
        linkedin_resource(load_settings(env)).config()


def test_old_api_version_is_warned_about(caplog, simulator):
    with caplog.at_level(logging.WARNING, logger="linkedin_assets.linkedin"):
        run(config_for(simulator, api_version="202411"), lambda client: asyncio.sleep(0))
    assert any("LINKEDIN_API_VERSION" in r.getMessage() for r in caplog.records)


def test_models_parse_linkedin_types():
    campaign = parse_entity(
        Campaign,
        {
            "id": 141049524,
            "account": "urn:li:sponsoredAccount:512345678",
            "campaignGroup": "urn:li:sponsoredCampaignGroup:603407684",
            "dailyBudget": {"amount": "1.5E+2", "currencyCode": "EUR"},
            "runSchedule": {"start": 1727740800000},
            "changeAuditStamps": {"created": {"time": 1530119777000}, "lastModified": {"time": 1733011200000}},
            "someFutureField": {"x": 1},
        },
        "campaign",
        "adCampaigns",
    )
    row = campaign.to_row()
    assert (row["account_id"], row["campaign_group_id"]) == (512345678, 603407684)
    assert row["daily_budget_amount"] == Decimal("150") and row["daily_budget_currency_code"] == "EUR"
    assert row["run_schedule_start"] == dt.datetime(2024, 10, 1, tzinfo=dt.UTC)
    assert row["run_schedule_end"] is None and row["serving_statuses"] == []
    creative = parse_entity(
        Creative,
        {
            "id": "urn:li:sponsoredCreative:119962155",
            "account": "urn:li:sponsoredAccount:1",
            "campaign": "urn:li:sponsoredCampaign:2",
            "content": {"textAd": {"headline": "Hello"}},
        },
        "creative",
        "creatives",
    )
    assert (creative.numeric_id, creative.to_row()["content_type"], creative.to_row()["text_ad_headline"]) == (
        119962155,
        "textAd",
        "Hello",
    )


def test_malformed_entity_names_entity_id_and_field():
    with pytest.raises(LinkedInPayloadError, match=r"^adCampaigns: campaign 123: field 'runSchedule\.start'"):
        parse_entity(
            Campaign,
            {"id": 123, "account": "urn:li:sponsoredAccount:1", "runSchedule": {"start": "soon"}},
            "campaign",
            "adCampaigns",
        )


# -- entities -------------------------------------------------------------------------------------------------


def test_pagination_across_pages_of_both_kinds(make_simulator, monkeypatch):
    sim = make_simulator(profile="custom", accounts=3, campaigns_per_account=7, creatives_per_campaign=3, days=10)
    monkeypatch.setattr(client_module, "OFFSET_PAGE_SIZE", 2)
    monkeypatch.setattr(client_module, "CURSOR_PAGE_SIZE", 3)
    monkeypatch.setattr(client_module, "CREATIVES_PAGE_SIZE", 4)
    (accounts, groups, campaigns, creatives), _ = run(config_for(sim), fetch_entities)
    dataset = sim.state.dataset
    assert sorted(a.id for a in accounts) == sorted(a["id"] for a in dataset.accounts)
    assert sorted(c.id for cs in campaigns.values() for c in cs) == sorted(c["id"] for c in dataset.campaigns)
    assert sorted(g.id for gs in groups.values() for g in gs) == sorted(g["id"] for g in dataset.campaign_groups)
    assert sorted(c.urn for cs in creatives.values() for c in cs) == sorted(c["id"] for c in dataset.creatives)
    assert all(c.account_id == account_id for account_id, cs in campaigns.items() for c in cs)
    counts = sim.state.counts_by_endpoint()
    assert counts["adAccountUsers"] >= 2  # offset paging: 3 accounts, 2 per page
    assert counts["adCampaigns"] >= 3 * 3  # cursor paging: 7 campaigns per account, 3 per page
    assert counts["creatives"] >= 3 * 6  # 21 creatives per account, 4 per page
    assert any("pageToken=" in r.query for r in sim.state.request_log if r.endpoint == "adCampaigns")
    assert any("start=2" in r.query for r in sim.state.request_log if r.endpoint == "adAccountUsers")


def test_account_filter_and_an_invisible_account(simulator):
    visible = simulator.state.dataset.accounts[0]["id"]
    accounts, _ = run(config_for(simulator, account_ids=(visible,)), lambda c: c.ad_accounts())
    assert [a.id for a in accounts] == [visible]
    with pytest.raises(LinkedInConfigError, match="424242"):
        run(config_for(simulator, account_ids=(visible, 424242)), lambda c: c.ad_accounts())


def test_posts_and_targeting_names(simulator):
    dataset = simulator.state.dataset
    references = [c["content"]["reference"] for c in dataset.creatives if "reference" in c.get("content", {})]

    async def work(client):
        return await client.posts(references), await client.targeting_entity_names(
            ["urn:li:seniority:5", "urn:li:seniority:9", "urn:li:geo:103644278"]
        )

    (posts, names), _ = run(config_for(simulator), work)
    readable = {urn for urn, post in dataset.posts.items() if post is not None}
    assert set(posts) == readable & set(references)
    assert set(names) <= {"urn:li:seniority:5", "urn:li:seniority:9", "urn:li:geo:103644278"} and names


# -- analytics ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def medium_sim():
    from linkedin_assets.simulator import SimulatorConfig, SimulatorServer

    with SimulatorServer(SimulatorConfig(seed=3, **CUSTOM_MEDIUM)) as server:
        yield server


@pytest.fixture(scope="module")
def storm_sim():
    """A small two-account simulator whose fault knobs the storm tests turn on and off."""
    from linkedin_assets.simulator import SimulatorConfig, SimulatorServer

    config = SimulatorConfig(
        profile="custom", seed=4, accounts=2, campaigns_per_account=8, creatives_per_campaign=2, days=30
    )
    with SimulatorServer(config) as server:
        yield server


@pytest.mark.parametrize("which", ["small", "custom_medium"])
def test_analytics_equal_ground_truth_at_the_plans_lower_bound(which, simulator, medium_sim):
    sim = simulator if which == "small" else medium_sim
    entities, _ = run(config_for(sim), fetch_entities)
    plan = daily_plan(sim, entities)
    sim.state.reset_log()
    rows, client = run(config_for(sim), lambda c: c.run_analytics(plan))
    assert len(analytics_log(sim)) == plan.request_count == client.stats.as_metadata()["requests_adAnalytics"]
    # one account-level request per (account, pivot, chunk) when no window split is needed
    assert plan.request_count == len(entities[0]) * 2 * CHUNKS
    for pivot in ("CAMPAIGN", "CREATIVE"):
        assert as_truth(rows, pivot) == ground_truth(sim, pivot)


def test_windows_split_at_a_lowered_cap_and_stale_spans_are_resplit(make_simulator):
    sim = make_simulator(
        profile="custom", accounts=1, campaigns_per_account=12, creatives_per_campaign=2, days=40, max_elements=60
    )
    entities, _ = run(config_for(sim), fetch_entities)
    truth = ground_truth(sim, "CREATIVE")

    plan = daily_plan(sim, entities, max_elements=60)
    windows = {(q.start, q.end) for q in plan.queries if q.pivot == "CREATIVE"}
    assert len(windows) > 1
    sim.state.reset_log()
    rows, client = run(config_for(sim, max_elements=60), lambda c: c.run_analytics(plan))
    assert client.stats.resplits == 0 and len(analytics_log(sim)) == plan.request_count
    assert as_truth(rows, "CREATIVE") == truth

    # Spans claiming every creative stopped on the first day: one window, truncated responses, re-split.
    account = entities[0][0]
    first = sim.state.dataset.history_start
    stale = [ActivitySpan(c.urn, None, first) for c in entities[3][account.id]]
    stale_plan = merge_plans(
        plan_daily(account.urn, "CREATIVE", stale, first, sim.state.dataset.today, SERVED, max_elements=60)
    )
    assert stale_plan.request_count == CHUNKS
    sim.state.reset_log()
    rows, client = run(config_for(sim, max_elements=60), lambda c: c.run_analytics(stale_plan))
    assert client.stats.resplits > 0
    assert len(analytics_log(sim)) > stale_plan.request_count
    assert max(r.elements for r in analytics_log(sim)) <= 60
    assert as_truth(rows, "CREATIVE") == truth


def test_long_entity_lists_are_tunneled(simulator):
    dataset = simulator.state.dataset
    real = [c["id"] for c in dataset.creatives]
    padding = [f"urn:li:sponsoredCreative:{900_000_000 + i}" for i in range(150)]
    query = AnalyticsQuery(
        finder="analytics",
        pivot="CREATIVE",
        granularity="DAILY",
        start=dataset.history_start,
        end=dataset.today,
        facet="creatives",
        facet_urns=tuple(padding + real),
        metrics=("impressions", "clicks", "costInUsd"),
    )
    simulator.state.reset_log()
    rows, _ = run(config_for(simulator), lambda c: c.run_analytics(AnalyticsPlan((query,))))
    (record,) = analytics_log(simulator)
    assert record.method == "POST" and record.tunneled and len(record.query) > 4096
    assert as_truth(rows, "CREATIVE", query.metrics) == ground_truth(simulator, "CREATIVE", query.metrics)


def test_missing_rows_in_one_chunk_are_none_not_refetched(simulator):
    dataset = simulator.state.dataset
    account = dataset.accounts[0]["id"]
    # the second chunk asks only for a metric no row has, the first for one that every row has
    queries = tuple(
        AnalyticsQuery("analytics", "CAMPAIGN", "DAILY", dataset.history_start, dataset.today, "accounts",
                       (f"urn:li:sponsoredAccount:{account}",), metrics)
        for metrics in (("impressions",), ("clicks",))
    )  # fmt: skip
    simulator.state.reset_log()
    rows, _ = run(config_for(simulator), lambda c: c.run_analytics(AnalyticsPlan(queries)))
    assert len(analytics_log(simulator)) == 2
    truth = ground_truth(simulator, "CAMPAIGN", ("impressions", "clicks"))
    assert as_truth(rows, "CAMPAIGN", ("impressions", "clicks")) == truth
    assert all(set(row.metrics) == {"impressions", "clicks"} for row in rows)


# -- auth -----------------------------------------------------------------------------------------------------


def test_expired_token_is_refreshed_once_and_stored(make_simulator, tmp_path, caplog):
    sim = make_simulator(profile="small", seed=2)
    store = tmp_path / "tokens.json"
    config = config_for(sim, token_store_path=str(store))
    entities, _ = run(config, fetch_entities)
    plan = daily_plan(sim, entities)
    sim.state.expire_access_tokens()
    with caplog.at_level(logging.DEBUG):
        rows, client = run(config, lambda c: c.run_analytics(plan))
    assert client.stats.refreshes == 1
    assert as_truth(rows, "CAMPAIGN") == ground_truth(sim, "CAMPAIGN")
    saved = json.loads(store.read_text())
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["tokens.json"]  # written atomically: no temporary file left behind
    assert saved["source"] == "refresh" and saved["access_token"] not in (None, sim.access_token)
    assert saved["refreshed_at"] and saved["access_token_expires_at"] and saved["refresh_token"]
    secrets = {sim.access_token, sim.refresh_token, sim.client_secret, saved["access_token"], saved["refresh_token"]}
    assert not [r for r in caplog.records for s in secrets if s in r.getMessage()]

    # the next run starts from the store, not from the (now stale) environment access token
    sim.state.reset_log()
    _, client = run(config, lambda c: c.campaigns(entities[0][0].id))
    assert client.stats.refreshes == 0
    assert all(r.status == 200 for r in sim.state.request_log)


def test_dead_refresh_token_stops_with_reauth_hint(make_simulator, caplog):
    sim = make_simulator(profile="small", seed=2)
    sim.state.revoke_refresh_tokens()
    sim.state.expire_access_tokens()
    with caplog.at_level(logging.DEBUG), pytest.raises(LinkedInAuthError) as raised:
        run(config_for(sim), lambda c: c.ad_accounts())
    text = str(raised.value)
    assert "linkedin-assets auth login" in text and "LINKEDIN_REFRESH_TOKEN" in text
    for secret in (sim.access_token, sim.refresh_token, sim.client_secret):
        assert secret not in text
        assert not [r for r in caplog.records if secret in r.getMessage()]


# -- retries and errors ---------------------------------------------------------------------------------------


CLEAN = {"rate_429": 0.0, "rate_500": 0.0, "rate_503": 0.0, "rate_timeout": 0.0, "rate_truncated_body": 0.0}


@pytest.mark.parametrize(
    ("faults", "client_timeout_s"),
    [
        ({"rate_429": 0.3}, 5.0),
        ({"rate_500": 0.15, "rate_503": 0.15}, 5.0),
        ({"rate_truncated_body": 0.3}, 5.0),
        ({"rate_timeout": 0.1, "timeout_s": 3.0}, 1.0),
    ],
    ids=["429", "5xx", "truncated", "timeout"],
)
def test_fault_storms_give_the_same_data_as_a_clean_run(faults, client_timeout_s, storm_sim):
    entities, _ = run(config_for(storm_sim), fetch_entities)
    plan = daily_plan(storm_sim, entities)
    storm_sim.configure(**faults)
    config = config_for(storm_sim, timeout_s=client_timeout_s)
    try:
        stormy_entities, stormy_client = run(config, fetch_entities)
        rows, client = run(config, lambda c: c.run_analytics(plan))
    finally:
        storm_sim.configure(**CLEAN, timeout_s=30.0)
    assert [c.to_row() for cs in stormy_entities[2].values() for c in cs] == [
        c.to_row() for cs in entities[2].values() for c in cs
    ]
    assert client.stats.retries + stormy_client.stats.retries > 0
    for pivot in ("CAMPAIGN", "CREATIVE"):
        assert as_truth(rows, pivot) == ground_truth(storm_sim, pivot)


def test_persistent_429_means_the_quota_is_spent(make_simulator):
    sim = make_simulator(profile="small", seed=2)
    sim.configure(rate_429=1.0)
    with pytest.raises(LinkedInQuotaExhausted, match="00:00 UTC"):
        run(config_for(sim, quota_exhausted_after_s=0.2), lambda c: c.ad_accounts())


def test_data_volume_throttle_waits_the_long_wait(make_simulator, caplog):
    sim = make_simulator(profile="small", seed=2, metric_value_budget=10)
    dataset = sim.state.dataset
    query = AnalyticsQuery("analytics", "CAMPAIGN", "DAILY", dataset.history_start, dataset.today, "accounts",
                           (f"urn:li:sponsoredAccount:{dataset.accounts[0]['id']}",), ("impressions",))  # fmt: skip
    with caplog.at_level(logging.INFO), pytest.raises(LinkedInHTTPError) as raised:
        run(config_for(sim, max_retries=2, throttle_wait_s=0.2), lambda c: c.run_analytics(AnalyticsPlan((query,))))
    assert raised.value.status == 429 and "45 million" in str(raised.value)
    waits = [r.getMessage() for r in caplog.records if "data-volume" in r.getMessage()]
    assert len(waits) == 2 and all(m.endswith("in 0.2 s") for m in waits)
    assert len(analytics_log(sim)) == 3


@pytest.mark.parametrize(
    ("status", "case"), [(426, "sunset_version"), (400, "too_many_fields"), (403, "forbidden"), (404, "unknown")]
)
def test_client_errors_are_not_retried(status, case, simulator):
    dataset = simulator.state.dataset
    account_urn = f"urn:li:sponsoredAccount:{dataset.accounts[0]['id']}"
    too_many_fields = AnalyticsQuery(
        "analytics", "CAMPAIGN", "DAILY", dataset.history_start, dataset.today, "accounts", (account_urn,),
        SERVED[:19],
    )  # fmt: skip
    calls = {
        "sunset_version": lambda c: c.ad_accounts(),
        "too_many_fields": lambda c: c.run_analytics(AnalyticsPlan((too_many_fields,))),
        "forbidden": lambda c: c.campaigns(dataset.forbidden.id),
        "unknown": lambda c: c.campaigns(1),
    }
    overrides = {"api_version": "202301"} if case == "sunset_version" else {}
    simulator.state.reset_log()
    with pytest.raises(LinkedInHTTPError) as raised:
        run(config_for(simulator, **overrides), calls[case])
    error = raised.value
    assert error.status == status and error.code and error.endpoint in str(error)
    assert len(simulator.state.request_log) == 1
    if status == 426:
        assert "LINKEDIN_API_VERSION" in str(error) and error.code == "NONEXISTENT_VERSION"
    if case == "forbidden":  # the failure names the account the member lost access to
        assert error.account_id == dataset.forbidden.id and f"for ad account {dataset.forbidden.id}" in str(error)
    if case == "too_many_fields":
        assert error.account_id == dataset.accounts[0]["id"]
    assert simulator.access_token not in str(error)


def test_malformed_payload_from_the_api(make_simulator):
    sim = make_simulator(profile="small", seed=2)
    campaign = sim.state.dataset.account_data[0].campaigns[0]
    campaign["runSchedule"] = {"start": "next tuesday"}
    with pytest.raises(LinkedInPayloadError, match=rf"campaign {campaign['id']}: field 'runSchedule\.start'"):
        run(config_for(sim), lambda c: c.campaigns(sim.state.dataset.accounts[0]["id"]))


# -- budget, windows, unreachable API -------------------------------------------------------------------------


class RecordingSleep:
    """An injectable clock: records every wait and returns at once (no real sleeping in the test)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_fails_fast_and_names_the_url(simulator):
    from linkedin_assets.linkedin.errors import LinkedInConnectionError

    port = closed_port()
    sleep = RecordingSleep()
    config = config_for(simulator, api_base_url=f"http://127.0.0.1:{port}/rest", max_retries=6)
    with pytest.raises(LinkedInConnectionError) as raised:
        run(config, lambda c: c.campaigns(42), sleep=sleep)
    text = str(raised.value)
    assert text == f"cannot reach http://127.0.0.1:{port}/rest/adAccounts/42/adCampaigns: connection refused"
    assert sleep.waits == [0.2, 0.5]  # two quick retries, no exponential backoff
    assert simulator.access_token not in text and "?" not in text


def test_dns_failure_is_named_after_two_quick_retries(simulator):
    from linkedin_assets.linkedin.errors import LinkedInConnectionError

    sleep = RecordingSleep()
    config = config_for(simulator, api_base_url="http://api.linkedin-simulator.invalid/rest")
    with pytest.raises(LinkedInConnectionError, match=r"^cannot reach http://api\.linkedin-simulator\.invalid/rest/"
                       r"adAccountUsers: DNS lookup of api\.linkedin-simulator\.invalid failed"):  # fmt: skip
        run(config, lambda c: c.ad_accounts(), sleep=sleep)
    assert sleep.waits == [0.2, 0.5]


def test_server_errors_back_off_through_the_injected_clock(make_simulator):
    sim = make_simulator(profile="small", seed=2)
    sim.configure(rate_503=1.0)
    sleep = RecordingSleep()
    config = config_for(sim, max_retries=3, backoff_base_s=2.0, backoff_cap_s=120.0)
    with pytest.raises(LinkedInHTTPError) as raised:
        run(config, lambda c: c.campaigns(sim.state.dataset.accounts[0]["id"]), sleep=sleep)
    assert raised.value.status == 503
    assert len(sleep.waits) == 3 and all(0 <= w <= 2.0 * 2**i for i, w in enumerate(sleep.waits))
    assert len(sim.state.request_log) == 4


def test_budget_bounds_requests_in_flight_and_a_429_pauses_everyone(storm_sim):
    from linkedin_assets.linkedin.budget import LocalBudget

    class Budget(LocalBudget):
        pauses: list[float] = []

        async def pause(self, seconds: float) -> None:
            self.pauses.append(seconds)
            await super().pause(seconds)

    entities, _ = run(config_for(storm_sim), fetch_entities)
    plan = daily_plan(storm_sim, entities)
    budget = Budget(2)
    storm_sim.configure(rate_429=0.3)
    try:
        rows, client = run(config_for(storm_sim, max_concurrency=8), lambda c: c.run_analytics(plan), budget=budget)
    finally:
        storm_sim.configure(**CLEAN)
    assert client.budget is budget and budget.max_in_flight == 2  # the budget's limit, not the config's
    assert budget.pauses and len(budget.pauses) == client.stats.throttled
    assert as_truth(rows, "CAMPAIGN") == ground_truth(storm_sim, "CAMPAIGN")


def test_local_budget_spaces_requests_by_the_rate():
    from linkedin_assets.linkedin.budget import LocalBudget

    sleep = RecordingSleep()
    budget = LocalBudget(4, requests_per_second=5, sleep=sleep, clock=lambda: 0.0)  # a clock standing still

    async def request() -> None:
        async with budget.slot():
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(request() for _ in range(6)))

    asyncio.run(main())
    # six requests at 5/s reserve start instants 0.2 s apart: the first starts at once, the sixth after 1 s
    assert sorted(sleep.waits) == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert budget.max_in_flight <= 4


def test_windows_are_yielded_one_by_one_with_bounded_read_ahead(make_simulator):
    sim = make_simulator(
        profile="custom", accounts=2, campaigns_per_account=6, creatives_per_campaign=2, days=40, max_elements=60
    )
    entities, _ = run(config_for(sim), fetch_entities)
    plan = daily_plan(sim, entities, max_elements=60)
    windows = {dataclasses.replace(q, metrics=()) for q in plan.queries}
    chunks = plan.request_count // len(windows)
    assert len(windows) > 4 and chunks == CHUNKS
    sim.state.reset_log()

    async def consume(client):
        got, asked_when_taken = [], []
        async for rows in client.iter_analytics(plan, windows_ahead=1):
            asked_when_taken.append(len(analytics_log(sim)))
            got.append(rows)
        return got, asked_when_taken

    (got, asked), client = run(config_for(sim, max_elements=60), consume)
    assert len(got) == len(windows) and client.stats.resplits == 0
    # with one window ahead, the k-th window is handed over before the (k+1)-th window is asked for
    assert asked == [chunks * (k + 1) for k in range(len(windows))]
    for rows in got:  # each yield is one whole window: one facet, one pivot, all metrics merged
        assert len({(r.pivot, r.facet_urns) for r in rows}) == 1
        assert all(set(r.metrics) == set(SERVED) for r in rows)
    everything = [r for rows in got for r in rows]
    for pivot in ("CAMPAIGN", "CREATIVE"):
        assert as_truth(everything, pivot) == ground_truth(sim, pivot)


def test_analytics_element_fast_path_agrees_with_the_model():
    from linkedin_assets.linkedin.models import _parse_analytics_element, parse_analytics_element

    metrics = ("impressions", "costInUsd", "averageDwellTime", "clicks")
    day = {"year": 2026, "month": 3, "day": 9}
    good = {"pivotValues": ["urn:li:sponsoredCampaign:7"], "dateRange": {"start": day, "end": day},
            "impressions": 12, "costInUsd": "1.5E+3", "averageDwellTime": 2}  # fmt: skip
    lax = {**good, "dateRange": {"start": {**day, "year": "2026"}, "end": day}, "impressions": "12"}
    for element in (good, lax):
        parsed = parse_analytics_element(element, metrics)
        assert parsed == _parse_analytics_element(element, metrics)
        assert parsed.metrics == {"impressions": 12, "costInUsd": Decimal("1500"), "averageDwellTime": 2.0,
                                  "clicks": None}  # fmt: skip
        assert type(parsed.metrics["averageDwellTime"]) is float
    for bad, field in (({"costInUsd": "NaN"}, "costInUsd"), ({"impressions": 1.5}, "impressions"),
                       ({"dateRange": {"start": day}}, "dateRange")):  # fmt: skip
        with pytest.raises(LinkedInPayloadError, match=rf"urn:li:sponsoredCampaign:7.*{field}"):
            parse_analytics_element({**good, **bad}, metrics)


def test_the_collector_pause_nests_and_restores_the_collector():
    import gc

    from linkedin_assets.linkedin.responses import gc_paused as _gc_paused

    assert gc.isenabled()
    with pytest.raises(LinkedInPayloadError), _gc_paused():
        with _gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
        raise LinkedInPayloadError("a failing parse")
    assert gc.isenabled()
    gc.disable()
    try:
        with _gc_paused():
            pass
        assert not gc.isenabled()  # a collector disabled before stays disabled
    finally:
        gc.enable()


def test_analytics_refused_for_one_account_stops_only_that_accounts_windows(make_simulator):
    """adAnalytics answers 403 for one account: with ``on_account_failure`` its windows stop and the failure names it,
    every window of the other account comes; without it, the refusal ends the iteration like any error."""
    sim = make_simulator(profile="custom", accounts=2, campaigns_per_account=6, creatives_per_campaign=2, days=40)
    entities, _ = run(config_for(sim), fetch_entities)
    good, bad = (account.id for account in entities[0])
    plan = daily_plan(sim, entities, max_elements=60)
    sim.state.refuse_account(bad, analytics="403")
    failures = []

    async def consume(client):
        return [w async for w in client.iter_analytics(plan, windows_ahead=1, on_account_failure=failures.append)]

    windows, _ = run(config_for(sim, max_elements=60), consume)
    expected = {dataclasses.replace(q, metrics=()) for q in plan.queries if q.account_id == good}
    assert {w.account_id for w in windows} == {good} and len(windows) == len(expected)
    (failure,) = failures
    assert (failure.account_id, failure.status, failure.code, failure.endpoint) == (
        bad,
        403,
        "ACCESS_DENIED",
        "adAnalytics",
    )
    bad_windows = {dataclasses.replace(q, metrics=()) for q in plan.queries if q.account_id == bad}
    asked_bad = [r for r in analytics_log(sim) if f"sponsoredAccount%3A{bad}" in r.query]
    assert 0 < len(asked_bad) < len(bad_windows), "the refused account's remaining windows are not asked"

    async def strict(client):
        return [w async for w in client.iter_analytics(plan)]

    with pytest.raises(LinkedInHTTPError, match=f"for ad account {bad}"):
        run(config_for(sim, max_elements=60), strict)
