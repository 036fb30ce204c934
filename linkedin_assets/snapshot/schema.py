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
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic_core
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    create_model,
)

from linkedin_assets.linkedin.catalogue import (
    CONVERSION_METRICS,
    DAILY_METRICS,
    DECIMAL_METRICS,
    DEMOGRAPHIC_METRICS,
    FLOAT_METRICS,
)
from linkedin_assets.linkedin.fields import snake_case

SCHEMA_VERSION = "1.2"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "snapshot.schema.json"
"""docs/snapshot.schema.json of the repository (the package is installed editable from it)."""
MONEY_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$"


def plain_decimal(value: Decimal) -> str:
    """``Decimal`` -> its exact value as a plain decimal string: ``0E-18`` -> ``"0"``, ``1.2300`` -> ``"1.23"``,
    ``1E+2`` -> ``"100"``, ``-2E-18`` -> ``"-0.000000000000000002"``.

    ``str`` and ``format(value, "f")`` never round (``Decimal.normalize`` would, to the context's 28 digits), so only
    the trailing zeros of the fraction and the sign of zero are dropped. ``str`` takes half the time of ``format`` (the
    snapshot writes ~100,000 amounts on ``medium``) and writes plain notation but for a positive exponent or a
    magnitude below 1E-6 (``1E+2``, ``2E-18``, ``0E-18``): those go through ``format``.
    """
    if not value.is_finite():
        raise ValueError(f"money must be a finite number, got {value}")
    text = str(value)
    if "E" in text:
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


Metrics = create_model("Metrics", __base__=_Strict, **_metric_fields(DAILY_METRICS))
"""Every metric of ``fields.DAILY_METRICS`` under its snake_case column name; ``None`` = not reported."""
DemographicMetrics = create_model("DemographicMetrics", __base__=_Strict, **_metric_fields(DEMOGRAPHIC_METRICS))
ConversionTotals = create_model("ConversionTotals", __base__=_Strict, **_metric_fields(CONVERSION_METRICS))
"""A conversion rule's totals over the window (the per-rule metrics LinkedIn serves), ``None`` = no rows."""


class ConversionRuleSnapshot(_Strict):
    """A conversion rule of the account and what it counted in the window. One action can count under several rules:
    the totals of an account's rules are not a total of anything, and the document adds none up."""

    id: int
    name: str | None
    type: str | None
    attribution_type: str | None
    post_click_attribution_window_size: int | None
    view_through_attribution_window_size: int | None
    enabled: bool | None
    removed: bool
    totals: ConversionTotals  # type: ignore[valid-type]


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
    conversion_rules: list[ConversionRuleSnapshot] = Field(
        default_factory=list, description="Since 1.2: the account's conversion rules with their totals in the window."
    )
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
    ``accounts``: an iterable of ``AccountJson`` parts (validated and serialised), consumed once, in document order.
    ``chunks()`` yields the UTF-8 JSON of the document in pieces (the header up to ``"accounts":[``, each account's
    JSON, the commas between them, then the rest): the bytes the whole ``Snapshot`` would serialise to, because
    pydantic serialises a nested model exactly as on its own. ``metadata``: filled by the producer while the
    accounts are consumed (counts, summary); the IO manager records it after the write.
    """

    _MARKER = b'"accounts":['

    def __init__(
        self,
        header: Snapshot,
        accounts: Iterable[AccountJson],
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
                piece = account.json
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


# --- rows without a model per row ----------------------------------------------------------------------------------
#
# An account's part holds tens of thousands of daily rows (``large``: 90,000 per account) and thousands of
# demographic rows. A model per row (validated one constructor call at a time, then serialised) was most of the
# snapshot's CPU. Instead the rows come as columns: each column is validated in one call by pydantic against its
# field's own type, and each row is written as the JSON pydantic writes for its model (``FlatRows``). The rest of a
# part (account, campaigns with their totals, creatives) is validated and serialised as an ``AccountSnapshot`` whose
# row lists are empty, and the rows' JSON is put in their place (``account_json``).


class SnapshotRowError(ValueError):
    """A row the snapshot's schema refuses, named by its table, entity, day and field."""


_SPECIAL = re.compile(r'["\\\x00-\x1f\x7f\ud800-\udfff]')
"""Characters whose JSON is not themselves (quote, backslash, controls; DEL and surrogates to be safe)."""


def _json_str(value: str) -> str:
    """A validated ``str``'s JSON as pydantic writes it: quoted; pydantic itself escapes anything special."""
    return f'"{value}"' if _SPECIAL.search(value) is None else pydantic_core.to_json(value).decode()


_KINDS: dict[Any, tuple[str, bool]] = {
    int: ("int", False),
    int | None: ("int", True),
    Money | None: ("money", True),
    dt.date: ("date", False),
    str: ("str", False),
    str | None: ("str", True),
}


@functools.cache
def _column_adapter(annotation: Any) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[annotation])  # type: ignore[valid-type]


