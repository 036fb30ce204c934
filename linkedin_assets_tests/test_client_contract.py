"""The client's contract with LinkedIn, seen from LinkedIn's side (the simulator's request log) or from a transport
that answers as LinkedIn does: what is never retried, how many requests are in flight, what is asked once, how an
expiring token, a spent quota and an unreachable host end. Waits go through the client's injectable ``sleep``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import uuid

import httpx
import psycopg
import pytest

from linkedin_assets.linkedin.catalogue import DAILY_METRICS, served
from linkedin_assets.linkedin.client import ClientConfig, LinkedInClient
from linkedin_assets.linkedin.errors import (
    LinkedInAuthError,
    LinkedInConnectionError,
    LinkedInHTTPError,
    LinkedInQuotaExhausted,
)
from linkedin_assets.linkedin.fields import chunk_metrics
from linkedin_assets.linkedin.plan import AnalyticsPlan, AnalyticsQuery
from linkedin_assets.linkedin.restli import decode_query
from linkedin_assets_tests.ground_truth import (
    expected_tables,
    read_tables,
    sim_settings,
    sync_in_process,
)

YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


class FakeClock:
    """The client's ``sleep``: records every wait and returns at once (yielding to the event loop)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def config_for(sim, **overrides) -> ClientConfig:
    values = {
        "api_base_url": sim.api_base_url,
        "oauth_base_url": sim.oauth_base_url,
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "access_token": sim.access_token,
        "refresh_token": sim.refresh_token,
        "timeout_s": 5.0,
    }
    return ClientConfig(**{**values, **overrides})


def run(config: ClientConfig, work, **client_kwargs):
    async def main():
        async with LinkedInClient(config, **client_kwargs) as client:
            return await work(client), client

    return asyncio.run(main())


def daily_queries(sim, pivot: str = "CAMPAIGN") -> AnalyticsPlan:
    """One DAILY query per account and day of the history (many small requests), one per field chunk."""
    dataset = sim.state.dataset
    queries = []
    for account in dataset.accounts:
        for offset in range(dataset.days):
            day = dataset.history_start + dt.timedelta(days=offset)
            for chunk in chunk_metrics(served(DAILY_METRICS)):
                queries.append(AnalyticsQuery("analytics", pivot, "DAILY", day, day, "accounts",
                                              (f"urn:li:sponsoredAccount:{account['id']}",), chunk))  # fmt: skip
    return AnalyticsPlan(tuple(queries))


# -- never retried ----------------------------------------------------------------------------------------------


def test_414_is_not_retried():
    """LinkedIn answers 414 (URL too long) with a body that may not be JSON; asking again cannot help."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(414, text="<html><body>Request-URI Too Long</body></html>",
                              headers={"content-type": "text/html"})  # fmt: skip

    config = ClientConfig(api_base_url="https://api.linkedin.test/rest", access_token="AQVtoken-414-test",
                          max_retries=6)  # fmt: skip
    clock = FakeClock()
    with pytest.raises(LinkedInHTTPError) as raised:
        run(config, lambda c: c.campaigns(512345678), transport=httpx.MockTransport(answer), sleep=clock)
    assert raised.value.status == 414
    assert "adCampaigns" in str(raised.value) and "AQVtoken-414-test" not in str(raised.value)
    assert len(seen) == 1 and clock.waits == []


# -- concurrency ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 3])
def test_requests_in_flight_never_exceed_the_limit(make_simulator, limit):
    """The simulator's log stamps each request's arrival and answer; at most ``limit`` overlap, and the client does
    use the limit (else the test proves nothing)."""
    sim = make_simulator(profile="custom", accounts=2, campaigns_per_account=2, creatives_per_campaign=1, days=6,
                         seed=3, latency_ms=25)  # fmt: skip
    plan = daily_queries(sim)
    sim.state.reset_log()
    _, client = run(config_for(sim, max_concurrency=limit), lambda c: c.run_analytics(plan))
    chunks = len(chunk_metrics(served(DAILY_METRICS)))
    assert len(sim.state.requests("adAnalytics")) == len(plan.queries) == 2 * 6 * chunks  # accounts x days x chunks
    assert sim.state.max_in_flight() == limit


@pytest.mark.postgres
def test_linkedin_max_concurrency_bounds_a_whole_sync(make_simulator, pg_url, pg_schema, tmp_path, monkeypatch):
    """The ``max_concurrency`` setting (``LINKEDIN_MAX_CONCURRENCY``) is the in-flight limit of a real sync's requests."""
    sim = make_simulator(profile="custom", accounts=4, campaigns_per_account=3, creatives_per_campaign=2, days=5,
                         seed=5, latency_ms=20)  # fmt: skip
    sim.state.reset_log()
    start = sim.state.dataset.history_start
    settings = sim_settings(sim, tmp_path, max_concurrency=2)
    result = sync_in_process(
        sim, pg_url, pg_schema, tmp_path, start, YESTERDAY, settings=settings, jobs=("linkedin_daily_sync",)
    )
    assert [r.success for r in result.results] == [True]
    assert sim.state.max_in_flight() == 2


