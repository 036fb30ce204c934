"""Rest.li 2.0 encoding: the reference's golden strings, and decode(encode(x)) == x for arbitrary values."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkedin_assets.linkedin import restli

GOLDEN = [
    (
        ["urn:li:sponsoredAccount:5123"],
        "List(urn%3Ali%3AsponsoredAccount%3A5123)",
    ),
    (
        ["urn:li:sponsoredCampaign:1", "urn:li:sponsoredCampaign:2"],
        "List(urn%3Ali%3AsponsoredCampaign%3A1,urn%3Ali%3AsponsoredCampaign%3A2)",
    ),
    (
        {"status": {"values": ["ACTIVE", "PAUSED"]}},
        "(status:(values:List(ACTIVE,PAUSED)))",
    ),
    (
        {"status": {"values": ["ACTIVE", "DRAFT"]}, "test": False},
        "(status:(values:List(ACTIVE,DRAFT)),test:false)",
    ),
    (
        {"start": dt.date(2025, 1, 1), "end": dt.date(2025, 1, 31)},
        "(start:(year:2025,month:1,day:1),end:(year:2025,month:1,day:31))",
    ),
    ([], "List()"),
    ({"value": "DAILY"}, "(value:DAILY)"),
    ("Q4 (EMEA), retargeting: 50%", "Q4%20%28EMEA%29%2C%20retargeting%3A%2050%25"),
    (
        {"name": {"values": ["Acme, Inc. (EU)"]}},
        "(name:(values:List(Acme%2C%20Inc.%20%28EU%29)))",
    ),
]


@pytest.mark.parametrize(("value", "encoded"), GOLDEN)
def test_golden_encoding(value, encoded):
    assert restli.encode(value) == encoded


@pytest.mark.parametrize(("value", "encoded"), [case for case in GOLDEN if not isinstance(case[0], dt.date)])
def test_golden_decoding(value, encoded):
    expected = restli.decode(restli.encode(value))
    assert restli.decode(encoded) == expected


def test_analytics_query_string_from_the_reference():
    query = restli.encode_query(
        [
            ("q", "analytics"),
            ("pivot", "CAMPAIGN"),
            ("timeGranularity", {"value": "DAILY"}),
            ("dateRange", {"start": dt.date(2025, 9, 1), "end": dt.date(2025, 9, 30)}),
            ("accounts", ["urn:li:sponsoredAccount:512345678"]),
            ("pageToken", None),
            ("fields", "impressions,clicks,dateRange,pivotValues"),
        ]
    )
    assert query == (
        "q=analytics&pivot=CAMPAIGN&timeGranularity=(value:DAILY)"
        "&dateRange=(start:(year:2025,month:9,day:1),end:(year:2025,month:9,day:30))"
        "&accounts=List(urn%3Ali%3AsponsoredAccount%3A512345678)"
        "&fields=impressions,clicks,dateRange,pivotValues"
    )
    decoded = restli.decode_query(query)
    assert decoded["accounts"] == ["urn:li:sponsoredAccount:512345678"]
    assert decoded["dateRange"] == {
        "start": {"year": "2025", "month": "9", "day": "1"},
        "end": {"year": "2025", "month": "9", "day": "30"},
    }
    assert decoded["fields"] == "impressions,clicks,dateRange,pivotValues"


@pytest.mark.parametrize("bad", ["List(a,b", "(a:1", "(a:1)x", "List(a(b))", "(:1)"])
def test_malformed_values_are_rejected(bad):
    with pytest.raises(restli.RestliDecodeError):
        restli.decode(bad)


# Strings are leaves; Rest.li cannot tell an empty object from an empty list or an empty string, so those are
# generated non-empty (empty lists are covered above).
_leaves = st.text(min_size=1)
_values = st.recursive(
    _leaves,
    lambda children: (
        st.lists(children, min_size=1, max_size=4)
        | st.dictionaries(st.text(min_size=1), children, min_size=1, max_size=4)
    ),
    max_leaves=20,
)


@given(_values)
def test_decode_inverts_encode(value):
    assert restli.decode(restli.encode(value)) == value


@settings(max_examples=50)
@given(st.dictionaries(st.text(min_size=1).filter(lambda k: k != "fields"), _values, min_size=1, max_size=5))
def test_decode_query_inverts_encode_query(params):
    assert restli.decode_query(restli.encode_query(params)) == params
