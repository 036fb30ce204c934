"""Property-based tests (hypothesis) of what LinkedIn may send: the payload models, the Rest.li decoder, the
client's page handling, and the warehouse when a payload fails mid-stream.

Every generated payload ends in either a correct row (checked against ``ground_truth``'s own reading of the JSON)
or a ``LinkedInError`` naming where (endpoint or entity), which entity (its id) and which field; nothing else
escapes. The client is the real ``LinkedInClient``; only the network is replaced, by an ``httpx.MockTransport``
that answers with the generated LinkedIn responses.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pandas as pd
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkedin_assets.linkedin import restli
from linkedin_assets.linkedin.client import ClientConfig, LinkedInClient
from linkedin_assets.linkedin.errors import LinkedInError, LinkedInPayloadError
from linkedin_assets.linkedin.models import (
    Campaign,
    merge_chunks,
    parse_analytics_element,
    parse_analytics_elements,
    parse_entity,
    urn_id,
)
from linkedin_assets.warehouse import columns
from linkedin_assets_tests.ground_truth import COST_METRICS, DAILY_METRICS, campaign_row

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- payload strategies ------------------------------------------------------------------------------------------

ids = st.integers(min_value=1, max_value=2**53)
epoch_ms = st.integers(min_value=0, max_value=4_102_444_800_000)  # 1970 .. 2100
amounts = st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False, places=7).map(
    lambda d: "0.0" if d == 0 else str(d.normalize())
)
enum_like = st.sampled_from(["ACTIVE", "PAUSED", "ARCHIVED", "COMPLETED", "CANCELED", "CANCELLED", "DRAFT"]) | st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=20
)  # unknown enum values are LinkedIn adding values without a version bump: they must be kept, not refused
junk = st.text(min_size=1, max_size=12).filter(lambda s: not s.strip().lstrip("+-").isdigit())


@st.composite
def campaigns(draw) -> dict[str, Any]:
    account = draw(ids)
    campaign: dict[str, Any] = {
        "id": draw(ids),
        "account": f"urn:li:sponsoredAccount:{account}",
        "campaignGroup": f"urn:li:sponsoredCampaignGroup:{draw(ids)}",
        "name": draw(st.text(max_size=40)),
        "status": draw(enum_like),
        "type": draw(enum_like),
        "costType": draw(enum_like),
        "runSchedule": {"start": draw(epoch_ms)} | ({"end": draw(epoch_ms)} if draw(st.booleans()) else {}),
        "changeAuditStamps": {"created": {"time": draw(epoch_ms)}, "lastModified": {"time": draw(epoch_ms)}},
        "servingStatuses": draw(st.lists(enum_like, max_size=3)),
        "test": draw(st.booleans()),
        "locale": {"country": "US", "language": "en"},
    }
    for money in ("dailyBudget", "unitCost", "totalBudget"):
        if draw(st.booleans()):
            campaign[money] = {"amount": draw(amounts), "currencyCode": draw(st.sampled_from(["USD", "EUR"]))}
    if draw(st.booleans()):
        campaign["someFieldLinkedInAddedLater"] = draw(st.integers() | st.text(max_size=5))
    return campaign


# What can go wrong with one field of a campaign, and whether the model must refuse it.
MUTATIONS = [
    "none",
    "drop_id",
    "drop_account",
    "id_as_digit_string",
    "id_as_junk_string",
    "amount_as_junk",
    "amount_as_number",
    "start_as_junk",
    "start_as_digit_string",
    "account_not_an_urn",
    "status_unknown",
]


def mutate(campaign: dict[str, Any], how: str, data) -> tuple[dict[str, Any], str | None]:
    """(payload, the field an error must name, or None when the payload must parse)."""
    c = json.loads(json.dumps(campaign))
    if how == "drop_id":
        del c["id"]
        return c, "id"
    if how == "drop_account":
        del c["account"]
        return c, "account"
    if how == "id_as_digit_string":
        c["id"] = str(c["id"])
        return c, None
    if how == "id_as_junk_string":
        c["id"] = data.draw(junk)
        return c, "id"
    if how == "amount_as_junk":
        c["unitCost"] = {"amount": data.draw(junk.filter(lambda s: not _is_number(s))), "currencyCode": "USD"}
        return c, "unitCost.amount"
    if how == "amount_as_number":
        c["unitCost"] = {"amount": data.draw(st.integers(-(10**6), 10**6)), "currencyCode": "USD"}
        return c, None
    if how == "start_as_junk":
        c["runSchedule"] = {"start": data.draw(st.text(alphabet="abcxyz !?", min_size=1, max_size=10))}
        return c, "runSchedule.start"
    if how == "start_as_digit_string":
        c["runSchedule"] = {"start": str(c["runSchedule"]["start"])}
        return c, None
    if how == "account_not_an_urn":
        c["account"] = data.draw(
            st.sampled_from(["512345678", "urn:li:sponsoredCampaign:1", "urn:li:sponsoredAccount:x"])
        )
        return c, "account"
    if how == "status_unknown":
        c["status"] = "SOME_STATUS_LINKEDIN_ADDED"
        return c, None
    return c, None


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except ArithmeticError:
        return False
    except ValueError:
        return False


def _normalised(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with the types LinkedIn documents, which the expected row is read from."""
    c = json.loads(json.dumps(payload))
    c["id"] = int(c["id"])
    if isinstance(c.get("runSchedule", {}).get("start"), str):
        c["runSchedule"]["start"] = int(c["runSchedule"]["start"])
    for money in ("dailyBudget", "unitCost", "totalBudget"):
        if money in c and not isinstance(c[money]["amount"], str):
            c[money]["amount"] = str(c[money]["amount"])
    return c


