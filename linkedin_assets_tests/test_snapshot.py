"""The snapshot document's money: exact plain decimal strings, never exponent notation, in the JSON and its schema."""

import datetime as dt
import json
import re
from decimal import Decimal

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkedin_assets.snapshot_schema import (
    MONEY_PATTERN,
    SCHEMA_VERSION,
    DailyMetrics,
    Snapshot,
    SnapshotWarning,
    SnapshotWindow,
    json_schema,
    plain_decimal,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("0E-18"), "0"),
        (Decimal("-0E-18"), "0"),
        (Decimal("1.2300"), "1.23"),
        (Decimal("1E+2"), "100"),
        (Decimal("12.34"), "12.34"),
        (Decimal("-2E-18"), "-0.000000000000000002"),
        (Decimal("12.340000000000000000"), "12.34"),
        (Decimal("123456789012345678901234567890.123456789"), "123456789012345678901234567890.123456789"),
    ],
)
def test_money_is_a_plain_exact_decimal(value, text):
    assert plain_decimal(value) == text


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_money_must_be_finite(value):
    with pytest.raises(ValueError, match="finite"):
        plain_decimal(value)


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_money_text_matches_the_schema_pattern_and_reads_back_exactly(value):
    text = plain_decimal(value)
    assert re.fullmatch(MONEY_PATTERN, text)
    assert Decimal(text) == value


def document(numbers: dict) -> Snapshot:
    return Snapshot(
        generated_at=dt.datetime(2026, 3, 10, tzinfo=dt.UTC),
        dagster_run_id="run",
        window=SnapshotWindow(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 9)),
        accounts=[],
        warnings=[
            SnapshotWarning(
                check="no_negative_spend",
                asset="campaign_daily_metrics",
                entity="campaign",
                entity_id=7,
                day=dt.date(2026, 3, 2),
                numbers=numbers,
            )
        ],
    )


def test_snapshot_json_carries_plain_money_and_validates_against_its_schema():
    snapshot = document({"cost_in_local_currency": Decimal("-5.000000000000000000"), "cost_in_usd": Decimal("0E-18")})
    text = snapshot.model_dump_json()
    parsed = json.loads(text)
    assert parsed["schema_version"] == SCHEMA_VERSION == "1.1"
    assert parsed["warnings"][0]["numbers"] == {"cost_in_local_currency": "-5", "cost_in_usd": "0"}
    jsonschema.validate(parsed, json_schema())
    assert Snapshot.model_validate_json(text) == snapshot

    day = DailyMetrics(date=dt.date(2026, 3, 2), cost_in_local_currency=Decimal("0E-18"), cost_in_usd=Decimal("1E+2"))
    assert json.loads(day.model_dump_json())["cost_in_local_currency"] == "0"
    assert json.loads(day.model_dump_json())["cost_in_usd"] == "100"
    assert "E" not in day.model_dump_json()


def test_schema_refuses_money_in_exponent_notation():
    parsed = json.loads(document({"cost_in_usd": Decimal("1")}).model_dump_json())
    parsed["warnings"][0]["numbers"]["cost_in_usd"] = "0E-18"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(parsed, json_schema())
