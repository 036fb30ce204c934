"""The simulator's conversion rules (``/rest/conversions``), the ``CONVERSION`` pivot and the extra Fivetran metrics,
over real HTTP on loopback, against the ground truth computed from the raw facts."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import httpx
import pytest

from linkedin_assets.linkedin.restli import encode_query
from linkedin_assets.simulator import SimulatorConfig
from linkedin_assets.simulator.conversions import (
    CONVERSION_METRICS,
    CONVERSION_TYPES,
    CONVERSION_URN_PREFIX,
    conversion_facts,
    ground_truth_by_rule,
    ground_truth_conversion_rules,
)
from linkedin_assets.simulator.metrics import FIVETRAN_EXTRA_METRICS
from linkedin_assets_tests.ground_truth import assert_tables_equal, expected_tables, snake

VERSION = "202510"
SNAKE = {m: "".join(f"_{c.lower()}" if c.isupper() else c for c in m) for m in CONVERSION_METRICS}
RULE_FIELDS = {"id", "account", "name", "type", "attributionType", "postClickAttributionWindowSize",
               "viewThroughAttributionWindowSize", "enabled", "conversionMethod", "campaigns", "associatedCampaigns",
               "created", "lastModified"}  # fmt: skip


def get(sim, path: str, query: str) -> httpx.Response:
    hdrs = {"Authorization": f"Bearer {sim.access_token}", "LinkedIn-Version": VERSION,
            "X-Restli-Protocol-Version": "2.0.0"}  # fmt: skip
    return httpx.get(f"{sim.api_base_url}{path}?{query}", headers=hdrs, timeout=60)


def account_urn(account_id: int) -> str:
    return f"urn:li:sponsoredAccount:{account_id}"


def rules_query(account_id: int, **paging: int) -> str:
    return encode_query({"q": "account", "account": account_urn(account_id), **{k: str(v) for k, v in paging.items()}})


def analytics(sim, fields: list[str], granularity: str = "DAILY", **params) -> httpx.Response:
    ds = sim.state.dataset
    base = {"timeGranularity": granularity, "dateRange": {"start": ds.history_start, "end": ds.today}}
    query = encode_query({**base, **params}) + f"&fields={','.join(fields)}"
    return get(sim, "/adAnalytics", query)


def urn_id(urn: str) -> int:
    return int(urn.rsplit(":", 1)[1])


def start_date(element) -> dt.date:
    start = element["dateRange"]["start"]
    return dt.date(start["year"], start["month"], start["day"])


@pytest.fixture(scope="module")
def medium():
    from linkedin_assets.simulator import SimulatorServer

    with SimulatorServer(SimulatorConfig(profile="medium", seed=3)) as server:
        yield server


# -- the finder ---------------------------------------------------------------------------------------------------


def test_conversions_finder_pages_and_totals(medium):
    ds = medium.state.dataset
    truth = ground_truth_conversion_rules(ds)
    assert len(truth) == sum(len(ds.conversion_rules[a.id].elements) for a in ds.account_data)
    for account in ds.account_data:
        expected = truth[truth["account_id"] == account.id]
        assert 2 <= len(expected) <= 6
        seen, start = [], 0
        while True:
            body = get(medium, "/conversions", rules_query(account.id, start=start, count=2)).json()
            assert body["paging"]["total"] == len(expected) and body["paging"]["start"] == start
            seen += body["elements"]
            start += 2
            if start >= body["paging"]["total"]:
                break
        assert [e["id"] for e in seen] == expected["id"].tolist()
        whole = get(medium, "/conversions", rules_query(account.id)).json()
        assert whole["elements"] == seen and whole["paging"]["total"] == len(seen)
        for element, row in zip(seen, expected.itertuples(), strict=True):
            assert RULE_FIELDS <= set(element) <= RULE_FIELDS | {"value"}
            assert isinstance(element["id"], int) and element["account"] == account_urn(account.id)
            assert element["type"] in CONVERSION_TYPES
            assert element["attributionType"] in ("LAST_TOUCH_BY_CAMPAIGN", "LAST_TOUCH_BY_CONVERSION")
            assert element["postClickAttributionWindowSize"] in (1, 7, 30, 90)
            assert element["viewThroughAttributionWindowSize"] in (1, 7, 30)
            urn = f"{CONVERSION_URN_PREFIX}{element['id']}"
            assert [a["campaign"] for a in element["associatedCampaigns"]] == element["campaigns"]
            assert all(a["conversion"] == urn for a in element["associatedCampaigns"])
            assert element["lastModified"] >= element["created"]
            assert row.last_modified.value // 10**6 == element["lastModified"]
            if "value" in element:
                assert Decimal(element["value"]["amount"]) == row.value_amount
                assert element["value"]["currencyCode"] == account.account["currency"]
        assert {30, 90} <= {e["postClickAttributionWindowSize"] for e in seen}
    assert not truth["enabled"].all() and truth["enabled"].any()
    assert truth["value_amount"].isna().any() and truth["value_amount"].notna().any()


def test_conversions_finder_refuses_like_the_other_account_reads(make_simulator):
    sim = make_simulator(profile="custom", accounts=2, campaigns_per_account=2, creatives_per_campaign=1, days=5,
                         seed=2)  # fmt: skip
    ds = sim.state.dataset
    first, second = (a.id for a in ds.account_data)
    assert get(sim, "/conversions", rules_query(first)).status_code == 200
    sim.state.refuse_account(first)
    refused = get(sim, "/conversions", rules_query(first))
    assert refused.status_code == 403 and refused.json()["code"] == "ACCESS_DENIED"
    assert get(sim, "/conversions", rules_query(second)).status_code == 200
    assert get(sim, "/conversions", rules_query(ds.forbidden.id)).status_code == 403
    assert get(sim, "/conversions", rules_query(123)).status_code == 404
    assert get(sim, "/conversions", "q=search").status_code == 400
    sim.state.restore_account(first)
    assert get(sim, "/conversions", rules_query(first)).status_code == 200


def test_edit_conversion_makes_a_new_version(make_simulator):
    sim = make_simulator(profile="small", seed=5)
    ds = sim.state.dataset
    account = ds.account_data[0]
    before = get(sim, "/conversions", rules_query(account.id)).json()["elements"]
    facts_before = conversion_facts(ds)
    rule = before[0]
    changes = {"name": "Renamed rule", "enabled": False, "postClickAttributionWindowSize": 90}
    returned = sim.state.edit_conversion(rule["id"], changes)
    after = {e["id"]: e for e in get(sim, "/conversions", rules_query(account.id)).json()["elements"]}
    assert returned == after[rule["id"]]
    assert after[rule["id"]]["lastModified"] > rule["lastModified"]
    assert {k: after[rule["id"]][k] for k in changes} == changes
    assert all(after[e["id"]] == e for e in before[1:])
    truth = ground_truth_conversion_rules(ds).set_index("id")
    assert truth.loc[rule["id"], "name"] == "Renamed rule" and not truth.loc[rule["id"], "enabled"]
    assert conversion_facts(ds).equals(facts_before), "an edit does not rewrite the rule's past metrics"
    with pytest.raises(KeyError):
        sim.state.edit_conversion(1, {"name": "x"})
    with pytest.raises(ValueError):
        sim.state.edit_conversion(rule["id"], {"id": 3})


# -- the CONVERSION pivot -----------------------------------------------------------------------------------------


def _served(elements) -> dict[tuple, dict]:
    return {(*(urn_id(v) for v in e["pivotValues"]), start_date(e)): e for e in elements}


def _assert_rows_equal(served: dict[tuple, dict], truth) -> None:
    assert len(served) == len(truth)
    for row in truth.to_dict("records"):
        element = served[row["_key"]]
        for metric in CONVERSION_METRICS:
            value = Decimal(element[metric]) if metric == "conversionValueInLocalCurrency" else element[metric]
            assert value == row[SNAKE[metric]], (row["_key"], metric)
            assert type(element[metric]) is (str if metric == "conversionValueInLocalCurrency" else int)


@pytest.mark.parametrize("pivots", [("CAMPAIGN", "CONVERSION"), ("CONVERSION", "CREATIVE")])
def test_statistics_by_entity_and_conversion_equal_the_ground_truth(medium, pivots):
    ds = medium.state.dataset
    entity = next(p for p in pivots if p != "CONVERSION")
    column = "campaign_id" if entity == "CAMPAIGN" else "creative_id"
    truth = ground_truth_by_rule(ds, entity)
    assert len(truth) > 100
    truth["_key"] = [
        (e, c, d) if pivots[0] == entity else (c, e, d)
        for e, c, d in zip(truth[column], truth["conversion_id"], truth["date"], strict=True)
    ]
    fields = ["dateRange", "pivotValues", *CONVERSION_METRICS]
    for account in ds.account_data:
        response = analytics(medium, fields, q="statistics", pivots=list(pivots), accounts=[account_urn(account.id)])
        assert response.status_code == 200, response.text
        elements = response.json()["elements"]
        prefixes = [
            CONVERSION_URN_PREFIX if p == "CONVERSION" else f"urn:li:sponsored{entity.title()}:" for p in pivots
        ]
        assert all(v.startswith(p) for e in elements for v, p in zip(e["pivotValues"], prefixes, strict=True))
        _assert_rows_equal(_served(elements), truth[truth["account_id"] == account.id])


def test_analytics_conversion_pivot_all_and_monthly_sum_the_facts(medium):
    ds = medium.state.dataset
    facts = conversion_facts(ds)
    accounts = [account_urn(a.id) for a in ds.account_data]
    fields = ["dateRange", "pivotValues", "externalWebsiteConversions", "conversionValueInLocalCurrency"]
    total = analytics(medium, fields, "ALL", q="analytics", pivot="CONVERSION", accounts=accounts).json()["elements"]
    per_rule = facts.groupby("conversion_id")[["externalWebsiteConversions", "conversionValueInLocalCurrency"]].sum()
    assert {urn_id(e["pivotValues"][0]) for e in total} == set(per_rule.index)
    for element in total:
        row = per_rule.loc[urn_id(element["pivotValues"][0])]
        assert element["externalWebsiteConversions"] == row["externalWebsiteConversions"]
        assert Decimal(element["conversionValueInLocalCurrency"]) == Decimal(
            int(row["conversionValueInLocalCurrency"])
        ).scaleb(-7)
    monthly = analytics(medium, fields, "MONTHLY", q="analytics", pivot="CONVERSION", accounts=accounts).json()
    assert (
        sum(e["externalWebsiteConversions"] for e in monthly["elements"]) == facts["externalWebsiteConversions"].sum()
    )
    assert len(monthly["elements"]) > len(total)
    one_campaign = int(facts["campaign_id"].iloc[0])
    narrowed = analytics(medium, fields, "ALL", q="analytics", pivot="CONVERSION",
                         campaigns=[f"urn:li:sponsoredCampaign:{one_campaign}"]).json()["elements"]  # fmt: skip
    mine = facts[facts["campaign_id"] == one_campaign]
    assert sum(e["externalWebsiteConversions"] for e in narrowed) == mine["externalWebsiteConversions"].sum()


def test_other_metrics_on_a_conversion_pivot_are_refused(medium):
    ds = medium.state.dataset
    accounts = [account_urn(ds.account_data[0].id)]
    for params in (
        {"q": "analytics", "pivot": "CONVERSION"},
        {"q": "statistics", "pivots": ["CAMPAIGN", "CONVERSION"]},
    ):
        bad = analytics(medium, ["dateRange", "pivotValues", "externalWebsiteConversions", "impressions", "viralClicks"],
                        accounts=accounts, **params)  # fmt: skip
        assert bad.status_code == 400 and bad.json()["code"] == "FIELD_INVALID"
        assert "impressions" in bad.json()["message"] and "viralClicks" in bad.json()["message"]
        assert "externalWebsiteConversions" not in bad.json()["message"]
    default = get(medium, "/adAnalytics", encode_query({"q": "analytics", "pivot": "CONVERSION", "timeGranularity": "ALL",
                  "dateRange": {"start": ds.history_start}, "accounts": accounts})).json()["elements"]  # fmt: skip
    assert default and all(set(e) == {"externalWebsiteConversions", "dateRange", "pivotValues"} for e in default)
    member = analytics(medium, ["externalWebsiteConversions"], q="statistics", pivots=["MEMBER_INDUSTRY", "CONVERSION"],
                       accounts=accounts)  # fmt: skip
    assert member.status_code == 400
    groups = analytics(medium, ["dateRange", "pivotValues", "impressions"], q="statistics",
                       pivots=["CAMPAIGN_GROUP", "CAMPAIGN"], accounts=accounts).json()["elements"]  # fmt: skip
    assert groups and all(len(e["pivotValues"]) == 2 for e in groups)


def test_rules_overlap_so_their_sums_are_not_the_campaign_total(medium):
    ds = medium.state.dataset
    by_rule = ground_truth_by_rule(ds, "CAMPAIGN")
    rule_sums = by_rule.groupby(["campaign_id", "date"])["external_website_conversions"].sum()
    facts = ds.creative_day_facts()
    totals = facts.groupby(["campaign_id", "date"])["externalWebsiteConversions"].sum()
    totals = totals[totals > 0]
    joined = totals.to_frame("total").join(rule_sums.rename("rules"), how="left").fillna(0)
    assert (joined["rules"] > joined["total"]).any(), "one action counts under several rules"
    assert (joined["rules"] < joined["total"]).any(), "no rule needs to count every conversion"
    per_rule_max = by_rule.groupby(["campaign_id", "date"])["external_website_conversions"].max()
    assert (per_rule_max <= totals.reindex(per_rule_max.index).fillna(0)).all(), "a rule counts at most the total"
    truth = ground_truth_conversion_rules(ds)
    disabled = set(truth.loc[~truth["enabled"], "id"])
    assert disabled & set(by_rule["conversion_id"]), "a disabled rule still reports the days it counted"
    leads = set(truth.loc[truth["type"] == "LEAD", "id"])
    assert set(by_rule.loc[by_rule["one_click_leads"] > 0, "conversion_id"]) <= leads
    qualified = set(truth.loc[truth["type"] == "QUALIFIED_LEAD", "id"])
    assert set(by_rule.loc[by_rule["qualified_leads"] > 0, "conversion_id"]) <= qualified
    metrics = [SNAKE[m] for m in CONVERSION_METRICS if m != "conversionValueInLocalCurrency"]
    assert (by_rule[metrics].sum(axis=1) > 0).all(), "rows only where a rule counted something"


def test_conversion_pivot_truncates_silently_and_spends_the_budget(make_simulator):
    sim = make_simulator(profile="medium", seed=3, max_elements=7)
    ds = sim.state.dataset
    accounts = [account_urn(a.id) for a in ds.account_data]
    fields = ["dateRange", "pivotValues", "externalWebsiteConversions"]
    capped = analytics(sim, fields, q="statistics", pivots=["CREATIVE", "CONVERSION"], accounts=accounts)
    assert capped.status_code == 200 and len(capped.json()["elements"]) == 7
    sim.state.configure(metric_value_budget=30)
    assert (
        analytics(sim, fields, q="statistics", pivots=["CREATIVE", "CONVERSION"], accounts=accounts).status_code == 429
    )


# -- the extra Fivetran metrics -----------------------------------------------------------------------------------


def test_viral_metrics_are_served_and_unique_impressions_never(medium):
    ds = medium.state.dataset
    facts = ds.creative_day_facts().set_index(["creative_id", "date"])
    assert (facts["viralClicks"] > facts["clicks"]).any(), "viral counts are not bounded by the paid ones"
    assert (facts["viralImpressions"] == 0).mean() > 0.5, "viral activity is sparse"
    assert facts["leadGenerationMailContactInfoShares"].sum() > 0
    extras = list(FIVETRAN_EXTRA_METRICS)
    accounts = [account_urn(a.id) for a in ds.account_data]
    for chunk in (extras[:17], extras[17:]):
        fields = ["dateRange", "pivotValues", *chunk, "approximateUniqueImpressions"]
        elements = [e for a in accounts
                    for e in analytics(medium, fields, q="analytics", pivot="CREATIVE", accounts=[a]).json()["elements"]]  # fmt: skip
        assert len(elements) == len(facts)
        for element in elements:
            assert "approximateUniqueImpressions" not in element
            row = facts.loc[(urn_id(element["pivotValues"][0]), start_date(element))]
            assert {m: element[m] for m in chunk} == {m: int(row[m]) for m in chunk}
    member = analytics(medium, ["pivotValues", "viralClicks", "viralCardClicks", "viralCardImpressions"], "MONTHLY",
                       q="analytics", pivot="MEMBER_INDUSTRY", accounts=accounts).json()["elements"]  # fmt: skip
    assert member and all(set(e) == {"pivotValues", "viralClicks"} for e in member)
    campaigns = ds.daily_metrics("CAMPAIGN")
    summed = defaultdict(int)
    for row in ds.creative_day_facts().itertuples():
        summed[(f"urn:li:sponsoredCampaign:{row.campaign_id}", row.date)] += row.viralImpressions
    pairs = zip(campaigns["pivot_value"], campaigns["date"], strict=True)
    assert dict(zip(pairs, campaigns["viralImpressions"], strict=True)) == summed


def test_ground_truth_covers_the_extra_metrics_and_a_missing_column_fails(simulator):
    ds = simulator.state.dataset
    table = expected_tables(ds, ds.history_start, ds.today - dt.timedelta(days=1)).tables["creative_daily_metrics"]
    assert table and all({snake(m) for m in FIVETRAN_EXTRA_METRICS} <= set(row) for row in table.values())
    facts = ds.creative_day_facts().set_index(["creative_id", "date"])
    for (creative, day), row in table.items():
        assert row["viral_impressions"] == facts.loc[(creative, day), "viralImpressions"]
    system = {"_synced_at": dt.datetime.now(dt.UTC), "_dagster_run_id": "run"}
    expected = {"creative_daily_metrics": table}
    assert assert_tables_equal(expected, {"creative_daily_metrics": [{**r, **system} for r in table.values()]})
    wrong = [{**r, **system, "viral_likes": r["viral_likes"] + 1} for r in table.values()]
    with pytest.raises(AssertionError, match="viral_likes"):
        assert_tables_equal(expected, {"creative_daily_metrics": wrong})
    missing = [{**{c: v for c, v in r.items() if c != "viral_clicks"}, **system} for r in table.values()]
    with pytest.raises(AssertionError, match="columns differ"):
        assert_tables_equal(expected, {"creative_daily_metrics": missing})


# -- the IMPRESSION_DEVICE_TYPE pivot -----------------------------------------------------------------------------


def test_device_pivot_splits_each_creative_day_exactly(medium):
    from linkedin_assets.simulator.devices import DEVICE_TYPES, NOT_ON_DEVICE_PIVOT, device_weights

    ds = medium.state.dataset
    account = ds.account_data[0]
    facts = ds.creative_day_facts()
    campaigns = [c["id"] for c in account.campaigns[:12]]  # fewer than 15,000 elements
    facts = facts[facts["campaign_id"].isin(campaigns)].set_index(["creative_id", "date"])
    metrics = ["impressions", "clicks", "costInLocalCurrency", "viralImpressions", "videoViews", "oneClickLeads"]
    fields = ["dateRange", "pivotValues", *metrics]
    response = analytics(medium, fields, q="statistics", pivots=["CREATIVE", "IMPRESSION_DEVICE_TYPE"],
                         campaigns=[f"urn:li:sponsoredCampaign:{c}" for c in campaigns])  # fmt: skip
    elements = response.json()["elements"]
    assert {e["pivotValues"][1] for e in elements} <= set(DEVICE_TYPES) and len(facts) < len(elements) < 15_000
    served: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    weights = device_weights(ds.seed, account)
    index = {int(c): i for i, c in enumerate(account.creative_ids)}
    for element in elements:
        creative, device = urn_id(element["pivotValues"][0]), DEVICE_TYPES.index(element["pivotValues"][1])
        row = facts.loc[(creative, start_date(element))]
        w = weights[index[creative]]
        for metric in metrics:
            value = Decimal(element[metric]) if metric == "costInLocalCurrency" else element[metric]
            total = int(row[metric].scaleb(7)) if metric == "costInLocalCurrency" else int(row[metric])
            cumulative = list(w.cumsum())
            cumulative[-1] = 1.0
            bounds = [0] + [int(total * c // 1) for c in cumulative[:-1]] + [total]
            part = bounds[device + 1] - bounds[device]
            assert value == (Decimal(part).scaleb(-7) if metric == "costInLocalCurrency" else part)
            served[(creative, start_date(element))][metric] += part
    for (creative, day), sums in served.items():
        row = facts.loc[(creative, day)]
        assert sums["impressions"] == row["impressions"] and sums["clicks"] == row["clicks"]
    assert {k for k, v in served.items() if v["impressions"]} == {k for k, v in facts.iterrows() if v["impressions"]}
    for metric in sorted(NOT_ON_DEVICE_PIVOT):
        bad = analytics(medium, ["impressions", metric], q="analytics", pivot="IMPRESSION_DEVICE_TYPE",
                        accounts=[account_urn(account.id)])  # fmt: skip
        assert bad.status_code == 400 and metric in bad.json()["message"], metric
    both = analytics(medium, ["externalWebsiteConversions"], q="statistics",
                     pivots=["CONVERSION", "IMPRESSION_DEVICE_TYPE"], accounts=[account_urn(account.id)])  # fmt: skip
    assert both.status_code == 400