def _same_row(model_row: dict[str, Any], expected: dict[str, Any]) -> None:
    for column, value in model_row.items():
        if isinstance(value, Decimal):
            assert value == expected[column], column
        else:
            assert value == expected[column] and type(value) is type(expected[column]), (column, value)


# -- models -----------------------------------------------------------------------------------------------------


@FAST
@given(campaign=campaigns(), how=st.sampled_from(MUTATIONS), data=st.data())
def test_a_campaign_payload_gives_a_correct_row_or_names_id_and_field(campaign, how, data):
    payload, bad_field = mutate(campaign, how, data)
    if bad_field is None:
        row = parse_entity(Campaign, payload, "campaign", "adCampaigns").to_row()
        _same_row(row, campaign_row(_normalised(payload)))
        return
    with pytest.raises(LinkedInPayloadError) as raised:
        parse_entity(Campaign, payload, "campaign", "adCampaigns")
    text = str(raised.value)
    assert text.startswith("adCampaigns: campaign ")  # endpoint, entity, id, field
    assert f"field '{bad_field}" in text, text
    if "id" in payload:
        assert str(payload["id"]) in text, text


@st.composite
def metric_values(draw, metric: str):
    """(JSON value, expected parse or the exception type) for one metric of an adAnalytics element."""
    decimal_metric = metric in COST_METRICS
    kind = draw(st.sampled_from(["int", "int_string", "decimal_string", "float", "junk", "missing", "bool", "null"]))
    if kind == "int":
        value = draw(st.integers(-(2**40), 2**40))
        return value, (Decimal(value) if decimal_metric else value)
    if kind == "int_string":
        value = draw(st.integers(0, 2**40))
        return str(value), (Decimal(value) if decimal_metric else value)
    if kind == "decimal_string":
        text = draw(amounts)
        number = Decimal(text)
        if decimal_metric:
            return text, number
        return text, (int(number) if number == number.to_integral_value() else LinkedInPayloadError)
    if kind == "float":
        value = draw(st.floats(allow_nan=False, allow_infinity=False, width=64))
        number = Decimal(repr(value))  # the JSON text's decimal meaning, not the binary float's
        if decimal_metric:
            return value, number
        return value, (int(number) if number == number.to_integral_value() else LinkedInPayloadError)
    if kind == "junk":
        return draw(junk.filter(lambda s: not _is_number(s))), LinkedInPayloadError
    if kind == "bool":
        return draw(st.booleans()), LinkedInPayloadError
    if kind == "null":
        return None, None
    return "<missing>", None


