"""The LinkedIn API simulator over loopback, driven with raw httpx (not the project's client)."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import subprocess
import sys
import time
from decimal import Context, Decimal, localcontext
from urllib.parse import parse_qs, urlsplit

import httpx
import pandas as pd
import pytest

from linkedin_assets.linkedin.catalogue import NOT_ON_MEMBER_PIVOTS
from linkedin_assets.linkedin.restli import encode, encode_query
from linkedin_assets.simulator import SimulatorConfig
from linkedin_assets.simulator.data import Dataset
from linkedin_assets.simulator.metrics import COST_METRICS, GENERATED_METRICS, NON_ADDITIVE

VERSION = "202510"
ADDITIVE = [m for m in GENERATED_METRICS if m not in NON_ADDITIVE]
CHUNKS = [GENERATED_METRICS[i : i + 18] for i in range(0, len(GENERATED_METRICS), 18)]


def headers(sim, token: str | None = None, **extra: str) -> dict[str, str]:
    base = {
        "Authorization": f"Bearer {token or sim.access_token}",
        "LinkedIn-Version": VERSION,
        "X-Restli-Protocol-Version": "2.0.0",
    }
    return {**base, **extra}


def get(sim, path: str, query: str = "", hdrs: dict[str, str] | None = None, **kwargs) -> httpx.Response:
    url = sim.api_base_url + path + (f"?{query}" if query else "")
    return httpx.get(url, headers=headers(sim) if hdrs is None else hdrs, **kwargs)


def tunnel(sim, path: str, query: str) -> httpx.Response:
    extra = {"X-HTTP-Method-Override": "GET", "Content-Type": "application/x-www-form-urlencoded"}
    return httpx.post(sim.api_base_url + path, headers=headers(sim, **extra), content=query.encode())


def analytics_query(sim, pivot: str = "CREATIVE", granularity: str = "DAILY", fields=None, **facets) -> str:
    ds = sim.state.dataset
    facets = facets or {"accounts": [f"urn:li:sponsoredAccount:{a['id']}" for a in ds.accounts]}
    params = {"q": "analytics", "pivot": pivot, "timeGranularity": granularity}
    params["dateRange"] = {"start": ds.history_start, "end": ds.today - dt.timedelta(days=1)}
    return encode_query({**params, **facets}) + (f"&fields={','.join(fields)}" if fields else "")


def key(element) -> tuple[str, dt.date]:
    start = element["dateRange"]["start"]
    return element["pivotValues"][0], dt.date(start["year"], start["month"], start["day"])


@pytest.fixture(scope="module")
def medium(make_simulator_module):
    return make_simulator_module(profile="medium", seed=3)


@pytest.fixture(scope="module")
def make_simulator_module():
    from contextlib import ExitStack

    from linkedin_assets.simulator import SimulatorServer

    with ExitStack() as stack:
        yield lambda **config: stack.enter_context(SimulatorServer(SimulatorConfig(**config)))


# -- transport ----------------------------------------------------------------------------------------------------


def test_missing_unknown_expired_and_revoked_tokens_get_linkedins_401_bodies(simulator, make_simulator):
    no_token = {"LinkedIn-Version": VERSION, "X-Restli-Protocol-Version": "2.0.0"}
    assert get(simulator, "/adAccountUsers", "q=authenticatedUser", no_token).json()["code"] == "EMPTY_ACCESS_TOKEN"
    unknown = get(simulator, "/adAccountUsers", "q=authenticatedUser", headers(simulator, "AQVnope"))
    assert (unknown.status_code, unknown.json()["serviceErrorCode"], unknown.json()["code"]) == (
        401,
        65600,
        "INVALID_ACCESS_TOKEN",
    )

    sim = make_simulator()
    sim.state.expire_access_tokens()
    expired = get(sim, "/adAccountUsers", "q=authenticatedUser").json()
    assert expired == {"status": 401, "serviceErrorCode": 65602, "code": "EXPIRED_ACCESS_TOKEN",
                       "message": "The token used in the request has expired"}  # fmt: skip
    access, _ = sim.state.mint_tokens()
    assert get(sim, "/adAccountUsers", "q=authenticatedUser", headers(sim, access)).status_code == 200
    sim.state.revoke_access_tokens()
    assert (
        get(sim, "/adAccountUsers", "q=authenticatedUser", headers(sim, access)).json()["code"]
        == "REVOKED_ACCESS_TOKEN"
    )


def test_short_lived_access_tokens_expire(make_simulator):
    sim = make_simulator(access_token_ttl_s=1)
    access, _ = sim.state.mint_tokens()
    assert get(sim, "/adAccountUsers", "q=authenticatedUser", headers(sim, access)).status_code == 200
    time.sleep(1.05)
    assert (
        get(sim, "/adAccountUsers", "q=authenticatedUser", headers(sim, access)).json()["code"]
        == "EXPIRED_ACCESS_TOKEN"
    )


def test_version_header_is_required_and_must_be_active(simulator):
    missing = get(
        simulator, "/adAccountUsers", "q=authenticatedUser", {"Authorization": f"Bearer {simulator.access_token}"}
    )
    assert (missing.status_code, missing.json()["code"]) == (400, "VERSION_MISSING")
    for version in ("202412", "202301", "209901"):
        sunset = get(
            simulator, "/adAccountUsers", "q=authenticatedUser", headers(simulator, **{"LinkedIn-Version": version})
        )
        assert sunset.status_code == 426
        assert sunset.json() == {
            "status": 426,
            "code": "NONEXISTENT_VERSION",
            "message": f"Requested version {version}01 is not active",
        }
    lower_case = {"authorization": f"Bearer {simulator.access_token}", "linkedin-version": "202601"}
    assert get(simulator, "/adAccountUsers", "q=authenticatedUser", lower_case).status_code == 200


def test_restli_2_syntax_needs_the_protocol_header(simulator):
    query = analytics_query(simulator)
    without = headers(simulator)
    del without["X-Restli-Protocol-Version"]
    response = get(simulator, "/adAnalytics", query, without)
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid query parameters passed to request"
    assert get(simulator, "/adAccountUsers", "q=authenticatedUser", without).status_code == 200


@pytest.mark.parametrize(
    "mangle",
    [lambda q: q.replace("List(", "List%28"), lambda q: q.replace("dateRange=(", "dateRange=%28"),
     lambda q: q.replace("pivot=CREATIVE", "pivot=%28value%3ACREATIVE%29")],
    ids=["list", "record", "union"],
)  # fmt: skip
def test_percent_encoded_structure_is_rejected(simulator, mangle):
    query = analytics_query(simulator)
    assert get(simulator, "/adAnalytics", query).status_code == 200
    assert get(simulator, "/adAnalytics", mangle(query)).status_code == 400


def test_pivot_and_granularity_accept_the_union_form(simulator):
    bare = get(simulator, "/adAnalytics", analytics_query(simulator)).json()
    union = analytics_query(simulator).replace("pivot=CREATIVE", "pivot=(value:CREATIVE)")
    union = union.replace("timeGranularity=DAILY", "timeGranularity=(value:DAILY)")
    assert get(simulator, "/adAnalytics", union).json() == bare


def test_tunneled_get_equals_get_on_every_route(simulator):
    ds = simulator.state.dataset
    account = ds.accounts[0]["id"]
    routes = [
        ("/adAccountUsers", "q=authenticatedUser"),
        ("/adAccounts", "q=search&search=(status:(values:List(ACTIVE)))"),
        (f"/adAccounts/{account}", ""),
        (f"/adAccounts/{account}/adCampaignGroups", "q=search"),
        (f"/adAccounts/{account}/adCampaigns", "q=search&search=(status:(values:List(ACTIVE,PAUSED)))"),
        (f"/adAccounts/{account}/creatives", "q=criteria&pageSize=2"),
        ("/adAnalytics", analytics_query(simulator)),
        ("/adTargetingEntities", "q=urns&queryVersion=QUERY_USES_URNS&urns=List(urn%3Ali%3Aseniority%3A9)"),
    ]
    simulator.state.reset_log()
    for path, query in routes:
        direct, tunneled = get(simulator, path, query), tunnel(simulator, path, query)
        assert direct.status_code == tunneled.status_code == 200, path
        assert direct.json() == tunneled.json(), path
    assert sum(r.tunneled for r in simulator.state.request_log) == len(routes)


def test_tunneling_needs_content_length_and_long_urls_need_tunneling(simulator):
    extra = {"X-HTTP-Method-Override": "GET", "Content-Type": "application/x-www-form-urlencoded"}
    chunked = httpx.post(simulator.api_base_url + "/adAccountUsers", headers=headers(simulator, **extra),
                         content=iter([b"q=authenticatedUser"]))  # fmt: skip
    assert chunked.status_code == 411

    many = [f"urn:li:sponsoredCreative:{100_000_000 + i}" for i in range(150)]
    query = analytics_query(simulator, creatives=many)
    assert len(query) > 4096
    assert get(simulator, "/adAnalytics", query).status_code == 414
    assert tunnel(simulator, "/adAnalytics", query).status_code == 200


def test_responses_carry_linkedin_headers(simulator):
    first = get(simulator, "/adAccountUsers", "q=authenticatedUser")
    second = get(simulator, "/adAccountUsers", "q=authenticatedUser")
    assert first.headers["content-type"] == "application/json"
    assert first.headers["x-restli-protocol-version"] == "2.0.0"
    assert first.headers["x-li-uuid"] != second.headers["x-li-uuid"]


# -- entities and paging ------------------------------------------------------------------------------------------


def test_cursor_paging_returns_every_entity_once(medium):
    ds = medium.state.dataset
    account = ds.accounts[0]["id"]
    everything = "(status:(values:List(ACTIVE,PAUSED,ARCHIVED,COMPLETED,CANCELED,DRAFT,PENDING_DELETION,REMOVED)))"
    seen, token, pages = [], None, 0
    while True:
        query = f"q=search&search={everything}&pageSize=7" + (f"&pageToken={token}" if token else "")
        body = get(medium, f"/adAccounts/{account}/adCampaigns", query).json()
        seen += [c["id"] for c in body["elements"]]
        pages += 1
        token = body.get("metadata", {}).get("nextPageToken")
        if not token:
            break
    expected = [c["id"] for c in ds.campaigns if c["account"] == f"urn:li:sponsoredAccount:{account}"]
    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen))
    assert pages == -(-len(expected) // 7)

    wrong = get(medium, f"/adAccounts/{account}/adCampaigns", f"q=search&pageSize=3&pageToken={token or 'x'}")
    assert wrong.status_code == 400


def test_status_filter_and_sort_order(medium):
    ds = medium.state.dataset
    account = ds.accounts[0]["id"]
    body = get(medium, f"/adAccounts/{account}/adCampaigns",
               "q=search&search=(status:(values:List(ARCHIVED,COMPLETED)))&sortOrder=DESCENDING&pageSize=1000").json()  # fmt: skip
    ids = [c["id"] for c in body["elements"]]
    assert ids == sorted(ids, reverse=True) and ids
    assert {c["status"] for c in body["elements"]} <= {"ARCHIVED", "COMPLETED"}
    assert "nextPageToken" not in body.get("metadata", {})


def test_page_size_caps(simulator):
    account = simulator.state.dataset.accounts[0]["id"]
    assert get(simulator, f"/adAccounts/{account}/creatives", "q=criteria&pageSize=101").status_code == 400
    assert get(simulator, f"/adAccounts/{account}/creatives", "q=criteria&pageSize=100").status_code == 200
    assert get(simulator, f"/adAccounts/{account}/adCampaigns", "q=search&pageSize=1001").status_code == 400


def test_campaign_search_without_paging_refuses_more_than_1000(make_simulator):
    sim = make_simulator(profile="custom", accounts=1, campaigns_per_account=1001, creatives_per_campaign=0, days=2)
    account = sim.state.dataset.accounts[0]["id"]
    response = get(sim, f"/adAccounts/{account}/adCampaigns", "q=search")
    assert response.json() == {"message": "Request would return too many entities. ", "status": 400}
    assert len(get(sim, f"/adAccounts/{account}/adCampaigns", "q=search&pageSize=1000").json()["elements"]) == 1000


def test_offset_paging_of_account_users(medium):
    first = get(medium, "/adAccountUsers", "q=authenticatedUser&start=0&count=2").json()
    second = get(medium, "/adAccountUsers", "q=authenticatedUser&start=2&count=2").json()
    assert first["paging"]["total"] == 3 and len(first["elements"]) == 2 and len(second["elements"]) == 1
    accounts = {e["account"] for e in first["elements"] + second["elements"]}
    assert accounts == {f"urn:li:sponsoredAccount:{a['id']}" for a in medium.state.dataset.accounts}
    assert get(medium, "/adAccountUsers", "q=authenticatedUser&count=1001").status_code == 400


def test_account_without_a_role_is_403_and_has_no_analytics(simulator):
    forbidden = simulator.state.dataset.forbidden.id
    assert forbidden not in {a["id"] for a in simulator.state.dataset.accounts}
    assert get(simulator, f"/adAccounts/{forbidden}").status_code == 403
    assert get(simulator, f"/adAccounts/{forbidden}/adCampaigns", "q=search").json()["code"] == "ACCESS_DENIED"
    empty = get(
        simulator, "/adAnalytics", analytics_query(simulator, accounts=[f"urn:li:sponsoredAccount:{forbidden}"])
    )
    assert (empty.status_code, empty.json()["elements"]) == (200, [])
    batch = get(simulator, "/adAccounts", f"ids=List({simulator.state.dataset.accounts[0]['id']},{forbidden})").json()
    assert list(batch["results"]) == [str(simulator.state.dataset.accounts[0]["id"])]
    assert batch["errors"][str(forbidden)]["status"] == 403


def test_entities_have_api_types(medium):
    ds = medium.state.dataset
    campaign = ds.campaigns[0]
    assert isinstance(campaign["id"], int) and isinstance(campaign["unitCost"]["amount"], str)
    assert isinstance(campaign["changeAuditStamps"]["created"]["time"], int)
    assert {c["status"] for c in ds.campaigns} >= {"ACTIVE", "PAUSED", "ARCHIVED", "COMPLETED", "DRAFT"}
    assert all(c["id"].startswith("urn:li:sponsoredCreative:") for c in ds.creatives)
    assert 0 < sum("name" in c for c in ds.creatives) < len(ds.creatives)
    assert any(c.get("content", {}).get("reference", "").startswith("urn:li:adInMailContent:") for c in ds.creatives)


def test_removed_campaign_is_no_longer_returned(make_simulator):
    sim = make_simulator(seed=5)
    campaign = sim.state.dataset.campaigns[1]
    account = sim.state.dataset.accounts[0]["id"]
    sim.state.remove_campaign(campaign["id"])
    listed = get(sim, f"/adAccounts/{account}/adCampaigns", "q=search").json()["elements"]
    assert campaign["id"] not in {c["id"] for c in listed} and listed
    assert get(sim, f"/adAccounts/{account}/adCampaigns/{campaign['id']}").status_code == 404


def test_posts_batch_get_and_errors(medium):
    ds = medium.state.dataset
    posts = ds.posts
    live = [u for u, p in posts.items() if p is not None][:3]
    deleted = [u for u, p in posts.items() if p is None][:1]
    body = get(
        medium, "/posts", "ids=" + encode(live + deleted), headers(medium, **{"X-RestLi-Method": "BATCH_GET"})
    ).json()
    assert set(body["results"]) == set(live) and set(body["errors"]) == set(deleted)
    assert body["results"][live[0]]["commentary"]
    single = get(medium, "/posts/" + encode(live[0]))
    assert single.json()["id"] == live[0]
    inmail = next(
        c["content"]["reference"]
        for c in ds.creatives
        if "adInMailContent" in c.get("content", {}).get("reference", "")
    )
    wrong = get(medium, "/posts", "ids=" + encode([live[0], inmail]))
    assert (wrong.status_code, wrong.json()["code"]) == (400, "INVALID_URN_TYPE")


def test_targeting_entities_resolve_demographic_values(simulator):
    urns = ["urn:li:seniority:9", "urn:li:seniority:3", "urn:li:geo:103644278", "urn:li:title:99999999"]
    body = get(simulator, "/adTargetingEntities", encode_query({"q": "urns", "queryVersion": "QUERY_USES_URNS", "urns": urns,
                                                                 "locale": {"language": "en", "country": "US"}})).json()  # fmt: skip
    names = {e["urn"]: e["name"] for e in body["elements"]}
    assert names == {
        "urn:li:seniority:9": "Partner",
        "urn:li:seniority:3": "Entry",
        "urn:li:geo:103644278": "United States",
    }


# -- adAnalytics --------------------------------------------------------------------------------------------------


def test_analytics_takes_exactly_one_pivot_and_a_facet(simulator):
    query = analytics_query(simulator)
    assert get(simulator, "/adAnalytics", query + "&pivots=List(CAMPAIGN)").status_code == 400
    no_facet = "q=analytics&pivot=CAMPAIGN&timeGranularity=DAILY&dateRange=(start:(year:2025,month:1,day:1))"
    assert get(simulator, "/adAnalytics", no_facet).status_code == 400
    no_start = query.replace("dateRange=(start:", "dateRange=(begin:")
    assert get(simulator, "/adAnalytics", no_start).status_code == 400


def test_fields_limit_unknown_fields_and_defaults(simulator):
    metrics = list(GENERATED_METRICS)
    assert (
        get(
            simulator, "/adAnalytics", analytics_query(simulator, fields=["dateRange", "pivotValues", *metrics[:18]])
        ).status_code
        == 200
    )
    too_many = get(
        simulator, "/adAnalytics", analytics_query(simulator, fields=["dateRange", "pivotValues", *metrics[:19]])
    )
    assert too_many.status_code == 400
    assert (
        get(simulator, "/adAnalytics", analytics_query(simulator, fields=["impressions", "bogusClicks"])).status_code
        == 400
    )
    default = get(simulator, "/adAnalytics", analytics_query(simulator)).json()["elements"]
    assert default and all(set(e) == {"impressions", "clicks", "dateRange", "pivotValues"} for e in default)
    only = get(simulator, "/adAnalytics", analytics_query(simulator, fields=["costInUsd", "pivotValues"])).json()[
        "elements"
    ]
    assert only and all(set(e) == {"costInUsd", "pivotValues"} for e in only)


def test_daily_rows_exist_only_with_activity_and_match_ground_truth(simulator):
    fields = ["dateRange", "pivotValues", "impressions", "clicks", "costInLocalCurrency", "costInUsd"]
    elements = get(simulator, "/adAnalytics", analytics_query(simulator, fields=fields)).json()["elements"]
    truth = simulator.state.dataset.daily_metrics("CREATIVE")
    expected = {(r.pivot_value, r.date): r for r in truth.itertuples()}
    assert {key(e) for e in elements} == set(expected)
    for element in elements:
        row = expected[key(element)]
        assert element["impressions"] == row.impressions > 0 and isinstance(element["clicks"], int)
        assert isinstance(element["costInUsd"], str) and Decimal(element["costInUsd"]) == row.costInUsd
    sizes = simulator.state.config.sizes
    assert len(expected) < sizes.campaigns_per_account * sizes.creatives_per_campaign * sizes.days  # silent days exist


def test_campaign_rows_equal_the_sum_of_their_creatives(medium):
    ds = medium.state.dataset
    creatives = ds.daily_metrics("CREATIVE")
    owner = {c["id"]: c["campaign"] for c in ds.creatives}
    creatives["pivot_value"] = creatives["pivot_value"].map(owner)
    summed = creatives.groupby(["pivot_value", "date"])[ADDITIVE].sum()
    campaigns = ds.daily_metrics("CAMPAIGN").set_index(["pivot_value", "date"])[ADDITIVE]
    assert len(campaigns) == len(summed)
    assert campaigns.sort_index().equals(summed.sort_index().astype(campaigns.dtypes.to_dict()))

    fields = ["dateRange", "pivotValues", "impressions", "clicks", "costInUsd", "externalWebsiteConversions"]
    account = f"urn:li:sponsoredAccount:{ds.accounts[1]['id']}"
    served = get(medium, "/adAnalytics", analytics_query(medium, "CAMPAIGN", fields=fields, accounts=[account])).json()[
        "elements"
    ]
    assert served
    for element in served:
        row = summed.loc[key(element)]
        assert element["impressions"] == row["impressions"] and Decimal(element["costInUsd"]) == row["costInUsd"]


def test_realistic_invariants(medium):
    truth = medium.state.dataset.daily_metrics("CREATIVE")
    assert (truth["impressions"] >= truth["clicks"]).all() and (truth["clicks"] >= truth["landingPageClicks"]).all()
    assert (truth["externalWebsiteConversions"] <= truth["clicks"]).all()
    assert (truth["approximateMemberReach"] <= truth["impressions"]).all()
    assert all(isinstance(v, Decimal) and v.as_tuple().exponent >= -7 for v in truth["costInLocalCurrency"])
    assert (truth["costInUsd"] < 0).any()  # the "-2E-18" residues of zero-cost days
    created = {
        c["id"]: dt.datetime.fromtimestamp(c["createdAt"] / 1000, dt.UTC).date() for c in medium.state.dataset.creatives
    }
    assert all(row.date >= created[row.pivot_value] for row in truth.itertuples())


def test_cost_strings_include_scientific_notation_and_tiny_negatives(medium):
    fields = ["dateRange", "pivotValues", "costInUsd", "costInLocalCurrency"]
    elements = get(medium, "/adAnalytics", analytics_query(medium, fields=fields)).json()["elements"]
    texts = [e[f] for e in elements for f in fields[2:]]
    assert all(isinstance(t, str) for t in texts)
    assert any("E" in t for t in texts) and any(t.startswith("-") and "E-" in t for t in texts)


def test_silent_truncation_at_max_elements(make_simulator):
    sim = make_simulator(max_elements=10, seed=2)
    truth = sim.state.dataset.daily_metrics("CREATIVE")
    assert len(truth) > 10
    elements = get(sim, "/adAnalytics", analytics_query(sim)).json()["elements"]
    assert len(elements) == 10
    assert {key(e) for e in elements} < {(r.pivot_value, r.date) for r in truth.itertuples()}
    assert get(sim, "/adAnalytics", analytics_query(sim)).json()["elements"] == elements  # deterministic


def test_monthly_buckets_are_clipped_to_the_range(medium):
    ds = medium.state.dataset
    start = ds.history_start + dt.timedelta(days=10)
    end = ds.today - dt.timedelta(days=3)
    query = encode_query({"q": "analytics", "pivot": "CAMPAIGN", "timeGranularity": "MONTHLY", "dateRange": {"start": start, "end": end},
                          "accounts": [f"urn:li:sponsoredAccount:{a['id']}" for a in ds.accounts]})  # fmt: skip
    elements = get(medium, "/adAnalytics", query).json()["elements"]
    starts = {dt.date(**e["dateRange"]["start"]) for e in elements}
    ends = {dt.date(**e["dateRange"]["end"]) for e in elements}
    assert min(starts) == start and max(ends) == end
    assert all(s.day == 1 for s in starts - {start})

    truth = ds.daily_metrics("CAMPAIGN")
    window = truth[(truth["date"] >= start) & (truth["date"] <= end)]
    assert sum(e["impressions"] for e in elements) == window["impressions"].sum()


def test_statistics_rejects_member_pivots_and_returns_one_value_per_pivot(simulator):
    base = analytics_query(simulator).replace(
        "q=analytics&pivot=CREATIVE", "q=statistics&pivots=List(CAMPAIGN,CREATIVE)"
    )
    elements = get(simulator, "/adAnalytics", base).json()["elements"]
    owner = {c["id"]: c["campaign"] for c in simulator.state.dataset.creatives}
    assert elements and all(owner[e["pivotValues"][1]] == e["pivotValues"][0] for e in elements)
    member = get(simulator, "/adAnalytics", base.replace("List(CAMPAIGN,CREATIVE)", "List(CAMPAIGN,MEMBER_SENIORITY)"))
    assert (member.status_code, member.json()["code"]) == (400, "FIELD_INVALID")


def test_demographic_rows_omit_non_member_metrics_and_match_ground_truth(medium):
    ds = medium.state.dataset
    month = (ds.today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    end = (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    account = ds.accounts[0]["id"]
    fields = ["dateRange", "pivotValues", "impressions", "costInUsd", "approximateMemberReach", "cardClicks"]
    query = encode_query({"q": "analytics", "pivot": "MEMBER_JOB_TITLE", "timeGranularity": "MONTHLY",
                          "dateRange": {"start": month, "end": end}, "accounts": [f"urn:li:sponsoredAccount:{account}"]})  # fmt: skip
    elements = get(medium, "/adAnalytics", query + "&fields=" + ",".join(fields)).json()["elements"]
    assert elements and all(not (set(e) & NOT_ON_MEMBER_PIVOTS) for e in elements)
    assert all(e["impressions"] >= 3 for e in elements)
    truth = ds.demographics("MEMBER_JOB_TITLE", "account", month)
    truth = truth[truth["entity"] == f"urn:li:sponsoredAccount:{account}"].set_index("pivot_value")
    assert {e["pivotValues"][0]: e["impressions"] for e in elements} == truth["impressions"].to_dict()

    by_campaign = ds.demographics("MEMBER_JOB_TITLE", "campaign", month)
    mine = by_campaign[
        by_campaign["entity"].isin({c["campaign"] for c in ds.creatives if c["account"].endswith(str(account))})
    ]
    assert mine.groupby("pivot_value")["impressions"].sum().to_dict() == truth["impressions"].to_dict()


def test_metric_value_budget_answers_429_with_the_45_million_message(make_simulator):
    sim = make_simulator()
    rows = len(sim.state.dataset.daily_metrics("CREATIVE"))
    sim.configure(metric_value_budget=4 * rows + 10)  # one default-fields request (4 values per row) fits
    query = analytics_query(sim)
    assert get(sim, "/adAnalytics", query).status_code == 200
    throttled = get(sim, "/adAnalytics", query)
    assert throttled.status_code == 429 and "45 million metric values" in throttled.json()["message"]
    assert "retry-after" not in throttled.headers


# -- OAuth --------------------------------------------------------------------------------------------------------


def refresh(sim, token: str, **overrides: str) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
    }
    return httpx.post(sim.oauth_base_url + "/accessToken", data={**form, **overrides})


def test_refresh_keeps_the_fixed_365_day_window(make_simulator):
    minted = time.time()
    simulator = make_simulator()
    first = refresh(simulator, simulator.refresh_token).json()
    time.sleep(1.1)  # the window counts whole seconds: let one pass between the two refreshes
    second = refresh(simulator, simulator.refresh_token).json()
    assert first["expires_in"] == 5_184_000 and first["scope"] == "r_ads,r_ads_reporting"
    assert first["refresh_token"] == simulator.refresh_token
    assert 365 * 86_400 - (time.time() - minted) - 1 <= first["refresh_token_expires_in"] <= 365 * 86_400
    assert second["refresh_token_expires_in"] < first["refresh_token_expires_in"]
    assert (
        get(simulator, "/adAccountUsers", "q=authenticatedUser", headers(simulator, second["access_token"])).status_code
        == 200
    )


def test_dead_refresh_token_and_bad_requests(make_simulator):
    sim = make_simulator()
    assert refresh(sim, "AQWunknown").json() == {
        "error": "invalid_request",
        "error_description": "The provided authorization grant or refresh token is invalid, expired or revoked",
    }
    assert refresh(sim, sim.refresh_token, client_secret="wrong").status_code == 401
    missing = refresh(sim, "")
    assert (missing.status_code, missing.json()["error_description"]) == (
        400,
        'A required parameter "refresh_token" is missing',
    )
    sim.state.revoke_refresh_tokens()
    assert refresh(sim, sim.refresh_token).status_code == 400


def test_authorization_code_round_trip(make_simulator):
    sim = make_simulator()
    redirect = "http://localhost:9000/callback"
    consent = httpx.get(sim.oauth_base_url + "/authorization", params={
        "response_type": "code", "client_id": sim.client_id, "redirect_uri": redirect, "state": "xyz", "scope": "r_ads r_ads_reporting"})  # fmt: skip
    assert consent.status_code == 302
    location = urlsplit(consent.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect
    code = parse_qs(location.query)
    assert code["state"] == ["xyz"]
    form = {"grant_type": "authorization_code", "code": code["code"][0], "redirect_uri": redirect,
            "client_id": sim.client_id, "client_secret": sim.client_secret}  # fmt: skip
    tokens = httpx.post(sim.oauth_base_url + "/accessToken", data=form).json()
    assert tokens["refresh_token_expires_in"] == 365 * 86_400 and tokens["refresh_token"] != sim.refresh_token
    assert get(sim, "/adAccountUsers", "q=authenticatedUser", headers(sim, tokens["access_token"])).status_code == 200
    assert httpx.post(sim.oauth_base_url + "/accessToken", data=form).status_code == 400  # codes are single-use


# -- data set -----------------------------------------------------------------------------------------------------


def test_late_data_changes_only_the_last_days(make_simulator):
    sim = make_simulator(
        profile="custom", accounts=1, campaigns_per_account=4, creatives_per_campaign=3, days=20, late_data_days=5
    )
    ds = sim.state.dataset
    before = ds.daily_metrics("CREATIVE").set_index(["pivot_value", "date"])
    served_before = get(
        sim, "/adAnalytics", analytics_query(sim, fields=["dateRange", "pivotValues", "externalWebsiteConversions"])
    ).json()
    sim.state.new_generation()
    after = ds.daily_metrics("CREATIVE").set_index(["pivot_value", "date"])
    cutoff = ds.today - dt.timedelta(days=5)
    old = [i for i in before.index if i[1] < cutoff]
    assert before.loc[old].equals(after.loc[old])
    late = [i for i in before.index if i[1] >= cutoff]
    assert (after.loc[late, "externalWebsiteConversions"] >= before.loc[late, "externalWebsiteConversions"]).all()
    assert (after.loc[late, "costInLocalCurrency"] != before.loc[late, "costInLocalCurrency"]).any()
    served_after = get(
        sim, "/adAnalytics", analytics_query(sim, fields=["dateRange", "pivotValues", "externalWebsiteConversions"])
    ).json()
    assert served_after != served_before


def test_same_seed_same_data_other_seed_other_data():
    today = dt.date(2026, 6, 15)
    a, b = (
        Dataset(SimulatorConfig(profile="medium", seed=7, today=today)),
        Dataset(SimulatorConfig(profile="medium", seed=7, today=today)),
    )
    assert a.campaigns == b.campaigns and a.creatives == b.creatives and a.posts == b.posts
    assert a.daily_metrics("CAMPAIGN").equals(b.daily_metrics("CAMPAIGN"))
    other = Dataset(SimulatorConfig(profile="medium", seed=8, today=today))
    assert other.campaigns != a.campaigns


def test_metrics_are_generated_per_account_on_first_use():
    ds = Dataset(SimulatorConfig(profile="medium", seed=2, today=dt.date(2026, 6, 15)))
    assert len(ds.creatives) == 3 * 50 * 3 and not ds._cache  # entities only: even `large` starts at once
    ds.account_metrics(ds.account_data[2])
    assert list(ds._cache) == [(2, 0)]


# -- raw facts: an independent computation of what the API serves -------------------------------------------------


def _facts_by_campaign(ds: Dataset) -> pd.DataFrame:
    """Campaign-days computed from the raw facts by the documented rules, without the endpoint's code."""
    facts = ds.creative_day_facts()
    with localcontext(Context(prec=60)):
        summed = facts.groupby(["campaign_id", "date"])[ADDITIVE].sum()
        corrections = ds.campaign_day_corrections().set_index(["campaign_id", "date"])
        for metric in ("impressions", "clicks", "costInLocalCurrency", "costInUsd"):
            delta = corrections[metric].groupby(level=[0, 1]).sum()
            summed.loc[delta.index, metric] = summed.loc[delta.index, metric] + delta
    reach = facts.groupby(["campaign_id", "date"])["approximateMemberReach"].agg(["max", "sum"])
    summed["approximateMemberReach"] = [
        min(impressions, max(largest, int(total * 0.8)))
        for impressions, largest, total in zip(summed["impressions"], reach["max"], reach["sum"], strict=True)
    ]
    return summed


