"""The snapshot document: money as exact plain decimal strings (never exponent notation) in the JSON and its schema;
the document built and written one account at a time, byte for byte what the whole-document build wrote; its rows
validated and written column by column (``FlatRows``), byte for byte what a model per row writes."""

import datetime as dt
import json
import re
import weakref
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import dagster as dg
import jsonschema
import numpy as np
import pandas as pd
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field

from linkedin_assets.defs.assets import snapshot as snapshot_module
from linkedin_assets.defs.checks import snapshot_warnings
from linkedin_assets.defs.io_managers.snapshot_json import SnapshotJsonIOManager
from linkedin_assets.defs.io_managers.warehouse import WarehouseResource
from linkedin_assets.defs.partitions import last_complete_day
from linkedin_assets.defs.resources import SyncSettings
from linkedin_assets.linkedin.catalogue import DAILY_METRICS, DECIMAL_METRICS
from linkedin_assets.linkedin.fields import MEMBER_PIVOTS, snake_case
from linkedin_assets.linkedin.plan import calendar_day
from linkedin_assets.settings import Settings
from linkedin_assets.snapshot.schema import (
    DAILY_ROWS,
    DEMOGRAPHIC_ROWS,
    MONEY_PATTERN,
    SCHEMA_VERSION,
    AccountSnapshot,
    CampaignSnapshot,
    CreativeSnapshot,
    DailyMetrics,
    DemographicRow,
    FlatRows,
    Metrics,
    Money,
    Snapshot,
    SnapshotRowError,
    SnapshotStream,
    SnapshotWarning,
    SnapshotWindow,
    _Strict,
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
        (Decimal("-0"), "0"),
        (Decimal("-0.00"), "0"),
        (Decimal("0.0"), "0"),
        (Decimal("100"), "100"),
        (Decimal("-1.50"), "-1.5"),
        (Decimal("0.000001"), "0.000001"),
        (Decimal("0.0000001"), "0.0000001"),
        (Decimal("1.0E-7"), "0.0000001"),
        (Decimal("-1.20E+3"), "-1200"),
        (Decimal("1E+30"), "1" + "0" * 30),
        (Decimal("4.5E-40"), "0." + "0" * 39 + "45"),
        (Decimal("-0E+400"), "0"),
    ],
)
def test_money_is_a_plain_exact_decimal(value, text):
    assert plain_decimal(value) == text