@FAST
@given(data=st.data())
def test_an_analytics_element_gives_exact_metrics_or_names_the_element_and_field(data):
    metrics = data.draw(st.lists(st.sampled_from(DAILY_METRICS), min_size=1, max_size=6, unique=True))
    urn = f"urn:li:sponsoredCampaign:{data.draw(ids)}"
    day = data.draw(st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)))
    element: dict[str, Any] = {"pivotValues": [urn], "dateRange": {"start": {"year": day.year, "month": day.month,
                               "day": day.day}, "end": {"year": day.year, "month": day.month, "day": day.day}}}  # fmt: skip
    expected: dict[str, Any] = {}
    for metric in metrics:
        value, want = data.draw(metric_values(metric))
        if value != "<missing>":
            element[metric] = value
        expected[metric] = want
    failing = [m for m, want in expected.items() if want is LinkedInPayloadError]
    if not failing:
        parsed = parse_analytics_element(element, metrics)
        assert parsed.pivot_values == (urn,) and parsed.start == parsed.end == day
        for metric, want in expected.items():
            got = parsed.metrics[metric]
            assert got == want and type(got) is type(want), (metric, element.get(metric), got, want)
        return
    with pytest.raises(LinkedInPayloadError) as raised:
        parse_analytics_element(element, metrics)
    text = str(raised.value)
    assert "adAnalytics" in text and urn in text and any(f"'{m}'" in text for m in failing), text


@FAST
@given(st.sampled_from(["pivotValues", "dateRange", "dateRange.start", "dateRange.start.month"]), st.data())
def test_an_analytics_element_without_its_keys_names_the_field(field, data):
    element = {"pivotValues": ["urn:li:sponsoredCampaign:7"],
               "dateRange": {"start": {"year": 2025, "month": 2, "day": 3}, "end": {"year": 2025, "month": 2, "day": 3}},
               "impressions": 5}  # fmt: skip
    parts = field.split(".")
    holder = element
    for part in parts[:-1]:
        holder = holder[part]
    if data.draw(st.booleans()):
        del holder[parts[-1]]
    else:
        holder[parts[-1]] = data.draw(junk | st.just(None))
    if field == "dateRange.start.month" and isinstance(holder.get("month"), str) and holder["month"].strip().isdigit():
        return
    with pytest.raises(LinkedInPayloadError) as raised:
        parse_analytics_element(element, ("impressions",))
    assert "adAnalytics" in str(raised.value) and parts[0] in str(raised.value)


def _element(urn: str, day: dt.date, end: dt.date | None = None, **metrics: Any) -> dict[str, Any]:
    def ymd(d: dt.date) -> dict[str, int]:
        return {"year": d.year, "month": d.month, "day": d.day}

    return {"pivotValues": [urn], "dateRange": {"start": ymd(day), "end": ymd(end or day)}, **metrics}


def test_field_chunks_are_merged_by_key_not_by_position():
    """A fixed example (the property test below finds the same mistake only some of the time): the second chunk
    answers the same rows in another order, lacks one and adds one; each value lands on its own (creative, day)."""
    d1, d2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
    a, b = "urn:li:sponsoredCreative:1", "urn:li:sponsoredCreative:2"
    first = [_element(a, d1, impressions=10), _element(b, d1, impressions=20), _element(a, d2, impressions=30)]
    second = [_element(a, d2, clicks=3), _element(b, d2, clicks=4), _element(a, d1, clicks=1)]
    window = merge_chunks(
        [parse_analytics_elements(first, ["impressions"]), parse_analytics_elements(second, ["clicks"])],
        ["impressions", "clicks"],
        "CREATIVE",
        ("urn:li:sponsoredAccount:1",),
    )
    merged = {(row.pivot_values[0], row.start): row.metrics for row in window}
    assert merged == {
        (a, d1): {"impressions": 10, "clicks": 1},
        (b, d1): {"impressions": 20, "clicks": None},
        (a, d2): {"impressions": 30, "clicks": 3},
        (b, d2): {"impressions": None, "clicks": 4},
    }