@pytest.mark.parametrize("oddities", [False, True], ids=["plain", "oddities"])
def test_served_rows_follow_from_the_raw_facts(make_simulator, oddities):
    sim = make_simulator(profile="custom", accounts=2, campaigns_per_account=6, creatives_per_campaign=3, days=40,
                         seed=11, oddities=oddities)  # fmt: skip
    ds = sim.state.dataset
    facts = ds.creative_day_facts().set_index(["creative_id", "date"])
    by_campaign = _facts_by_campaign(ds)
    assert (len(ds.campaign_day_corrections()) > 0) == oddities
    for chunk in CHUNKS:
        fields = ["dateRange", "pivotValues", *chunk]
        for pivot, expected in (("CREATIVE", facts), ("CAMPAIGN", by_campaign)):
            elements = get(sim, "/adAnalytics", analytics_query(sim, pivot, fields=fields)).json()["elements"]
            served = {(int(k[0].rsplit(":", 1)[1]), k[1]): e for e in elements for k in [key(e)]}
            assert set(served) == set(expected.index), pivot
            rows = expected[list(chunk)].to_dict("index")
            for index, element in served.items():
                row = rows[index]
                for metric in chunk:
                    value = Decimal(element[metric]) if metric in COST_METRICS else element[metric]
                    assert value == row[metric], (pivot, index, metric)
                    assert isinstance(element[metric], str if metric in COST_METRICS else int)