def _formatted(value: Decimal) -> str:
    """``plain_decimal`` as first written: ``format(value, "f")`` for every value, then the same trimming."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "0") else text


@given(
    st.builds(
        lambda sign, digits, exponent: Decimal((sign, digits, exponent)),
        st.integers(0, 1),
        st.lists(st.integers(0, 9), min_size=1, max_size=40).map(tuple),
        st.integers(-400, 400),
    )
    | st.decimals(allow_nan=False, allow_infinity=False)
)
def test_money_text_is_the_formatted_text_for_any_exponent(value):
    assert plain_decimal(value) == _formatted(value)


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
    assert parsed["schema_version"] == SCHEMA_VERSION == "1.2"
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


# --- rows validated and written column by column ------------------------------------------------------------------

INTS = st.none() | st.integers(-(2**70), 2**70) | st.integers(0, 3)
AMOUNTS = (
    st.none()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.sampled_from(
        [Decimal("0E-18"), Decimal("-0E-18"), Decimal("-2E-18"), Decimal("1E+2"), Decimal("1.50"), Decimal("-5")]
    )
)
TEXTS = st.text() | st.sampled_from(
    ['a "quote"', "back\\slash", "tab\tnew\nline\x00\x1f\x7f", "Zürich 東京 🎯", "</script>"]
)


def _row_strategy(model) -> st.SearchStrategy[dict]:
    def values(name, field):
        kind, optional = {(f[0]): (f[1], f[2]) for f in FlatRows(model).fields}[name]
        base = {"int": INTS if optional else st.integers(-(2**70), 2**70), "money": AMOUNTS, "str": TEXTS,
                "date": st.dates()}[kind]  # fmt: skip
        return base | st.none() if optional and kind == "str" else base

    return st.fixed_dictionaries({name: values(name, field) for name, field in model.model_fields.items()})


def _columns(rows: list[dict], rows_model) -> dict[str, list]:
    return {name: [r[name] for r in rows] for name in rows_model.model_fields}


@given(st.lists(_row_strategy(DailyMetrics), max_size=5), st.lists(_row_strategy(DemographicRow), max_size=5))
def test_flat_rows_write_what_a_model_per_row_writes(days, demographics):
    for rows, flat, model in ((days, DAILY_ROWS, DailyMetrics), (demographics, DEMOGRAPHIC_ROWS, DemographicRow)):
        written = flat.json_rows(flat.validate(_columns(rows, model), str))
        assert written == [model(**row).model_dump_json() for row in rows]


def test_flat_rows_validate_each_value_as_the_model_does():
    row = {"date": dt.date(2026, 3, 2), "impressions": True, "clicks": Decimal("5"), "cost_in_usd": 3}
    columns = {name: [row.get(name)] for name in DailyMetrics.model_fields}
    assert DAILY_ROWS.json_rows(DAILY_ROWS.validate(columns, str)) == [DailyMetrics(**row).model_dump_json()]
    assert '"clicks":5,' in DAILY_ROWS.json_rows(DAILY_ROWS.validate(columns, str))[0]
    assert '"impressions":1,' in DAILY_ROWS.json_rows(DAILY_ROWS.validate(columns, str))[0]

    refused = {**columns, "cost_in_usd": [Decimal("Infinity")]}
    with pytest.raises(SnapshotRowError, match=r"^creative 7, 2026-03-02: field cost_in_usd: .*finite"):
        DAILY_ROWS.validate(refused, lambda i: f"creative 7, {columns['date'][i]}")
    with pytest.raises(SnapshotRowError, match="missing \\['date'\\]"):
        DAILY_ROWS.validate({k: v for k, v in columns.items() if k != "date"}, str)


def test_flat_rows_refuse_a_model_they_cannot_write():
    """The schema cannot grow a field the column writer would write wrongly: making its FlatRows fails."""

    class WithFloat(_Strict):
        share: float | None

    class WithBound(_Strict):
        clicks: Annotated[int, Field(ge=0)]

    class WithMoney(_Strict):
        spend: Money | None

    for model in (WithFloat, WithBound):
        with pytest.raises(TypeError, match="no FlatRows writer"):
            FlatRows(model)
    assert FlatRows(WithMoney).json_rows({"spend": [Decimal("0E-18"), None]}) == ['{"spend":"0"}', '{"spend":null}']


# --- the document built and written one account at a time -------------------------------------------------------

MONEY = [snake_case(m) for m in DAILY_METRICS if m in DECIMAL_METRICS]
OTHER_COUNTS = [
    snake_case(m)
    for m in DAILY_METRICS
    if m not in DECIMAL_METRICS and m not in ("approximateMemberReach", "impressions", "clicks")
]


def _money(cents: np.ndarray) -> list[Decimal]:
    return [Decimal(int(c)).scaleb(-2) for c in cents]


def fill_warehouse(
    wh, *, accounts: int, campaigns: int, creatives: int, days: int, end: dt.date, oddities: bool = True
) -> None:
    """Synthetic rows of ``accounts`` x ``campaigns`` x ``creatives`` over the ``days`` days up to ``end``, written
    account by account through ``Warehouse.write`` (so a ``large``-sized fill stays within one account's frames).

    Campaign days are the sums of their creatives' days. ``oddities`` adds what the snapshot must carry unchanged:
    a "|" in a name, a removed creative, a campaign without days, clicks above impressions, cost dust (-2E-18),
    missing metrics."""
    rng = np.random.default_rng(7)
    start = end - dt.timedelta(days=days - 1)
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    months = sorted({d.replace(day=1) for d in dates})
    ids = [500 + a for a in range(accounts)]
    wh.ensure_schema()
    write = wh.write
    write(
        "accounts",
        pd.DataFrame(
            {
                "id": ids,
                "name": [f"Account {a}" + (" | EU" if oddities and a == ids[-1] else "") for a in ids],
                "currency": ["EUR" if a % 2 else "USD" for a in ids],
                "status": "ACTIVE",
            }
        ),
        account_ids=ids,
        date_range=None,
        run_id="fill",
    )
    values = [(p, f"urn:li:{p.lower()}:{v}") for p in MEMBER_PIVOTS for v in range(2)]
    write(
        "demographic_values",
        pd.DataFrame({"value": [v for _, v in values], "pivot": [p for p, _ in values], "name": "a value"}),
        account_ids=(),
        date_range=None,
        run_id="fill",
    )
    for a in ids:
        group = a * 10
        write(
            "campaign_groups",
            pd.DataFrame({"id": [group], "account_id": [a], "name": [f"Group {a}"]}),
            account_ids=[a],
            date_range=None,
            run_id="fill",
        )
        camp = np.array([a * 1000 + c for c in range(campaigns)])
        write(
            "campaigns",
            pd.DataFrame(
                {
                    "id": camp,
                    "account_id": a,
                    "campaign_group_id": group,
                    "name": [f"Campaign {c}" for c in camp],
                    "status": "ACTIVE",
                    "type": "SPONSORED_UPDATES",
                    "cost_type": "CPM",
                    "objective_type": "WEBSITE_VISIT",
                    "run_schedule_start": pd.Timestamp(start, tz="UTC"),
                }
            ),
            account_ids=[a],
            date_range=None,
            run_id="fill",
        )
        cre = (camp[:, None] * 10 + np.arange(creatives)[None, :]).ravel()
        creative_frame = pd.DataFrame(
            {
                "id": cre,
                "account_id": a,
                "campaign_id": np.repeat(camp, creatives),
                "name": [f"Creative {c}" for c in cre],
                "name_source": "creative_name",
                "intended_status": "ACTIVE",
                "content_reference": [f"urn:li:share:{c}" for c in cre],
            }
        )
        write("creatives", creative_frame, account_ids=[a], date_range=None, run_id="fill")
        if oddities and a == ids[0]:  # the last creative goes missing from a later sync: removed, still published
            write("creatives", creative_frame.iloc[:-1], account_ids=[a], date_range=None, run_id="fill")

        # creative days: impressions/clicks/cost per (campaign, creative, day); campaigns sum their creatives
        shape = (campaigns, creatives, days)
        impressions = rng.integers(0, 5000, shape)
        clicks = impressions // rng.integers(20, 200, shape)
        cents = impressions * rng.integers(0, 3, shape)
        if oddities and a == ids[0]:
            campaign_clicks_bump = (0, days - 1)  # campaign 0, last day: clicks above impressions
        keep = slice(0, campaigns - 1) if oddities and a == ids[-1] else slice(0, campaigns)  # one campaign, no days
        n = len(cre) * days
        cr = pd.DataFrame(
            {
                "creative_id": np.repeat(cre, days),
                "date": dates * len(cre),
                "account_id": a,
                "campaign_id": np.repeat(camp, creatives * days),
                "impressions": impressions.ravel(),
                "clicks": clicks.ravel(),
            }
        )
        for c in OTHER_COUNTS:
            cr[c] = clicks.ravel() // 2
        cost = _money(cents.ravel())
        if oddities and a == ids[0]:
            cost[days - 1] = Decimal("-2E-18")  # first creative, last day: zero sent as dust
            cost[days - 2] = Decimal("-5")  # and the day before: a refund, negative spend
        for c in MONEY:
            cr[c] = cost if c.startswith("cost") else [None] * n
        cr["approximate_member_reach"] = None
        cr = cr[cr.campaign_id.isin(camp[keep])]
        write("creative_daily_metrics", cr, account_ids=[a], date_range=(start, end), run_id="fill")
        del cr, cost

        sums = {"impressions": impressions.sum(axis=1), "clicks": clicks.sum(axis=1)}
        if oddities and a == ids[0]:
            sums["clicks"][campaign_clicks_bump] = sums["impressions"][campaign_clicks_bump] + 5
        cd = pd.DataFrame(
            {
                "campaign_id": np.repeat(camp, days),
                "date": dates * campaigns,
                "account_id": a,
                "impressions": sums["impressions"].ravel(),
                "clicks": sums["clicks"].ravel(),
            }
        )
        for c in OTHER_COUNTS:
            cd[c] = (clicks // 2).sum(axis=1).ravel()
        campaign_cost = _money(cents.sum(axis=1).ravel())
        for c in MONEY:
            cd[c] = campaign_cost if c.startswith("cost") else _money(cents.sum(axis=1).ravel() // 7)
        cd["approximate_member_reach"] = sums["impressions"].ravel() // 3
        cd = cd[cd.campaign_id.isin(camp[keep])]
        write("campaign_daily_metrics", cd, account_ids=[a], date_range=(start, end), run_id="fill")

        per_month = cd.assign(month=[d.replace(day=1) for d in cd.date]).groupby("month")["impressions"].sum()
        write(
            "demographic_metrics",
            pd.DataFrame(
                [
                    {
                        "level": "account",
                        "entity_id": a,
                        "account_id": a,
                        "pivot": p,
                        "value": v,
                        "month": m,
                        "impressions": int(per_month.get(m, 0)) // 2,
                        "cost_in_local_currency": Decimal("1.50"),
                    }
                    for m in months
                    for p, v in values
                ]
            ),
            account_ids=[a],
            date_range=(months[0], end),
            run_id="fill",
        )


def whole_document(wh, start, end, run_id, warnings, generated_at) -> Snapshot:
    """The snapshot as the asset built it before it streamed (commit df3f89e): every table read whole, nested, and
    validated as one model. The oracle the streamed document must equal, byte for byte."""
    metrics = [snake_case(m) for m in DAILY_METRICS]
    additive = [c for c in metrics if c != "approximate_member_reach"]
    demographic = [
        c for c in DemographicRow.model_fields if c not in ("level", "entity_id", "pivot", "value", "name", "month")
    ]

    def records(frame):
        return frame.astype(object).where(frame.notna(), None).to_dict("records")

    def daily(table, key):
        days = defaultdict(list)
        for r in records(wh.read(table, where_date_range=(start, end))):
            days[r[key]].append(DailyMetrics(date=calendar_day(r["date"]), **{c: r.get(c) for c in metrics}))
        return {entity: sorted(rows, key=lambda m: m.date) for entity, rows in days.items()}

    def total(days, column):
        values = [getattr(d, column) for d in days if getattr(d, column) is not None]
        return sum(values) if values else None

    group_names = {r["id"]: r["name"] for r in records(wh.read("campaign_groups"))}
    campaign_days, creative_days = (
        daily("campaign_daily_metrics", "campaign_id"),
        daily("creative_daily_metrics", "creative_id"),
    )
    names = {r["value"]: r["name"] for r in records(wh.read("demographic_values"))}
    demographics = defaultdict(list)
    for r in records(wh.read("demographic_metrics", where_date_range=(start.replace(day=1), end))):
        demographics[r["account_id"]].append(
            DemographicRow(
                level=r["level"], entity_id=r["entity_id"], pivot=r["pivot"], value=r["value"],
                name=names.get(r["value"]), month=calendar_day(r["month"]), **{c: r.get(c) for c in demographic},
            )
        )  # fmt: skip
    creatives_of = defaultdict(list)
    for r in sorted(records(wh.read("creatives")), key=lambda r: r["id"]):
        creatives_of[r["campaign_id"]].append(
            CreativeSnapshot(
                id=r["id"], name=r["name"], name_source=r["name_source"], intended_status=r["intended_status"],
                content_reference=r["content_reference"], removed=r["removed_at"] is not None,
                daily_metrics=creative_days.get(r["id"], []),
            )
        )  # fmt: skip
    campaigns_of = defaultdict(list)
    for r in sorted(records(wh.read("campaigns")), key=lambda r: r["id"]):
        days = campaign_days.get(r["id"], [])
        campaigns_of[r["account_id"]].append(
            CampaignSnapshot(
                id=r["id"], name=r["name"], status=r["status"], campaign_group_id=r["campaign_group_id"],
                campaign_group_name=group_names.get(r["campaign_group_id"]), type=r["type"],
                objective_type=r["objective_type"], cost_type=r["cost_type"],
                run_schedule_start=r["run_schedule_start"], run_schedule_end=r["run_schedule_end"],
                removed=r["removed_at"] is not None, totals=Metrics(**{c: total(days, c) for c in additive}),
                daily_metrics=days, creatives=creatives_of.get(r["id"], []),
            )
        )  # fmt: skip
    return Snapshot(
        generated_at=generated_at,
        dagster_run_id=run_id,
        window=SnapshotWindow(start=start, end=end),
        accounts=[
            AccountSnapshot(
                id=r["id"],
                name=r["name"],
                currency=r["currency"],
                status=r["status"],
                removed=r["removed_at"] is not None,
                campaigns=campaigns_of.get(r["id"], []),
                demographics=sorted(demographics.get(r["id"], []), key=lambda d: (d.month, d.pivot, d.value)),
            )
            for r in sorted(records(wh.read("accounts")), key=lambda r: r["id"])
        ],  # fmt: skip
        warnings=warnings,
    )


WINDOW_END = last_complete_day()


@pytest.fixture
def filled(pg_url, pg_schema) -> WarehouseResource:
    """A PostgreSQL warehouse with 3 accounts x 3 campaigns x 2 creatives over 100 days (10 fall outside the window)."""
    resource = WarehouseResource(database_url=pg_url, schema_name=pg_schema)
    with resource.open() as wh:
        fill_warehouse(wh, accounts=3, campaigns=3, creatives=2, days=100, end=WINDOW_END)
    return resource


def _header(start: dt.date) -> Snapshot:
    """A stream's header for ``start..WINDOW_END`` at a fixed time, with no run and no warnings."""
    return Snapshot(
        generated_at=dt.datetime(2026, 3, 10, tzinfo=dt.UTC),
        dagster_run_id=None,
        window=SnapshotWindow(start=start, end=WINDOW_END),
        accounts=[],
        warnings=[],
    )


def _materialize_snapshot(
    warehouse: WarehouseResource, snapshots: Path, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    """The snapshot asset alone, on ``warehouse``, writing into ``snapshots``."""
    with dg.DagsterInstance.ephemeral() as instance:
        return dg.materialize(
            [snapshot_module.snapshot],
            resources={
                "warehouse": warehouse,
                "settings": SyncSettings.of(Settings()),
                "snapshot_io": SnapshotJsonIOManager(base_dir=str(snapshots)),
            },
            instance=instance,
            raise_on_error=raise_on_error,
        )


def test_the_streamed_snapshot_is_the_whole_document_byte_for_byte(filled, tmp_path: Path):
    snapshots = tmp_path / "snapshots"
    result = _materialize_snapshot(filled, snapshots)
    written = (snapshots / "latest.json").read_bytes()
    streamed = Snapshot.model_validate_json(written)
    start = WINDOW_END - dt.timedelta(days=89)
    assert streamed.window == SnapshotWindow(start=start, end=WINDOW_END)
    with filled.open() as wh:
        warnings = snapshot_warnings(wh, start, WINDOW_END, "account")
        expected = whole_document(wh, start, WINDOW_END, result.run_id, warnings, streamed.generated_at)
    assert written == expected.model_dump_json().encode()  # byte-identical to the whole-document build
    assert json.loads(written) == json.loads(expected.model_dump_json())
    jsonschema.validate(json.loads(written), json_schema())

    # the data carries what the document must keep: warnings, a removed creative, exact money, days in the window
    document = json.loads(written)
    assert {w["check"] for w in document["warnings"]} >= {"clicks_within_impressions", "no_negative_spend"}
    assert sum(cr["removed"] for a in document["accounts"] for c in a["campaigns"] for cr in c["creatives"]) == 1
    days = [d for a in document["accounts"] for c in a["campaigns"] for d in c["daily_metrics"]]
    assert len(days) == (3 * 3 - 1) * 90 and min(d["date"] for d in days) == start.isoformat()
    assert "-0.000000000000000002" in written.decode() and "E-" not in written.decode()

    [event] = result.get_asset_materialization_events()
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert (metadata["accounts"], metadata["campaigns"], metadata["creatives"]) == (3, 9, 18)
    assert metadata["warnings"] == len(warnings) and metadata["bytes"] == len(written)
    lines = metadata["summary"].splitlines()
    assert len(lines) == 4 + 3 and lines[-1].startswith("| 502 Account 502 \\| EU | 3 | 6 |")


def test_the_document_is_built_and_written_one_account_at_a_time(filled, tmp_path: Path, monkeypatch):
    """The builder starts an account's part only when every earlier part is gone, and the IO manager writes each
    part as it comes: instrumented with weak references at the builder's hook, not by timing."""
    alive: list[weakref.ref] = []
    built: list[int] = []
    real_build = snapshot_module.build_account_snapshot

    def build(wh, account, *args, **kwargs):
        assert [r() for r in alive if r() is not None] == [], "an earlier account's part is still held"
        part = real_build(wh, account, *args, **kwargs)
        alive.append(weakref.ref(part))
        built.append(part.outline.id)
        return part

    monkeypatch.setattr(snapshot_module, "build_account_snapshot", build)
    start = WINDOW_END - dt.timedelta(days=89)
    with filled.open() as wh:
        stream = SnapshotStream(_header(start), snapshot_module.iter_account_snapshots(wh, start, WINDOW_END, []))
        pieces = []
        for piece in stream.chunks():
            pieces.append(piece)
            parts = [p for p in pieces[1:] if p != b","]
            if piece != b",":  # header first, then each part built only when its piece is asked for
                assert len(built) == min(len(parts), 3)
        expected = whole_document(wh, start, WINDOW_END, None, [], _header(start).generated_at)
    assert built == [500, 501, 502] and len(pieces) == 1 + 3 + 2 + 1  # header, 3 parts, 2 commas, the rest
    assert b"".join(pieces) == expected.model_dump_json().encode()
    with pytest.raises(RuntimeError, match="once"):
        next(stream.chunks())


def test_a_failing_account_leaves_the_previous_latest(filled, tmp_path: Path, monkeypatch):
    manager = SnapshotJsonIOManager(base_dir=str(tmp_path))
    manager.handle_output(dg.build_output_context(asset_key="snapshot"), document({"cost_in_usd": Decimal(1)}))
    previous = (tmp_path / "latest.json").read_bytes()
    files = {p.name for p in tmp_path.iterdir()}
    for p in tmp_path.iterdir():
        if p.name != "latest.json":
            p.rename(tmp_path / "2000-01-01T00-00-00Z.json")
    real_build = snapshot_module.build_account_snapshot

    def build(wh, account, *args, **kwargs):
        if account["id"] == 502:
            raise ValueError("malformed row")
        return real_build(wh, account, *args, **kwargs)

    monkeypatch.setattr(snapshot_module, "build_account_snapshot", build)
    start = WINDOW_END - dt.timedelta(days=89)
    with filled.open() as wh:
        stream = SnapshotStream(
            document({}).model_copy(update={"accounts": []}),
            snapshot_module.iter_account_snapshots(wh, start, WINDOW_END, []),
        )
        with pytest.raises(ValueError, match="malformed"):
            manager.handle_output(dg.build_output_context(asset_key="snapshot"), stream)
    assert (tmp_path / "latest.json").read_bytes() == previous
    assert len({p.name for p in tmp_path.iterdir()}) == len(files)  # no new snapshot, no temporary file


def test_the_document_does_not_depend_on_how_the_rows_are_read(filled, monkeypatch):
    """Days read a few at a time (totals folded read after read) and rows in any order within a read: the same
    bytes as the whole-document build."""
    monkeypatch.setattr(snapshot_module, "ROWS_PER_READ", 10)  # campaigns 3 days a read, creatives 1 day
    start = WINDOW_END - dt.timedelta(days=89)
    reads = []
    with filled.open() as wh:
        real_read = wh.read_columns

        def shuffled(table, **kwargs):
            columns = real_read(table, **kwargs)
            if table.endswith("daily_metrics"):
                reads.append(table)
                order = np.random.default_rng(len(reads)).permutation(len(next(iter(columns.values())))).tolist()
                columns = {name: [values[i] for i in order] for name, values in columns.items()}
            return columns

        monkeypatch.setattr(wh, "read_columns", shuffled)
        streamed = b"".join(
            SnapshotStream(_header(start), snapshot_module.iter_account_snapshots(wh, start, WINDOW_END, [])).chunks()
        )
        monkeypatch.setattr(wh, "read_columns", real_read)
        expected = whole_document(wh, start, WINDOW_END, None, [], _header(start).generated_at)
    assert reads.count("campaign_daily_metrics") == 3 * 30 and reads.count("creative_daily_metrics") == 3 * 90
    assert streamed == expected.model_dump_json().encode()


def _execute(url: str, schema: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.format(schema=schema))


def test_a_malformed_row_fails_the_step_naming_its_row_and_field(filled, pg_url, pg_schema, tmp_path: Path):
    day = WINDOW_END - dt.timedelta(days=3)
    _execute(pg_url, pg_schema, f"""UPDATE "{{schema}}".creative_daily_metrics SET cost_in_usd = 'Infinity'
        WHERE creative_id = 5010011 AND date = '{day}'""")  # fmt: skip
    snapshots = tmp_path / "snapshots"
    result = _materialize_snapshot(filled, snapshots, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    messages, error = [], failure.step_failure_data.error
    while error is not None:
        messages.append(error.message)
        error = error.cause
    assert any(
        f"creative_daily_metrics: creative 5010011, {day}: field cost_in_usd: Input should be a finite number" in m
        for m in messages
    ), messages
    assert not (snapshots / "latest.json").exists()

    _execute(pg_url, pg_schema, """UPDATE "{schema}".creatives SET name = NULL WHERE id = 5000001""")
    start = WINDOW_END - dt.timedelta(days=89)
    with filled.open() as wh, pytest.raises(SnapshotRowError) as raised:
        list(snapshot_module.iter_account_snapshots(wh, start, WINDOW_END, []))
    assert str(raised.value).startswith(
        "account 500, campaign 500000, creative 5000001: field name: Input should be a valid string (got None)"
    )