@FAST
@given(data=st.data())
def test_a_chunk_parsed_as_columns_equals_its_elements_parsed_one_by_one(data):
    """The column path of a whole response gives the values of the element path, types included, or the error the
    element path raises for the first element it refuses."""
    metrics = data.draw(st.lists(st.sampled_from(DAILY_METRICS), min_size=1, max_size=5, unique=True))
    valid_only = data.draw(st.booleans())
    elements = []
    for _ in range(data.draw(st.integers(0, 6))):
        day = dt.date(2025, 3, 1) + dt.timedelta(days=data.draw(st.integers(0, 40)))
        element = _element(f"urn:li:sponsoredCampaign:{data.draw(st.integers(1, 4))}", day)
        for metric in metrics:
            value, want = data.draw(metric_values(metric))
            if valid_only and want is LinkedInPayloadError:
                value = 7
            if value != "<missing>":
                element[metric] = value
        oddity = data.draw(st.sampled_from([None] * 6 + ["year_text", "no_range", "pivot_int"]))
        if oddity == "year_text":  # the element path's pydantic model accepts "2025"
            element["dateRange"]["start"]["year"] = str(day.year)
        elif oddity == "no_range" and not valid_only:
            del element["dateRange"]
        elif oddity == "pivot_int" and not valid_only:
            element["pivotValues"] = [7]
        elements.append(element)
    try:
        expected = [parse_analytics_element(element, metrics) for element in elements]
    except LinkedInPayloadError as exc:
        with pytest.raises(LinkedInPayloadError) as raised:
            parse_analytics_elements(elements, metrics)
        assert str(raised.value) == str(exc)
        return
    got = parse_analytics_elements(elements, metrics)
    assert len(got) == len(elements)
    assert list(got.pivot_values) == [e.pivot_values for e in expected]
    assert list(got.starts) == [e.start for e in expected] and list(got.ends) == [e.end for e in expected]
    assert list(got.metrics) == list(dict.fromkeys(metrics))
    for metric in metrics:
        want = [e.metrics[metric] for e in expected]
        assert list(got.metrics[metric]) == want
        assert [type(v) for v in got.metrics[metric]] == [type(v) for v in want]
        assert [str(v) for v in got.metrics[metric]] == [str(v) for v in want]  # Decimal text: exponent, scale


def _merged_row_by_row(chunks: list[list[dict[str, Any]]], names: list[str]) -> list[tuple]:
    """The merge as the client did it before windows were columns: a dict per (pivot values, start, end)."""
    merged: dict[tuple, dict[str, Any]] = {}
    for elements in chunks:
        for element, metrics in elements:
            parsed = parse_analytics_element(element, metrics)
            merged.setdefault((parsed.pivot_values, parsed.start, parsed.end), {}).update(parsed.metrics)
    return [
        (list(pivot_values), start, end, {name: values.get(name) for name in names})
        for (pivot_values, start, end), values in sorted(merged.items(), key=lambda item: (item[0][1], item[0][0]))
    ]