def test_oddities_are_there_and_legitimate(make_simulator):
    sizes = {"profile": "custom", "accounts": 2, "campaigns_per_account": 15, "creatives_per_campaign": 3, "days": 60}
    sim = make_simulator(**sizes, seed=3, oddities=True)
    ds = sim.state.dataset
    facts = ds.creative_day_facts()
    assert (facts["clicks"] > facts["impressions"]).any()
    assert (facts["impressions"] > 0).all()  # rows exist only with activity, oddities or not
    campaign_days = _facts_by_campaign(ds)
    top = facts.groupby(["campaign_id", "date"])["impressions"].max()
    assert (top > campaign_days["impressions"]).any()  # a creative above its campaign on a corrected day
    served = get(sim, "/adAnalytics", analytics_query(sim, fields=["dateRange", "pivotValues", "costInUsd",
                                                                   "costInLocalCurrency"])).json()["elements"]  # fmt: skip
    texts = [e[f] for e in served for f in ("costInUsd", "costInLocalCurrency")]
    dust = [t for t in texts if "E" not in t and len(t.partition(".")[2]) > 7]
    assert dust and all(Decimal(t) > 0 for t in dust)  # "12.340000000000002"-like floating-point residues
    assert any(t == "-2E-18" for t in texts)
    again = Dataset(SimulatorConfig(**sizes, seed=3, oddities=True, today=ds.today))
    assert ds.daily_metrics("CAMPAIGN").equals(again.daily_metrics("CAMPAIGN"))  # oddities are deterministic too