# -- asked once -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_syncs(pg_url, tmp_path_factory):
    """Two full syncs of one ``small`` simulator into one schema; the request log of each."""
    from linkedin_assets.simulator import SimulatorConfig, SimulatorServer

    tmp_path = tmp_path_factory.mktemp("twice")
    schema = f"twice_{uuid.uuid4().hex[:10]}"
    logs = []
    with SimulatorServer(SimulatorConfig(profile="small", seed=9)) as sim:
        start = sim.state.dataset.history_start
        for _ in range(2):
            sim.state.reset_log()
            result = sync_in_process(sim, pg_url, schema, tmp_path, start, YESTERDAY)
            assert [r.success for r in result.results] == [True, True]
            logs.append(list(sim.state.request_log))
        with psycopg.connect(pg_url) as conn:
            tables = read_tables(conn, schema, ("creatives", "demographic_values"))
        yield sim, logs, tables
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _asked(log, endpoint: str, parameter: str) -> list[str]:
    return [urn for r in log if r.endpoint == endpoint for urn in decode_query(r.query)[parameter]]


@pytest.mark.postgres
def test_each_post_is_asked_once_and_named_posts_are_not_asked_again(two_syncs):
    sim, (first, second), tables = two_syncs
    posts = [r["content_reference"] for r in tables["creatives"]
             if r["name_source"] in ("post", "derived") and (r["content_reference"] or "").startswith(
                 ("urn:li:share:", "urn:li:ugcPost:"))]  # fmt: skip
    unnamed = {r["content_reference"] for r in tables["creatives"] if r["name_source"] == "derived"}
    asked = _asked(first, "posts", "ids")
    assert sorted(asked) == sorted(set(posts)), "every post behind an unnamed creative, each exactly once"
    assert sorted(_asked(second, "posts", "ids")) == sorted(unnamed & set(posts)), "only posts still without a name"


@pytest.mark.postgres
def test_each_demographic_value_is_asked_once_and_resolved_ones_are_not_asked_again(two_syncs):
    sim, (first, second), tables = two_syncs
    values = tables["demographic_values"]
    urns = {r["value"] for r in values if r["value"].startswith("urn:")}
    asked = _asked(first, "adTargetingEntities", "urns")
    assert len(asked) == len(set(asked)) and set(asked) == urns
    assert sorted(_asked(second, "adTargetingEntities", "urns")) == sorted(
        r["value"] for r in values if not r["resolved"] and r["value"].startswith("urn:")
    )
    assert any(not r["resolved"] for r in values) and any(r["resolved"] for r in values)


# -- tokens, quota, unreachable ---------------------------------------------------------------------------------


def test_token_expiring_mid_run_is_refreshed_once_and_the_run_continues(make_simulator, tmp_path):
    sim = make_simulator(profile="custom", accounts=2, campaigns_per_account=2, creatives_per_campaign=1, days=6,
                         seed=3, latency_ms=5)  # fmt: skip
    plan = daily_queries(sim)
    store = tmp_path / "tokens.json"

    async def work(client: LinkedInClient):
        accounts = await client.ad_accounts()
        sim.state.expire_access_tokens()  # every token minted so far now answers 401 EXPIRED_ACCESS_TOKEN
        rows = await client.run_analytics(plan)
        return accounts, rows

    sim.state.reset_log()
    (accounts, rows), client = run(config_for(sim, max_concurrency=4, token_store_path=str(store)), work,
                                   sleep=FakeClock())  # fmt: skip
    assert client.stats.refreshes == 1
    assert len(sim.state.requests("oauth.accessToken")) == 1
    analytics = sim.state.requests("adAnalytics")
    assert {r.status for r in analytics} <= {200, 401} and sum(r.status == 200 for r in analytics) == len(plan.queries)
    assert len(accounts) == 2
    truth = expected_tables(sim.state.dataset, sim.state.dataset.history_start, YESTERDAY).tables
    got = {(int(r.pivot_value.rsplit(":", 1)[1]), r.start): r.metrics["impressions"] for r in rows}
    assert got == {k: v["impressions"] for k, v in truth["campaign_daily_metrics"].items()}
    assert sim.access_token not in store.read_text()


