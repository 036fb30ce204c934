"""The JSON snapshot: one nested document (accounts -> campaigns -> creatives, with daily metrics and
demographics) for a rolling window, as Pydantic models. ``docs/snapshot.schema.json`` is its published JSON Schema.

Money is serialised as a plain decimal string (exact, never a float and never exponent notation: ``"0"``,
``"12.34"``), dates as ISO dates, and no token or secret is ever part of it. Rows that a check on LinkedIn's numbers
flags stay in the document as LinkedIn sent them; ``warnings`` names each of them.

Version 1.1 (from 1.0): adds ``warnings``; money strings are plain decimals without trailing zeros (1.0 wrote
``"0E-18"``-style strings).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, create_model

from linkedin_assets.linkedin.fields import (
    DECIMAL_METRICS,
    DEFAULT_METRICS,
    DEMOGRAPHIC_METRICS,
    FLOAT_METRICS,
    snake_case,
)

SCHEMA_VERSION = "1.1"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "docs" / "snapshot.schema.json"
MONEY_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$"


def plain_decimal(value: Decimal) -> str:
    """``Decimal`` -> its exact value as a plain decimal string: ``0E-18`` -> ``"0"``, ``1.2300`` -> ``"1.23"``,
    ``1E+2`` -> ``"100"``, ``-2E-18`` -> ``"-0.000000000000000002"``.

    ``format(value, "f")`` never rounds (``Decimal.normalize`` would, to the context's 28 digits), so only the
    trailing zeros of the fraction and the sign of zero are dropped.
    """
    if not value.is_finite():
        raise ValueError(f"money must be a finite number, got {value}")
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "0") else text


Money = Annotated[
    Decimal,
    PlainSerializer(plain_decimal, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": MONEY_PATTERN, "description": "Exact decimal, plain notation: 0, 12.34, -0.5"},
        mode="serialization",
    ),
]
"""An amount of money: a ``Decimal`` in Python, a plain decimal string in JSON."""


def _metric_fields(metrics: tuple[str, ...]) -> dict[str, Any]:
    def kind(m: str) -> Any:
        return Money if m in DECIMAL_METRICS else float if m in FLOAT_METRICS else int

    return {snake_case(m): (kind(m) | None, None) for m in metrics}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Metrics = create_model("Metrics", __base__=_Strict, **_metric_fields(DEFAULT_METRICS))
"""Every metric of ``fields.DEFAULT_METRICS`` under its snake_case column name; ``None`` = not reported."""
DemographicMetrics = create_model("DemographicMetrics", __base__=_Strict, **_metric_fields(DEMOGRAPHIC_METRICS))


class DailyMetrics(Metrics):  # type: ignore[misc, valid-type]
    date: dt.date


class CreativeSnapshot(_Strict):
    id: int
    name: str
    name_source: str
    intended_status: str | None
    content_reference: str | None
    removed: bool
    daily_metrics: list[DailyMetrics]


class CampaignSnapshot(_Strict):
    id: int
    name: str | None
    status: str | None
    campaign_group_id: int | None
    campaign_group_name: str | None
    type: str | None
    objective_type: str | None
    cost_type: str | None
    run_schedule_start: dt.datetime | None
    run_schedule_end: dt.datetime | None
    removed: bool
    totals: Metrics  # type: ignore[valid-type]
    daily_metrics: list[DailyMetrics]
    creatives: list[CreativeSnapshot]


class DemographicRow(DemographicMetrics):  # type: ignore[misc, valid-type]
    level: str
    entity_id: int
    pivot: str
    value: str
    name: str | None
    month: dt.date


class AccountSnapshot(_Strict):
    id: int
    name: str | None
    currency: str | None
    status: str | None
    removed: bool
    campaigns: list[CampaignSnapshot]
    demographics: list[DemographicRow]


class SnapshotWindow(_Strict):
    start: dt.date
    end: dt.date


class SnapshotWarning(_Strict):
    """A row in the window that a check on LinkedIn's numbers flags; the row itself is in the document unchanged."""

    check: str = Field(description="The asset check's name, e.g. clicks_within_impressions.")
    asset: str = Field(description="The checked table, e.g. campaign_daily_metrics.")
    entity: Literal["campaign", "creative", "account"]
    entity_id: int
    day: dt.date = Field(description="The day of the row (for monthly demographics: the first day of the month).")
    numbers: dict[str, int | Money | None] = Field(description="The values the rule compared, by column name.")


class Snapshot(_Strict):
    """The whole document written to ``data/snapshots/<UTC timestamp>.json`` and ``latest.json``."""

    schema_version: str = Field(
        default=SCHEMA_VERSION,
        description="major.minor: the minor part grows when fields are added or a format is tightened, "
        "the major part on any change that breaks a reader.",
    )
    generated_at: dt.datetime
    dagster_run_id: str | None
    window: SnapshotWindow
    accounts: list[AccountSnapshot]
    warnings: list[SnapshotWarning] = Field(
        description="Rows in the window whose numbers break a plausibility rule (a WARN check); published, not refused."
    )


class SnapshotStream:
    """A ``Snapshot`` document produced part by part, so the whole document never exists in memory at once.

    ``header``: the document with ``accounts=[]`` and the (small) ``warnings`` list, validated as a ``Snapshot``;
    ``accounts``: an iterable of validated ``AccountSnapshot`` parts, consumed once, in document order. ``chunks()``
    yields the UTF-8 JSON of the document in pieces (the header up to ``"accounts":[``, each account's JSON, the commas
    between them, then the rest): the same bytes as ``Snapshot(..., accounts=[...]).model_dump_json()``, because pydantic serialises a
    nested model exactly as on its own. ``metadata``: filled by the producer while the accounts are consumed (counts,
    summary); the IO manager records it after the write.
    """

    _MARKER = b'"accounts":['

    def __init__(
        self,
        header: Snapshot,
        accounts: Iterable[AccountSnapshot],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if header.accounts:
            raise ValueError("the header of a SnapshotStream carries no accounts; they come from the stream")
        self.header = header
        self.accounts = accounts
        self.metadata: dict[str, Any] = {} if metadata is None else metadata
        self._consumed = False

    def chunks(self) -> Iterator[bytes]:
        """The document's JSON, one account at a time; a second call raises (the accounts are consumed once)."""
        if self._consumed:
            raise RuntimeError("a SnapshotStream is consumed once")
        self._consumed = True
        head = Snapshot.__pydantic_serializer__.to_json(self.header)
        # A key inside a string value is escaped (\"accounts\"), so the first raw marker is the field itself.
        split = head.index(self._MARKER) + len(self._MARKER)
        yield head[:split]
        accounts = iter(self.accounts)
        first = True
        try:
            # No enumerate(): its reused result tuple would keep the previous account alive while the next is built.
            for account in accounts:
                # bytes straight from the serializer (model_dump_json would add a str copy of the account's JSON)
                piece = AccountSnapshot.__pydantic_serializer__.to_json(account)
                del account  # only the JSON of this part stays, and only until it is written
                if not first:
                    yield b","  # a piece of its own: prefixing it would copy the account's JSON once more
                first = False
                yield piece
                del piece
        finally:
            close = getattr(accounts, "close", None)
            if close is not None:
                close()
        yield head[split:]

    def __repr__(self) -> str:
        return f"SnapshotStream(window={self.header.window.start}..{self.header.window.end})"


def json_schema() -> dict[str, Any]:
    """The snapshot's JSON Schema (what ``docs/snapshot.schema.json`` holds)."""
    schema = Snapshot.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"linkedin_assets/snapshot/{SCHEMA_VERSION}"
    return schema


def write_json_schema(path: Path = SCHEMA_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_json_schema())