class FlatRows:
    """Rows of a flat model (fields of ``int``, ``Money``, ``dt.date`` and ``str``, each optional or not) given as
    columns, one per field (defaults are not applied): ``validate`` checks each column in one pydantic call against
    its field's type, as the model's constructor checks it (the same coercions, e.g. ``True`` -> ``1``, the same
    refusals, e.g. an amount that is not finite); ``json_rows`` writes each row as the model's ``model_dump_json()``, byte for byte: fields in order,
    ``null`` for ``None``, integers as ``str`` writes them, money as its plain decimal string, dates as ISO
    ``YYYY-MM-DD``, strings quoted (escaped by pydantic when they hold a quote, a backslash or a control character).

    A model with any other field type, a constraint, an alias, an excluded field, a validator or serializer of its
    own, or a setting that changes validation is refused when the ``FlatRows`` is made: the schema cannot drift from
    what is written here unnoticed."""

    def __init__(self, model: type[BaseModel]) -> None:
        decorators = model.__pydantic_decorators__
        hooks = (decorators.validators, decorators.field_validators, decorators.root_validators)
        hooks += (decorators.field_serializers, decorators.model_serializers, decorators.model_validators)
        if set(model.model_config) - {"extra", "frozen"} or any(hooks):
            raise TypeError(f"{model.__name__}: its config or validators/serializers are not handled by FlatRows")
        fields = []
        for name, field in model.model_fields.items():
            renamed = field.alias or field.validation_alias or field.serialization_alias or field.exclude
            if field.metadata or renamed or field.annotation not in _KINDS:
                raise TypeError(f"{model.__name__}.{name}: {field!r} has no FlatRows writer")
            kind, optional = _KINDS[field.annotation]
            fields.append((name, kind, optional, _column_adapter(field.annotation)))
        self.model = model
        self.fields = tuple(fields)
        self._format = (
            "{"
            + ",".join(
                json.dumps(name).replace("%", "%%") + (':"%s"' if kind == "date" and not optional else ":%s")
                for name, kind, optional, _ in fields
            )
            + "}"
        )

    def validate(self, columns: Mapping[str, Sequence[Any]], row_name: Callable[[int], str]) -> dict[str, list]:
        """One list per field (rows in the same order) -> the validated lists. Raises ``SnapshotRowError`` naming the
        first bad value's row (``row_name(index)``) and field, or the missing and unknown columns."""
        names = [name for name, *_ in self.fields]
        if set(columns) != set(names):
            missing = [n for n in names if n not in columns]
            raise SnapshotRowError(
                f"{self.model.__name__} columns: missing {missing}, unknown {set(columns) - set(names)}"
            )
        validated = {}
        for name, _, _, adapter in self.fields:
            try:
                validated[name] = adapter.validate_python(columns[name])
            except ValidationError as exc:
                error = exc.errors()[0]
                index = error["loc"][0] if error["loc"] else None
                where = row_name(index) if isinstance(index, int) else "a row"
                raise SnapshotRowError(
                    f"{where}: field {name}: {error['msg']} (got {error.get('input')!r:.200})"
                ) from exc
        return validated

    def json_rows(self, columns: Mapping[str, list]) -> list[str]:
        """Validated columns (``validate``) -> each row's JSON (``str``)."""
        texts: list[list[Any]] = []
        for name, kind, optional, _ in self.fields:
            values = columns[name]
            if kind == "money":
                values = ["null" if v is None else f'"{plain_decimal(v)}"' for v in values]
            elif kind == "str":
                written = {v: "null" if v is None else _json_str(v) for v in set(values)}  # few distinct values
                values = [written[v] for v in values]
            elif optional and None in values:
                values = ["null" if v is None else f'"{v}"' if kind == "date" else v for v in values]
            elif optional and kind == "date":
                values = [f'"{v}"' for v in values]
            texts.append(values)
        row = self._format
        return [row % values for values in zip(*texts, strict=True)]


DAILY_ROWS = FlatRows(DailyMetrics)
DEMOGRAPHIC_ROWS = FlatRows(DemographicRow)


@dataclass(frozen=True, eq=False)
class AccountJson:
    """One account's part of the document, validated and serialised: ``json`` is the part's JSON (the bytes
    ``AccountSnapshot`` serialises to); ``outline``: the part as an ``AccountSnapshot`` with its row lists
    (``daily_metrics``, ``demographics``) empty, the rows being only in ``json``: for summaries."""

    json: bytes
    outline: AccountSnapshot


_DAYS = b'"daily_metrics":'
_NO_DAYS = _DAYS + b"[]"
_DEMOGRAPHICS = b'"demographics":'


def account_json(
    outline: AccountSnapshot,
    campaign_days: Mapping[int, bytes],
    creative_days: Mapping[int, bytes],
    demographics: bytes,
) -> AccountJson:
    """The part's JSON: ``outline`` serialised by pydantic, with each campaign's and creative's daily rows (the JSON
    of the rows, comma-joined, by entity id; none if absent) in its empty ``daily_metrics`` and the demographic rows
    (likewise) in the empty ``demographics`` that ends it.

    A field name inside a string value is escaped (``\"daily_metrics\"``), so each raw ``"daily_metrics":[]`` is a
    field itself: one per campaign, then one per creative of it, in document order."""
    entities: list[bytes] = []
    for campaign in outline.campaigns:
        entities.append(campaign_days.get(campaign.id, b""))
        entities.extend(creative_days.get(creative.id, b"") for creative in campaign.creatives)
        if campaign.daily_metrics or any(creative.daily_metrics for creative in campaign.creatives):
            raise ValueError("an outline's daily_metrics are empty: the rows come as JSON")
    if outline.demographics:
        raise ValueError("an outline's demographics are empty: the rows come as JSON")
    text = AccountSnapshot.__pydantic_serializer__.to_json(outline)
    end = _DEMOGRAPHICS + b"[]}"
    if not text.endswith(end):
        raise RuntimeError("an AccountSnapshot's JSON ends with its demographics")
    pieces = text[: -len(end)].split(_NO_DAYS)
    if len(pieces) != len(entities) + 1:
        raise RuntimeError(f"{len(pieces) - 1} empty daily_metrics in the outline's JSON, {len(entities)} expected")
    out = [pieces[0]]
    for days, piece in zip(entities, pieces[1:], strict=True):
        out += (_DAYS, b"[", days, b"]", piece)
    out += (_DEMOGRAPHICS, b"[", demographics, b"]}")
    return AccountJson(b"".join(out), outline)


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