def test_a_refused_fresh_token_stops_after_one_refresh(make_simulator, tmp_path):
    """Every token the simulator mints is expired at once: the first 401 is refreshed, the 401 to the fresh token
    ends the request with an error that says what to do; both 401s are counted as requests LinkedIn answered."""
    sim = make_simulator(profile="small", seed=2, access_token_ttl_s=0)
    account = sim.state.dataset.accounts[0]["id"]
    sim.state.reset_log()

    async def main() -> tuple[LinkedInClient, BaseException]:
        client = LinkedInClient(config_for(sim, token_store_path=str(tmp_path / "tokens.json")), sleep=FakeClock())
        with pytest.raises(LinkedInAuthError) as raised:
            async with client:
                await client.campaigns(account)
        return client, raised.value

    client, error = asyncio.run(main())
    text = str(error)
    assert text.startswith("LinkedIn refused a freshly refreshed access token on adCampaigns (EXPIRED_ACCESS_TOKEN)")
    assert "linkedin-assets auth login" in text
    assert [r.status for r in sim.state.requests("adCampaigns")] == [401, 401]
    assert len(sim.state.requests("oauth.accessToken")) == 1
    assert (client.stats.refreshes, client.stats.requests, client.stats.by_endpoint) == (1, 2, {"adCampaigns": 2})
    assert not [s for s in (sim.access_token, sim.refresh_token, sim.client_secret) if s in text]


def test_a_failing_token_endpoint_is_retried_like_any_request():
    """The refresh after a 401 goes through the client's retry policy: a 503 and a timeout of the token endpoint are
    waited out with the backoff (the injectable clock), then the request goes on with the new token. Requests to the
    token endpoint are not API requests: ``requests`` counts LinkedIn's two answers on adCampaigns."""
    token_answers = [httpx.Response(503, json={"error": "server_error"}), httpx.ReadTimeout("held"),
                     httpx.Response(200, json={"access_token": "AQVnew", "expires_in": 5_184_000})]  # fmt: skip
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path} {request.headers.get('authorization', '')}")
        if request.url.path == "/oauth/v2/accessToken":
            outcome = token_answers.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        if request.headers["authorization"] != "Bearer AQVnew":
            return httpx.Response(401, json={"status": 401, "code": "REVOKED_ACCESS_TOKEN"})
        return httpx.Response(200, json={"elements": [], "metadata": {}})

    config = ClientConfig(api_base_url="https://api.linkedin.test/rest", oauth_base_url="https://www.linkedin.test/oauth/v2",
                          client_id="app", client_secret="s3cret", access_token="AQVold", refresh_token="AQWrt",
                          max_retries=3, backoff_base_s=2.0, backoff_cap_s=120.0)  # fmt: skip
    clock = FakeClock()
    campaigns, client = run(
        config, lambda c: c.campaigns(512345678), transport=httpx.MockTransport(answer), sleep=clock
    )
    assert campaigns == []
    assert seen == ["GET /rest/adAccounts/512345678/adCampaigns Bearer AQVold", *["POST /oauth/v2/accessToken "] * 3,
                    "GET /rest/adAccounts/512345678/adCampaigns Bearer AQVnew"]  # fmt: skip
    assert len(clock.waits) == 2 and 0 <= clock.waits[0] <= 2.0 and 0 <= clock.waits[1] <= 4.0
    stats = client.stats
    assert (stats.refreshes, stats.retries, stats.server_errors, stats.timeouts) == (1, 2, 1, 1)
    assert (stats.requests, stats.by_endpoint) == (2, {"adCampaigns": 2})


def test_daily_quota_spent_mid_run_stops_and_says_when_to_resume(make_simulator):
    sim = make_simulator(profile="custom", accounts=2, campaigns_per_account=2, creatives_per_campaign=1, days=6,
                         seed=3)  # fmt: skip
    plan = daily_queries(sim)
    sim.configure(daily_quota=5)  # per endpoint and UTC day: five analytics requests pass, then 429 until midnight
    clock = FakeClock()
    with pytest.raises(LinkedInQuotaExhausted) as raised:
        run(config_for(sim, max_concurrency=1, quota_exhausted_after_s=0.05), lambda c: c.run_analytics(plan),
            sleep=clock)  # fmt: skip
    text = str(raised.value)
    assert "adAnalytics" in text and "00:00 UTC" in text
    statuses = [r.status for r in sim.state.requests("adAnalytics")]
    assert statuses[:5] == [200] * 5 and set(statuses[5:]) == {429}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "api.linkedin-assets-test.invalid"])