@FAST
@given(data=st.data())
def test_merged_chunks_equal_a_row_by_row_merge(data):
    """Chunks with the same rows, missing rows, extra rows, duplicates, shuffled orders or overlapping metrics merge
    into the rows (and the order) of a merge row by row; a metric of a chunk lacking a row is None."""
    urns = [f"urn:li:sponsoredCreative:{i}" for i in (3, 20, 100)]
    days = [dt.date(2025, 1, 30) + dt.timedelta(days=i) for i in range(4)]
    keys = data.draw(st.lists(st.tuples(st.sampled_from(urns), st.sampled_from(days)), max_size=8))
    chunk_metrics = data.draw(
        st.lists(st.lists(st.sampled_from(DAILY_METRICS[:6]), min_size=1, max_size=3, unique=True), min_size=1,
                 max_size=3)
    )  # fmt: skip
    chunks = []
    for metrics in chunk_metrics:
        how = data.draw(st.sampled_from(["same", "same", "shuffled", "drawn"]))
        chunk_keys = (
            keys if how == "same" else data.draw(st.permutations(keys)) if how == "shuffled"
            else data.draw(st.lists(st.tuples(st.sampled_from(urns), st.sampled_from(days)), max_size=8))
        )  # fmt: skip
        chunks.append([
            (_element(urn, day, **{m: data.draw(st.integers(0, 99) | st.none()) for m in metrics}), tuple(metrics))
            for urn, day in chunk_keys
        ])  # fmt: skip
    names = list(dict.fromkeys(m for metrics in chunk_metrics for m in metrics))
    columns = [
        parse_analytics_elements([element for element, _ in elements], metrics)
        for elements, metrics in zip(chunks, chunk_metrics, strict=True)
    ]
    window = merge_chunks(columns, names, "CREATIVE", ("urn:li:sponsoredAccount:1",))
    got = [(row.pivot_values, row.start, row.end, row.metrics) for row in window]
    assert got == _merged_row_by_row(chunks, names)
    assert all(list(row.metrics) == names for row in window)
    assert len(window) == len(got) and {row.pivot for row in window} <= {"CREATIVE"}


def _metrics_row_by_row(rows, key: str, owners) -> pd.DataFrame:
    """The daily metric frame built row by row, as the assets did before frames were built from columns."""
    from linkedin_assets.defs.assets.metrics import METRIC_COLUMNS

    ids = [urn_id(row.pivot_values[0]) for row in rows]
    frame = pd.DataFrame.from_records([row.metrics for row in rows], columns=list(METRIC_COLUMNS))
    frame.columns = list(METRIC_COLUMNS.values())
    frame.insert(0, key, ids)
    frame.insert(1, "date", [row.start for row in rows])
    for column in sorted({c for owner in owners.values() for c in owner} or {"account_id"}):
        frame[column] = [owners.get(i, {}).get(column) for i in ids]
    return frame


def _demographics_row_by_row(rows, level: str, account_of) -> pd.DataFrame:
    """The demographic frame built row by row, as the asset did before frames were built from columns."""
    from linkedin_assets.defs.assets.demographics import DEMOGRAPHIC_COLUMNS

    entity_ids = [urn_id(row.facet_urns[0]) for row in rows]
    frame = pd.DataFrame(
        {
            "level": [level] * len(rows),
            "entity_id": entity_ids,
            "account_id": entity_ids if level == "account" else [account_of.get(e) for e in entity_ids],
            "pivot": [row.pivot for row in rows],
            "value": [row.pivot_values[0] for row in rows],
            "month": [row.start.replace(day=1) for row in rows],
        }
    )
    metrics = pd.DataFrame.from_records([row.metrics for row in rows], columns=list(DEMOGRAPHIC_COLUMNS))
    metrics.columns = list(DEMOGRAPHIC_COLUMNS.values())
    return pd.concat([frame, metrics], axis=1)