def test_demographics_follow_from_the_facts_and_the_member_shares(medium):
    ds = medium.state.dataset
    month = (ds.today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    end = (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    facts = ds.creative_day_facts()
    facts = facts[(facts["date"] >= month) & (facts["date"] <= end)]
    metrics = ["impressions", "clicks", "costInUsd"]
    expected: dict[tuple[int, str], list] = {}
    for (account, campaign), rows in facts.groupby(["account_id", "campaign_id"]):
        units = sum(int(v.quantize(Decimal("1E-7")).scaleb(7)) for v in rows["costInUsd"])  # dust dropped
        totals = {
            "impressions": int(rows["impressions"].sum()),
            "clicks": int(rows["clicks"].sum()),
            "costInUsd": units,
        }
        for value, share in ds.member_shares("MEMBER_SENIORITY", campaign, month):
            part = [math.floor(totals[m] * share) for m in metrics]
            if part[0] >= 3:
                bucket = expected.setdefault((account, value), [0, 0, 0])
                bucket[:] = [a + b for a, b in zip(bucket, part, strict=True)]
    truth = ds.demographics("MEMBER_SENIORITY", "account", month)
    computed = {k: (i, c, Decimal(u).scaleb(-7)) for k, (i, c, u) in expected.items()}
    assert {(int(r.entity.rsplit(":", 1)[1]), r.pivot_value): (r.impressions, r.clicks, r.costInUsd)
            for r in truth.itertuples()} == computed  # fmt: skip


def test_fast_and_general_aggregation_paths_agree(medium):
    ds = medium.state.dataset
    account = ds.account_data[2]
    creatives = [f"urn:li:sponsoredCreative:{c}" for c in account.creative_ids.tolist()]
    fields = ["dateRange", "pivotValues", "impressions", "costInUsd", "approximateMemberReach"]
    by_account = get(medium, "/adAnalytics", analytics_query(
        medium, "CAMPAIGN", fields=fields, accounts=[f"urn:li:sponsoredAccount:{account.id}"])).json()  # fmt: skip
    by_creatives = tunnel(medium, "/adAnalytics", analytics_query(medium, "CAMPAIGN", fields=fields,
                                                                  creatives=creatives)).json()  # fmt: skip
    assert by_account["elements"] and by_account == by_creatives


# -- faults, quotas, log ------------------------------------------------------------------------------------------


def test_injected_faults(make_simulator):
    sim = make_simulator(rate_500=1.0)
    assert get(sim, "/adAccountUsers", "q=authenticatedUser").status_code == 500
    sim.configure(rate_500=0.0, rate_429=1.0)
    throttled = get(sim, "/adAccountUsers", "q=authenticatedUser")
    assert throttled.status_code == 429 and "retry-after" not in throttled.headers
    sim.configure(rate_429=0.0, rate_503=1.0)
    unavailable = get(sim, "/adAccountUsers", "q=authenticatedUser")
    assert unavailable.status_code == 503 and not unavailable.headers["content-type"].startswith("application/json")
    sim.configure(rate_503=0.0, rate_truncated_body=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        get(sim, "/adAccountUsers", "q=authenticatedUser")
    sim.configure(rate_truncated_body=0.0, rate_timeout=1.0, timeout_s=0.6)
    with pytest.raises(httpx.ReadTimeout):
        get(sim, "/adAccountUsers", "q=authenticatedUser", timeout=0.1)
    sim.configure(rate_timeout=0.0)
    assert get(sim, "/adAccountUsers", "q=authenticatedUser").status_code == 200


def test_fault_rate_is_roughly_honoured(make_simulator):
    sim = make_simulator(rate_500=0.3, seed=4)
    with httpx.Client(headers=headers(sim)) as client:
        statuses = [
            client.get(sim.api_base_url + "/adAccountUsers?q=authenticatedUser").status_code for _ in range(200)
        ]
    assert 35 <= statuses.count(500) <= 85 and statuses.count(200) == 200 - statuses.count(500)


def test_daily_quota_answers_429_with_the_throttle_message(make_simulator):
    sim = make_simulator(daily_quota=2)
    assert [get(sim, "/adAccountUsers", "q=authenticatedUser").status_code for _ in range(2)] == [200, 200]
    over = get(sim, "/adAccountUsers", "q=authenticatedUser")
    assert over.status_code == 429
    assert over.json()["message"] == "Resource level throttle limit for calls to this resource is reached."
    assert get(sim, "/adAccounts", "q=search").status_code == 200  # quotas are per endpoint


def test_request_log_counts_by_endpoint(make_simulator):
    sim = make_simulator()
    sim.state.reset_log()
    account = sim.state.dataset.accounts[0]["id"]
    get(sim, "/adAccountUsers", "q=authenticatedUser")
    get(sim, f"/adAccounts/{account}/adCampaigns", "q=search")
    get(sim, "/adAnalytics", analytics_query(sim))
    tunnel(sim, "/adAnalytics", analytics_query(sim))
    refresh(sim, sim.refresh_token)
    assert sim.state.counts_by_endpoint() == {
        "adAccountUsers": 1,
        "adCampaigns": 1,
        "adAnalytics": 2,
        "oauth.accessToken": 1,
    }
    analytics = [r for r in sim.state.request_log if r.endpoint == "adAnalytics"]
    assert [r.tunneled for r in analytics] == [False, True] and all(r.elements and r.bytes > 0 for r in analytics)
    assert sim.access_token not in repr(sim.state.request_log) and sim.access_token not in repr(sim)


def test_cli_rejects_bad_arguments():
    result = subprocess.run(
        [sys.executable, "-m", "linkedin_assets.simulator", "--rate-500", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "probability" in result.stderr


def test_request_log_shows_how_many_requests_were_in_flight(make_simulator):
    sim = make_simulator(latency_ms=150)
    url = sim.api_base_url + "/adAccountUsers?q=authenticatedUser"

    async def burst(n: int) -> None:
        async with httpx.AsyncClient(headers=headers(sim)) as client:
            responses = await asyncio.gather(*(client.get(url) for _ in range(n)))
        assert all(r.status_code == 200 for r in responses)

    sim.state.reset_log()
    asyncio.run(burst(5))
    records = sim.state.requests("adAccountUsers")
    assert len(records) == 5 and all(r.started < r.ended for r in records)
    assert sim.state.max_in_flight() == 5
    sim.state.reset_log()
    for _ in range(3):
        get(sim, "/adAccountUsers", "q=authenticatedUser")
    assert sim.state.max_in_flight("adAccountUsers") == 1

    admin = httpx.get(sim.admin_url + "/requests", params={"endpoint": "adAccountUsers"}).json()
    assert admin["max_in_flight"] == 1 and len(admin["requests"]) == 3
    assert {"started", "ended", "endpoint", "status", "query"} <= set(admin["requests"][0])
    assert sim.access_token not in str(admin)
    assert httpx.delete(sim.admin_url + "/requests").status_code == 200 and not sim.state.requests()


def test_admin_knobs_and_late_data_for_out_of_process_users(make_simulator):
    sim = make_simulator(late_data_days=3)
    knobs = httpx.post(sim.admin_url + "/knobs", json={"rate_500": 1.0}).json()
    assert knobs["rate_500"] == 1.0 and sim.state.config.rate_500 == 1.0
    assert get(sim, "/adAccountUsers", "q=authenticatedUser").status_code == 500
    assert httpx.post(sim.admin_url + "/knobs", json={"rate_500": 0.0}).status_code == 200
    assert httpx.post(sim.admin_url + "/knobs", json={"seed": 3}).status_code == 400  # data is fixed
    assert httpx.post(sim.admin_url + "/new-generation").json() == {"generation": 1}
    assert sim.state.dataset.generation == 1


def test_requests_per_second_limit_answers_429(make_simulator):
    sim = make_simulator(requests_per_second=0.5)  # a bucket of one token, refilled every two seconds
    with httpx.Client(headers=headers(sim)) as client:
        statuses = [client.get(sim.api_base_url + "/adAccountUsers?q=authenticatedUser") for _ in range(4)]
    assert statuses[0].status_code == 200
    assert [r.status_code for r in statuses[1:]] == [429, 429, 429]
    assert statuses[1].json()["message"] == "Resource level throttle limit for calls to this resource is reached."
    sim.configure(requests_per_second=None)
    assert get(sim, "/adAccountUsers", "q=authenticatedUser").status_code == 200


def test_an_injected_timeout_ends_when_the_client_hangs_up(make_simulator):
    sim = make_simulator(rate_timeout=1.0, timeout_s=30)
    with pytest.raises(httpx.ReadTimeout):
        get(sim, "/adAccountUsers", "q=authenticatedUser", timeout=0.2)
    deadline = time.monotonic() + 10
    while not sim.state.requests() and time.monotonic() < deadline:
        time.sleep(0.01)  # polling for the server's log entry, bounded; not a fixed wait
    (record,) = sim.state.requests()
    assert record.ended - record.started < 10


def test_every_flag_is_documented_with_its_default():
    from linkedin_assets.simulator.__main__ import build_parser
    from linkedin_assets.simulator.config import RUNTIME_KNOBS

    parser = build_parser()
    flags = {a.dest: a for a in parser._actions if a.dest != "help"}
    assert all(action.help for action in flags.values())
    assert all("(default: " in action.help for action in flags.values())
    assert RUNTIME_KNOBS - {"active_versions"} <= set(flags)
    assert {"oddities", "late_data_days", "access_token_ttl_s", "requests_per_second"} <= set(flags)
    text = subprocess.run([sys.executable, "-m", "linkedin_assets.simulator", "--help"], capture_output=True,
                          text=True, timeout=30, check=True).stdout  # fmt: skip
    assert "--access-token-ttl-s" in text and "(default: 5184000" in text