def test_unreachable_api_fails_fast_naming_the_url(host):
    """Connection refused or DNS failure: at most 2 quick retries (under 10 s of waiting), then one line naming the
    URL, never the token."""
    base = f"http://{host.format(port=_closed_port())}/rest"
    clock = FakeClock()
    config = ClientConfig(api_base_url=base, access_token="AQVtoken-unreachable", max_retries=6)
    with pytest.raises(LinkedInConnectionError) as raised:
        _, client = run(config, lambda c: c.ad_accounts(), sleep=clock)
    text = str(raised.value)
    assert text.startswith(f"cannot reach {base}/adAccountUsers") and "\n" not in text
    assert "AQVtoken-unreachable" not in text and "?" not in text
    assert len(clock.waits) <= 2 and sum(clock.waits) < 10


def test_the_advice_for_an_unreachable_host_names_the_variable_of_the_url_that_failed(simulator):
    """The API answers, the OAuth host does not: the failure names LINKEDIN_OAUTH_BASE_URL, not the API's variable."""
    from linkedin_assets.defs.failures import as_failure

    oauth = f"http://127.0.0.1:{_closed_port()}/oauth/v2"
    config = ClientConfig(
        api_base_url=simulator.api_base_url, oauth_base_url=oauth, client_id=simulator.client_id,
        client_secret=simulator.client_secret, refresh_token=simulator.refresh_token,
    )  # fmt: skip
    with pytest.raises(LinkedInConnectionError) as oauth_down:
        run(config, lambda c: c.ad_accounts(), sleep=FakeClock())
    assert str(oauth_down.value).startswith(f"cannot reach {oauth}/accessToken")
    advice = as_failure(oauth_down.value).metadata["what to do"].value
    assert "LINKEDIN_OAUTH_BASE_URL" in advice and "LINKEDIN_API_BASE_URL" not in advice

    api = f"http://127.0.0.1:{_closed_port()}/rest"
    with pytest.raises(LinkedInConnectionError) as api_down:
        run(ClientConfig(api_base_url=api, access_token="AQVtoken-x"), lambda c: c.ad_accounts(), sleep=FakeClock())
    assert "LINKEDIN_API_BASE_URL" in as_failure(api_down.value).metadata["what to do"].value


def test_the_proxy_of_the_environment_is_used_unless_no_proxy_exempts_the_host(monkeypatch):
    """As httpx does for a client of its own: ``HTTP_PROXY`` carries the requests (here a proxy that refuses, so the
    failure is the proxy's refused connection, not the DNS lookup of the API's unresolvable host), ``NO_PROXY``
    exempts a host. The error names the API's URL either way."""
    base = "http://api.linkedin-assets-test.invalid/rest"
    config = ClientConfig(api_base_url=base, access_token="AQVtoken-proxy", max_retries=6)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(LinkedInConnectionError) as through_proxy:
        run(config, lambda c: c.ad_accounts(), sleep=FakeClock())
    assert str(through_proxy.value) == f"cannot reach {base}/adAccountUsers: connection refused"
    monkeypatch.setenv("NO_PROXY", "api.linkedin-assets-test.invalid")
    with pytest.raises(LinkedInConnectionError) as direct:
        run(config, lambda c: c.ad_accounts(), sleep=FakeClock())
    assert str(direct.value).startswith(f"cannot reach {base}/adAccountUsers: DNS lookup of api.linkedin-assets-test")


@pytest.mark.postgres
def test_a_sync_against_an_unreachable_api_fails_naming_the_url(make_simulator, pg_url, pg_schema, tmp_path,
                                                               monkeypatch):  # fmt: skip
    """The run fails (it does not hang in backoff) and its failure names the URL, never a token."""
    import dagster as dg

    sim = make_simulator(profile="small", seed=2)
    base = f"http://127.0.0.1:{_closed_port()}"
    settings = sim_settings(sim, tmp_path, api_base_url=base + "/rest", oauth_base_url=base + "/oauth/v2")
    run = sync_in_process(
        sim, pg_url, pg_schema, tmp_path, YESTERDAY, YESTERDAY, settings=settings, jobs=("linkedin_daily_sync",)
    )
    (result,) = run.results
    assert not result.success
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    texts = [repr(e.step_failure_data.error) for e in failures]
    assert any(f"cannot reach {base}/rest/" in t for t in texts), texts
    assert not [t for t in texts if sim.access_token in t or sim.refresh_token in t or sim.client_secret in t]