@FAST
@given(data=st.data())
def test_frames_from_window_columns_equal_frames_built_row_by_row(data):
    """metrics_frame and demographics_frame build from a window's columns the frame (columns, dtypes, values) the
    row-by-row build gives, rows lacking a chunk's metrics (None) and unknown owners included."""
    from linkedin_assets.defs.assets import demographics, metrics
    from linkedin_assets.linkedin.catalogue import DAILY_METRICS, DEMOGRAPHIC_METRICS

    demographic = data.draw(st.booleans())
    names = list(DEMOGRAPHIC_METRICS if demographic else DAILY_METRICS)
    half = len(names) // 2
    urns = [f"urn:li:sponsoredCreative:{i}" for i in (3, 20, 2**40)]
    days = [dt.date(2025, 1, 30) + dt.timedelta(days=i) for i in range(3)]
    chunks = []
    for part in (names[:half], names[half:]):
        keys = data.draw(st.lists(st.tuples(st.sampled_from(urns), st.sampled_from(days)), min_size=1, max_size=6))
        elements = [
            _element(urn, day, **{m: data.draw(st.integers(0, 2**40) if m not in COST_METRICS else amounts)
                                  for m in part})
            for urn, day in keys
        ]  # fmt: skip
        chunks.append(parse_analytics_elements(elements, part))
    level = data.draw(st.sampled_from(["account", "campaign"])) if demographic else "campaign"
    facet = ("urn:li:sponsoredCampaign:55" if level == "campaign" else "urn:li:sponsoredAccount:55",)
    window = merge_chunks(chunks, names, "MEMBER_SENIORITY" if demographic else "CREATIVE", facet)
    if demographic:
        account_of = data.draw(st.sampled_from([{}, {55: 9}]))
        got = demographics.demographics_frame(window, account_of)
        want = _demographics_row_by_row(list(window), level, account_of)
    else:
        owners = {3: {"account_id": 1, "campaign_id": 7}, 2**40: {"account_id": 2, "campaign_id": None}}
        got = metrics.metrics_frame(window, "creative_id", owners)
        want = _metrics_row_by_row(list(window), "creative_id", owners)
    # Whole numbers beside a None are nullable Int64 here, float64 in the row-by-row build (which rounds above 2**53).
    pd.testing.assert_frame_equal(got, want, check_exact=True, check_dtype=False)
    for column in got.columns:
        if want[column].dtype == "float64":  # the row-by-row build's whole numbers beside a None
            assert got[column].dtype == "Int64", column


def test_whole_numbers_beside_a_missing_value_land_exactly():
    """A count above 2**53 next to a row whose chunk lacked it stays exact (float64 would round it)."""
    from linkedin_assets.defs.assets import metrics

    big = 2**53 + 1
    elements = [_element("urn:li:sponsoredCampaign:1", dt.date(2025, 1, 1), impressions=big),
                _element("urn:li:sponsoredCampaign:2", dt.date(2025, 1, 1), impressions=None)]  # fmt: skip
    window = merge_chunks([parse_analytics_elements(elements, ["impressions"])], ["impressions"], "CAMPAIGN", ())
    frame = metrics.metrics_frame(window, "campaign_id", {1: {"account_id": 9}, 2: {"account_id": 9}})
    assert frame["impressions"].dtype == "Int64"
    assert frame["impressions"].tolist() == [big, pd.NA]
    written = columns.vector(frame["impressions"], "bigint")
    assert written.null.tolist() == [False, True] and written.values.tolist() == [big]
    assert columns.python_values(written) == [big, None]  # what the PostgreSQL COPY is given


# -- Rest.li ----------------------------------------------------------------------------------------------------


@FAST
@given(st.text(alphabet="()List,:%3Aab1 \u00e9", max_size=40) | st.text(max_size=40))
def test_restli_decoder_returns_a_value_or_a_decode_error(text):
    try:
        value = restli.decode(text)
    except restli.RestliDecodeError as exc:
        assert repr(text) in str(exc) or text[:20] in str(exc)
        return
    assert isinstance(value, (str, list, dict))
    if isinstance(value, (list, dict)):
        assert restli.decode(restli.encode(value)) == value


@FAST
@given(st.text(alphabet="=&()List,:%3Aabfields", max_size=60))
def test_restli_query_decoder_returns_parameters_or_a_decode_error(query):
    try:
        params = restli.decode_query(query)
    except restli.RestliDecodeError:
        return
    assert isinstance(params, dict) and all(isinstance(k, str) for k in params)


# -- the client's page handling (real client, generated LinkedIn pages) -----------------------------------------

PAGE_FAULTS = ["none", "empty_last_page", "missing_elements", "elements_not_objects", "non_json", "huge_field",
               "bad_element"]  # fmt: skip


def _serve(pages: list[dict[str, Any] | bytes]):
    served: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        served.append(request)
        token = dict(httpx.QueryParams(request.url.query)).get("pageToken")
        index = int(token[1:]) if token else 0
        body = pages[min(index, len(pages) - 1)]
        if isinstance(body, bytes):
            return httpx.Response(200, content=body, headers={"content-type": "application/json"})
        return httpx.Response(200, json=body)

    return answer, served


class _Clock:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@SLOW
@given(items=st.lists(campaigns(), min_size=0, max_size=7, unique_by=lambda c: c["id"]),
       page_size=st.integers(1, 3), fault=st.sampled_from(PAGE_FAULTS), data=st.data())  # fmt: skip
def test_campaign_pages_give_every_campaign_once_or_a_named_error(items, page_size, fault, data):
    account = 512345678
    for item in items:
        item["account"] = f"urn:li:sponsoredAccount:{account}"
    chunks = [items[i : i + page_size] for i in range(0, len(items), page_size)] or [[]]
    pages: list[dict[str, Any] | bytes] = []
    for n, chunk in enumerate(chunks):
        page: dict[str, Any] = {"elements": chunk, "paging": {"start": 0, "count": page_size, "links": []}}
        if n + 1 < len(chunks) or fault == "empty_last_page":
            page["metadata"] = {"nextPageToken": f"p{n + 1}"}
        pages.append(page)
    if fault == "empty_last_page":
        pages.append({"elements": [], "metadata": {"nextPageToken": "pX"}})
    victim = data.draw(st.integers(0, len(pages) - 1))
    bad_field = None
    if fault == "missing_elements":
        pages[victim] = {"paging": {"start": 0}, "metadata": {}}
    elif fault == "elements_not_objects":
        pages[victim] = {"elements": [1, "two"]}
    elif fault == "non_json":
        pages[victim] = data.draw(st.sampled_from([b"<html>gateway</html>", b'{"elements": [', b""]))
    elif fault == "huge_field" and items:
        items[0]["description"] = "x" * data.draw(st.integers(1_000_000, 3_000_000))
    elif fault == "bad_element" and items:
        items[-1]["runSchedule"] = {"start": "soon"}
        bad_field = "runSchedule.start"

    answer, served = _serve(pages)
    clock = _Clock()
    config = ClientConfig(api_base_url="https://api.linkedin.test/rest", access_token="AQVtoken-prop", max_retries=2)

    async def main():
        async with LinkedInClient(config, transport=httpx.MockTransport(answer), sleep=clock) as client:
            return await client.campaigns(account)

    broken = fault in ("missing_elements", "elements_not_objects", "non_json") or bad_field is not None
    if not broken:
        got = asyncio.run(main())
        assert [c.id for c in got] == [c["id"] for c in items]
        for model, item in zip(got, items, strict=True):
            _same_row(model.to_row(), campaign_row(_normalised(item)))
        return
    with pytest.raises(LinkedInError) as raised:
        asyncio.run(main())
    text = str(raised.value)
    assert "AQVtoken-prop" not in text
    if bad_field is not None:  # names the entity kind (campaign <id>), the id and the field
        assert text.startswith(("campaign ", "adCampaigns")) and str(items[-1]["id"]) in text, text
        assert f"field '{bad_field}'" in text, text
    else:
        assert "adCampaigns" in text, text
    if fault == "non_json":
        assert len(clock.waits) <= config.max_retries  # retried as a truncated body, with the injectable clock


# -- nothing stored changes when a payload fails ----------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouse_schema(pg_url):
    schema = f"prop_{uuid.uuid4().hex[:10]}"
    yield schema
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows)


@pytest.mark.postgres
@SLOW
@given(good=st.integers(0, 3), failing_at=st.integers(0, 3), bad=st.sampled_from(["impressions", "costInUsd"]))
def test_a_payload_failing_mid_stream_changes_nothing_stored(pg_url, warehouse_schema, good, failing_at, bad):
    """Frames of converted windows stream into one transaction; when a later window's payload fails validation,
    the table is exactly as before (no row of the earlier windows, no deletion of the range replacement)."""
    from linkedin_assets.warehouse import open_warehouse

    day = dt.date(2025, 3, 1)
    account = 777

    def row(campaign: int, offset: int, impressions: int) -> dict[str, Any]:
        return {"campaign_id": campaign, "date": day + dt.timedelta(days=offset), "account_id": account,
                "impressions": impressions, "cost_in_usd": Decimal("1.25")}  # fmt: skip

    with open_warehouse(pg_url, warehouse_schema) as wh:
        wh.ensure_schema()
        wh.write("campaign_daily_metrics", _frame([row(1, i, 10 + i) for i in range(4)]), account_ids=[account],
                 date_range=(day, day + dt.timedelta(days=3)), run_id="before")  # fmt: skip
        before = wh.read("campaign_daily_metrics")

        def frames():
            for n in range(good + 1):
                if n == min(failing_at, good):
                    element = {"pivotValues": ["urn:li:sponsoredCampaign:2"], "dateRange": {
                        "start": {"year": 2025, "month": 3, "day": 2}, "end": {"year": 2025, "month": 3, "day": 2}},
                        bad: "not a number"}  # fmt: skip
                    parse_analytics_element(element, (bad,))  # raises LinkedInPayloadError
                yield _frame([row(2, n % 4, 99)])

        with pytest.raises(LinkedInPayloadError, match=f"'{bad}'"):
            wh.write("campaign_daily_metrics", frames(), account_ids=[account],
                     date_range=(day, day + dt.timedelta(days=3)), run_id="failed")  # fmt: skip
        after = wh.read("campaign_daily_metrics")
    pd.testing.assert_frame_equal(after, before)
    assert set(after["_dagster_run_id"]) == {"before"}


@pytest.mark.postgres
def test_a_malformed_payload_mid_sync_changes_nothing_stored(make_simulator, pg_url, pg_schema, tmp_path, monkeypatch):
    """After a good sync LinkedIn starts sending a campaign with a junk timestamp: the next sync fails naming the
    campaign and the field, and the campaign tables and everything downstream hold exactly what they held."""
    import dagster as dg

    from linkedin_assets_tests.ground_truth import read_tables, sync_in_process

    sim = make_simulator(profile="small", seed=5)
    start, end = sim.state.dataset.history_start, dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    tables = ("campaigns", "creatives", "campaign_daily_metrics", "creative_daily_metrics")
    first = sync_in_process(sim, pg_url, pg_schema, tmp_path, start, end, jobs=("linkedin_daily_sync",))
    assert [r.success for r in first.results] == [True]
    with psycopg.connect(pg_url) as conn:
        before = read_tables(conn, pg_schema, tables)

    campaign = sim.state.dataset.account_data[0].campaigns[-1]
    campaign["runSchedule"] = {"start": "next tuesday"}
    second = sync_in_process(sim, pg_url, pg_schema, tmp_path, start, end, jobs=("linkedin_daily_sync",))
    (result,) = second.results
    assert not result.success
    errors = [
        repr(e.step_failure_data.error) for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE
    ]
    assert any(f"campaign {campaign['id']}" in t and "runSchedule.start" in t for t in errors), errors
    with psycopg.connect(pg_url) as conn:
        after = read_tables(conn, pg_schema, tables)
    for table in tables:
        key = sorted(before[table][0]) if before[table] else []
        assert sorted(before[table], key=lambda r: [repr(r[k]) for k in key]) == sorted(
            after[table], key=lambda r: [repr(r[k]) for k in key]
        ), table
