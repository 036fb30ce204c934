"""Pydantic models of the LinkedIn payloads the sync reads, and their flat warehouse rows.

Unknown fields are kept (``extra="allow"``): LinkedIn adds fields without a version bump. Epoch-millisecond
timestamps become tz-aware UTC datetimes, BigDecimal strings become :class:`~decimal.Decimal`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import chain
from operator import itemgetter
from typing import Annotated, Any, NamedTuple, TypeVar

import numpy as np
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from .catalogue import DECIMAL_METRICS, FLOAT_METRICS
from .errors import LinkedInPayloadError
from .fields import snake_case

__all__ = [
    "AdAccount",
    "AdAccountUser",
    "AnalyticsElement",
    "AnalyticsRow",
    "AnalyticsWindow",
    "ElementColumns",
    "Campaign",
    "CampaignGroup",
    "Creative",
    "Money",
    "Post",
    "RunSchedule",
    "TargetingEntity",
    "merge_chunks",
    "parse_analytics_element",
    "parse_analytics_elements",
    "parse_entity",
    "parse_metric",
    "urn_id",
]

MetricValue = int | Decimal | float | None


def urn_id(urn: str) -> int:
    """The numeric id at the end of a URN: ``urn:li:sponsoredCampaign:12`` -> ``12``."""
    return int(urn.rsplit(":", 1)[1])


def _epoch_ms(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected epoch milliseconds, got a boolean")
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.lstrip("-").isdigit()):
        return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)
    return value


def _decimal(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a decimal number, got a boolean")
    if isinstance(value, (int, float, str)):
        try:
            number = Decimal(value if not isinstance(value, float) else repr(value))
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
        if not number.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return number
    return value


def _urn_of(kind: str):
    prefix = f"urn:li:{kind}:"

    def check(value: str) -> str:
        if not value.startswith(prefix) or not value[len(prefix) :].isdigit():
            raise ValueError(f"expected a {prefix}<number> URN, got {value!r}")
        return value

    return AfterValidator(check)


EpochMs = Annotated[dt.datetime, BeforeValidator(_epoch_ms)]
Amount = Annotated[Decimal, BeforeValidator(_decimal)]
AccountUrn = Annotated[str, _urn_of("sponsoredAccount")]
CampaignGroupUrn = Annotated[str, _urn_of("sponsoredCampaignGroup")]
CampaignUrn = Annotated[str, _urn_of("sponsoredCampaign")]
CreativeUrn = Annotated[str, _urn_of("sponsoredCreative")]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True)


class Money(_Model):
    """An amount of money; LinkedIn sends the amount as a BigDecimal string."""

    amount: Amount
    currency_code: str | None = None


class RunSchedule(_Model):
    """When an entity runs: ``start`` inclusive, ``end`` exclusive, either may be absent."""

    start: EpochMs | None = None
    end: EpochMs | None = None


class _AuditStamp(_Model):
    time: EpochMs | None = None
    actor: str | None = None


class _ChangeAuditStamps(_Model):
    created: _AuditStamp | None = None
    last_modified: _AuditStamp | None = None


class _Version(_Model):
    version_tag: str | None = None


class _Locale(_Model):
    country: str | None = None
    language: str | None = None


class _Review(_Model):
    status: str | None = None


def _money_row(prefix: str, money: Money | None) -> dict[str, Any]:
    return {
        f"{prefix}_amount": money.amount if money else None,
        f"{prefix}_currency_code": money.currency_code if money else None,
    }


class _Audited(_Model):
    change_audit_stamps: _ChangeAuditStamps | None = None

    @property
    def created_time(self) -> dt.datetime | None:
        stamps = self.change_audit_stamps
        return stamps.created.time if stamps and stamps.created else None

    @property
    def last_modified_time(self) -> dt.datetime | None:
        stamps = self.change_audit_stamps
        return stamps.last_modified.time if stamps and stamps.last_modified else None


class AdAccount(_Audited):
    """An ad account (``/rest/adAccounts``)."""

    id: int
    name: str | None = None
    currency: str | None = None
    status: str | None = None
    type: str | None = None
    reference: str | None = None
    test: bool | None = None
    serving_statuses: list[str] = Field(default_factory=list)
    version: _Version | None = None

    @property
    def urn(self) -> str:
        return f"urn:li:sponsoredAccount:{self.id}"

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "currency": self.currency,
            "status": self.status,
            "type": self.type,
            "reference": self.reference,
            "test": self.test,
            "serving_statuses": list(self.serving_statuses),
            "version_tag": self.version.version_tag if self.version else None,
            "created_time": self.created_time,
            "last_modified_time": self.last_modified_time,
        }


class AdAccountUser(_Model):
    """A member's role on an ad account (``/rest/adAccountUsers``)."""

    account: AccountUrn
    user: str | None = None
    role: str | None = None

    @property
    def account_id(self) -> int:
        return urn_id(self.account)


class CampaignGroup(_Audited):
    """A campaign group (``/rest/adAccounts/{id}/adCampaignGroups``)."""

    id: int
    account: AccountUrn
    name: str | None = None
    status: str | None = None
    test: bool | None = None
    backfilled: bool | None = None
    run_schedule: RunSchedule | None = None
    total_budget: Money | None = None
    serving_statuses: list[str] = Field(default_factory=list)

    @property
    def urn(self) -> str:
        return f"urn:li:sponsoredCampaignGroup:{self.id}"

    @property
    def account_id(self) -> int:
        return urn_id(self.account)

    def to_row(self) -> dict[str, Any]:
        schedule = self.run_schedule
        return {
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "status": self.status,
            "test": self.test,
            "backfilled": self.backfilled,
            "run_schedule_start": schedule.start if schedule else None,
            "run_schedule_end": schedule.end if schedule else None,
            **_money_row("total_budget", self.total_budget),
            "serving_statuses": list(self.serving_statuses),
            "created_time": self.created_time,
            "last_modified_time": self.last_modified_time,
        }


class Campaign(_Audited):
    """A campaign (``/rest/adAccounts/{id}/adCampaigns``)."""

    id: int
    account: AccountUrn
    campaign_group: CampaignGroupUrn | None = None
    name: str | None = None
    status: str | None = None
    type: str | None = None
    cost_type: str | None = None
    objective_type: str | None = None
    optimization_target_type: str | None = None
    format: str | None = None
    creative_selection: str | None = None
    pacing_strategy: str | None = None
    daily_budget: Money | None = None
    unit_cost: Money | None = None
    total_budget: Money | None = None
    run_schedule: RunSchedule | None = None
    locale: _Locale | None = None
    audience_expansion_enabled: bool | None = None
    offsite_delivery_enabled: bool | None = None
    test: bool | None = None
    serving_statuses: list[str] = Field(default_factory=list)
    version: _Version | None = None
    targeting_criteria: dict[str, Any] | None = None

    @property
    def urn(self) -> str:
        return f"urn:li:sponsoredCampaign:{self.id}"

    @property
    def account_id(self) -> int:
        return urn_id(self.account)

    @property
    def campaign_group_id(self) -> int | None:
        return urn_id(self.campaign_group) if self.campaign_group else None

    def to_row(self) -> dict[str, Any]:
        schedule = self.run_schedule
        return {
            "id": self.id,
            "account_id": self.account_id,
            "campaign_group_id": self.campaign_group_id,
            "name": self.name,
            "status": self.status,
            "type": self.type,
            "cost_type": self.cost_type,
            "objective_type": self.objective_type,
            "optimization_target_type": self.optimization_target_type,
            "format": self.format,
            "creative_selection": self.creative_selection,
            "pacing_strategy": self.pacing_strategy,
            **_money_row("daily_budget", self.daily_budget),
            **_money_row("unit_cost", self.unit_cost),
            **_money_row("total_budget", self.total_budget),
            "run_schedule_start": schedule.start if schedule else None,
            "run_schedule_end": schedule.end if schedule else None,
            "locale_country": self.locale.country if self.locale else None,
            "locale_language": self.locale.language if self.locale else None,
            "audience_expansion_enabled": self.audience_expansion_enabled,
            "offsite_delivery_enabled": self.offsite_delivery_enabled,
            "test": self.test,
            "serving_statuses": list(self.serving_statuses),
            "version_tag": self.version.version_tag if self.version else None,
            "created_time": self.created_time,
            "last_modified_time": self.last_modified_time,
            "targeting_criteria": self.targeting_criteria,
        }


class Creative(_Model):
    """A creative (``/rest/adAccounts/{id}/creatives``); unlike the other entities its id is a URN."""

    id: CreativeUrn
    account: AccountUrn
    campaign: CampaignUrn
    name: str | None = None
    intended_status: str | None = None
    is_serving: bool | None = None
    is_test: bool | None = None
    review: _Review | None = None
    content: dict[str, Any] | None = None
    serving_hold_reasons: list[str] = Field(default_factory=list)
    created_at: EpochMs | None = None
    last_modified_at: EpochMs | None = None

    @property
    def urn(self) -> str:
        return self.id

    @property
    def numeric_id(self) -> int:
        return urn_id(self.id)

    @property
    def account_id(self) -> int:
        return urn_id(self.account)

    @property
    def campaign_id(self) -> int:
        return urn_id(self.campaign)

    @property
    def content_type(self) -> str | None:
        """The union member of ``content``: ``reference``, ``textAd``, ``spotlight``, ..."""
        return next(iter(self.content), None) if self.content else None

    @property
    def content_reference(self) -> str | None:
        """The post (``urn:li:share:``/``urn:li:ugcPost:``) or InMail content this creative sponsors."""
        reference = (self.content or {}).get("reference")
        return reference if isinstance(reference, str) else None

    def _landing_page(self, kind: str) -> str | None:
        part = (self.content or {}).get(kind)
        page = part.get("landingPage") if isinstance(part, Mapping) else None
        return page if isinstance(page, str) else None

    def to_row(self) -> dict[str, Any]:
        text_ad = (self.content or {}).get("textAd")
        return {
            "id": self.numeric_id,
            "urn": self.id,
            "account_id": self.account_id,
            "campaign_id": self.campaign_id,
            "name": self.name,
            "intended_status": self.intended_status,
            "is_serving": self.is_serving,
            "is_test": self.is_test,
            "review_status": self.review.status if self.review else None,
            "content_reference": self.content_reference,
            "content_type": self.content_type,
            "text_ad_headline": text_ad.get("headline") if isinstance(text_ad, Mapping) else None,
            "serving_hold_reasons": list(self.serving_hold_reasons),
            "created_at": self.created_at,
            "last_modified_at": self.last_modified_at,
            "text_ad_landing_page": self._landing_page("textAd"),
            "spotlight_landing_page": self._landing_page("spotlight"),
        }


class ConversionRule(_Model):
    """A conversion rule (``/rest/conversions?q=account``): what counts as a conversion, and how it is attributed."""

    id: int
    account: AccountUrn
    name: str | None = None
    type: str | None = None
    attribution_type: str | None = None
    post_click_attribution_window_size: int | None = None
    view_through_attribution_window_size: int | None = None
    enabled: bool | None = None
    conversion_method: str | None = None
    value: Money | None = None
    campaigns: list[CampaignUrn] = Field(default_factory=list)
    created: EpochMs | None = None
    last_modified: EpochMs | None = None

    @property
    def account_id(self) -> int:
        return urn_id(self.account)

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "type": self.type,
            "attribution_type": self.attribution_type,
            "post_click_attribution_window_size": self.post_click_attribution_window_size,
            "view_through_attribution_window_size": self.view_through_attribution_window_size,
            "enabled": self.enabled,
            "conversion_method": self.conversion_method,
            **_money_row("value", self.value),
            "campaign_ids": [urn_id(urn) for urn in self.campaigns],
            "created_time": self.created,
            "last_modified_time": self.last_modified,
        }


class Post(_Model):
    """A post (``/rest/posts``) sponsored by a creative; the source of human-readable creative names."""

    id: str
    commentary: str | None = None
    ad_context: dict[str, Any] | None = None
    content: dict[str, Any] | None = None
    lifecycle_state: str | None = None
    created_at: EpochMs | None = None
    last_modified_at: EpochMs | None = None

    @property
    def name(self) -> str | None:
        """The best name the post offers: the dark-post ad name, else the media or article title."""
        dsc_name = (self.ad_context or {}).get("dscName")
        if dsc_name:
            return dsc_name
        for kind in ("media", "article"):
            part = (self.content or {}).get(kind)
            if isinstance(part, Mapping) and part.get("title"):
                return part["title"]
        return None

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "commentary": self.commentary,
            "lifecycle_state": self.lifecycle_state,
            "created_at": self.created_at,
            "last_modified_at": self.last_modified_at,
        }


class TargetingEntity(_Model):
    """A targeting URN and its display name (``/rest/adTargetingEntities``)."""

    urn: str
    name: str
    facet_urn: str | None = None


@dataclass(frozen=True, slots=True)
class AnalyticsRow:
    """One merged adAnalytics row: pivot value(s), one time bucket and its metrics (``None`` = not returned).

    A plain slotted dataclass, not a pydantic model: a backfill makes millions of them, and every value in it was
    validated when its element was parsed (:func:`parse_analytics_element`).
    """

    pivot_values: list[str]
    start: dt.date
    end: dt.date
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    pivot: str | None = None
    """The query's pivot, e.g. ``CAMPAIGN`` (set by the client)."""
    facet_urns: tuple[str, ...] = ()
    """The facet the planned query asked for (e.g. the account URN): tells demographic rows of accounts apart."""

    @property
    def pivot_value(self) -> str:
        return self.pivot_values[0]

    def metric_columns(self) -> dict[str, Any]:
        """The metrics under their snake_case column names."""
        return {snake_case(name): value for name, value in self.metrics.items()}

    def to_row(self) -> dict[str, Any]:
        return {
            "pivot": self.pivot,
            "pivot_value": self.pivot_value,
            "pivot_values": list(self.pivot_values),
            "start": self.start,
            "end": self.end,
            **self.metric_columns(),
        }


def parse_metric(name: str, value: Any) -> MetricValue:
    """Convert one metric to its type, accepting a JSON number or string for any metric."""
    if value is None:
        return None
    kind = type(value)
    if kind is int and name not in DECIMAL_METRICS and name not in FLOAT_METRICS:
        return value
    if kind not in (int, float, str):
        raise ValueError(f"expected a number, got {value!r}")
    if name in FLOAT_METRICS:
        return float(value)
    number = _decimal(value)
    if name in DECIMAL_METRICS:
        return number
    if number != number.to_integral_value():
        raise ValueError(f"expected an integer, got {value!r}")
    return int(number)


class _YearMonthDay(BaseModel):
    year: int
    month: int
    day: int


class _DateRange(BaseModel):
    start: _YearMonthDay
    end: _YearMonthDay


class _AnalyticsElement(BaseModel):
    pivot_values: list[str] = Field(alias="pivotValues")
    date_range: _DateRange = Field(alias="dateRange")


class AnalyticsElement(NamedTuple):
    """One validated adAnalytics element of one request (field chunk), before chunks are merged."""

    pivot_values: tuple[str, ...]
    start: dt.date
    end: dt.date
    metrics: dict[str, MetricValue]


_WHOLE, _DECIMAL, _FLOAT = 0, 1, 2


@functools.lru_cache(maxsize=256)
def _metric_kinds(metrics: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    return tuple(
        (name, _DECIMAL if name in DECIMAL_METRICS else _FLOAT if name in FLOAT_METRICS else _WHOLE) for name in metrics
    )


def _day(value: Any) -> dt.date:
    """``{"year": 2026, "month": 1, "day": 31}`` -> a date; anything else raises (then the slow path names it)."""
    year, month, day = value["year"], value["month"], value["day"]
    if type(year) is not int or type(month) is not int or type(day) is not int:
        raise TypeError("not integers")
    return dt.date(year, month, day)


def parse_analytics_element(element: Mapping[str, Any], metrics: Sequence[str]) -> AnalyticsElement:
    """Validate one adAnalytics element; ``metrics`` are the names requested (absent ones become ``None``).

    A well-formed element (the rule, millions of them in a backfill) is read directly, at a few microseconds each;
    anything unexpected goes through the pydantic model and :func:`parse_metric`, whose errors name the element
    and the field. Both paths accept and produce the same values.
    """
    try:
        pivot_values = element["pivotValues"]
        date_range = element["dateRange"]
        start, end = _day(date_range["start"]), _day(date_range["end"])
        if type(pivot_values) is not list or not all(type(value) is str for value in pivot_values):
            raise TypeError("pivotValues")
        values: dict[str, MetricValue] = {}
        for name, kind in _metric_kinds(tuple(metrics)):
            value = element.get(name)
            if value is None or (kind == _WHOLE and type(value) is int):
                values[name] = value
            elif kind == _DECIMAL and type(value) is str:
                number = Decimal(value)
                if not number.is_finite():
                    raise ValueError(name)
                values[name] = number
            else:
                values[name] = parse_metric(name, value)
        return AnalyticsElement(tuple(pivot_values), start, end, values)
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError):
        return _parse_analytics_element(element, metrics)


def _parse_analytics_element(element: Mapping[str, Any], metrics: Sequence[str]) -> AnalyticsElement:
    try:
        parsed = _AnalyticsElement.model_validate(element)
        start, end = parsed.date_range.start, parsed.date_range.end
        dates = dt.date(start.year, start.month, start.day), dt.date(end.year, end.month, end.day)
    except ValidationError as exc:
        raise _payload_error("adAnalytics element", element.get("pivotValues"), exc) from None
    except ValueError as exc:
        raise LinkedInPayloadError(
            f"adAnalytics element {element.get('pivotValues')}: field 'dateRange': {exc}"
        ) from None
    values: dict[str, MetricValue] = {}
    for name in metrics:
        try:
            values[name] = parse_metric(name, element.get(name))
        except ValueError as exc:
            raise LinkedInPayloadError(f"adAnalytics element {parsed.pivot_values}: field {name!r}: {exc}") from None
    return AnalyticsElement(tuple(parsed.pivot_values), *dates, values)


# --- a chunk's elements and a window's merged rows, column by column ---------------------------------------------
#
# A backfill validates and merges millions of elements: per element, the work below is a handful of C-level steps
# (``itemgetter``, ``zip``, ``map``, ``set``) instead of a Python loop over its metrics and a dict and an object per
# row. The validation is the same as :func:`parse_analytics_element`'s: a chunk with anything unexpected in it is
# parsed element by element (:func:`parse_analytics_element`), whose errors name the element and the field.


@dataclass(frozen=True, slots=True, repr=False)
class _RowColumns:
    """Analytics rows column by column: row ``i`` is ``pivot_values[i]``, ``starts[i]``, ``ends[i]`` and
    ``metrics[name][i]`` for every metric (``None``: not returned)."""

    pivot_values: Sequence[tuple[str, ...]]
    starts: Sequence[dt.date]
    ends: Sequence[dt.date]
    metrics: dict[str, Sequence[MetricValue]]

    def __len__(self) -> int:
        return len(self.starts)


@dataclass(frozen=True, slots=True, repr=False)
class ElementColumns(_RowColumns):
    """The validated elements of one request (field chunk), in the response's order."""

    def __repr__(self) -> str:
        return f"ElementColumns({len(self)} elements, metrics {list(self.metrics)})"

    def __add__(self, other: object) -> ElementColumns:
        """The elements of two requests of the same metrics (the halves of a re-asked one), one after the other."""
        if not isinstance(other, ElementColumns):
            return NotImplemented
        return ElementColumns(
            [*self.pivot_values, *other.pivot_values],
            [*self.starts, *other.starts],
            [*self.ends, *other.ends],
            {name: [*values, *other.metrics[name]] for name, values in self.metrics.items()},
        )


_NONE = type(None)
_INT_OR_NONE = frozenset({int, _NONE})
_STR_OR_NONE = frozenset({str, _NONE})
_YEAR_MONTH_DAY = itemgetter("year", "month", "day")
_START, _END = itemgetter("start"), itemgetter("end")


class _Unexpected(Exception):
    """Something the column path does not take as is: the chunk is parsed element by element."""


def parse_analytics_elements(elements: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> ElementColumns:
    """Validate the elements of one response; the same values (and errors) as :func:`parse_analytics_element` on
    each element, as columns."""
    try:
        return _element_columns(elements, tuple(metrics))
    except (_Unexpected, KeyError, TypeError, ValueError, ArithmeticError, AttributeError):
        parsed = [parse_analytics_element(element, metrics) for element in elements]
        names = dict.fromkeys(metrics)
        return ElementColumns(
            [element.pivot_values for element in parsed],
            [element.start for element in parsed],
            [element.end for element in parsed],
            {name: [element.metrics[name] for element in parsed] for name in names},
        )


def _element_columns(elements: Sequence[Mapping[str, Any]], metrics: tuple[str, ...]) -> ElementColumns:
    kinds = _metric_kinds(metrics)
    if not elements:
        return ElementColumns([], [], [], {name: [] for name, _ in kinds})
    try:  # the rule: every element has every requested field
        # one tuple per element, all of one length: the transposition needs no strict check
        columns = list(zip(*map(itemgetter("pivotValues", "dateRange", *metrics), elements), strict=False))
        pivot_values, date_ranges = columns[0], columns[1]
        raw = dict(zip(metrics, columns[2:], strict=True))
    except KeyError:
        pivot_values, date_ranges = zip(*map(itemgetter("pivotValues", "dateRange"), elements), strict=False)
        raw = {name: [element.get(name) for element in elements] for name, _ in kinds}
    if set(map(type, pivot_values)) != {list} or not set(map(type, chain.from_iterable(pivot_values))) <= {str}:
        raise _Unexpected("pivotValues")
    start_keys = list(map(_YEAR_MONTH_DAY, map(_START, date_ranges)))
    end_keys = list(map(_YEAR_MONTH_DAY, map(_END, date_ranges)))
    if set(map(type, chain(chain.from_iterable(start_keys), chain.from_iterable(end_keys)))) != {int}:
        raise _Unexpected("dateRange")
    days = {key: dt.date(*key) for key in {*start_keys, *end_keys}}
    values: dict[str, Sequence[MetricValue]] = {}
    for name, kind in kinds:
        column = raw[name]
        types = set(map(type, column))
        if kind == _WHOLE and types <= _INT_OR_NONE:
            values[name] = column
        elif kind == _DECIMAL and types <= _STR_OR_NONE:
            numbers = list(map(Decimal, column)) if _NONE not in types else [_money(value) for value in column]
            if not all(map(Decimal.is_finite, [n for n in numbers if n is not None] if _NONE in types else numbers)):
                raise _Unexpected(name)
            values[name] = numbers
        else:  # JSON numbers of another kind, numeric strings, floats: one value at a time, as the element path
            values[name] = [
                value if value is None or (kind == _WHOLE and type(value) is int) else parse_metric(name, value)
                for value in column
            ]
    return ElementColumns(
        list(map(tuple, pivot_values)),
        list(map(days.__getitem__, start_keys)),
        list(map(days.__getitem__, end_keys)),
        values,
    )


def _money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


@dataclass(frozen=True, slots=True, repr=False)
class AnalyticsWindow(_RowColumns):
    """The merged rows of one window (one planned query without its metrics: ``pivot`` and ``facet_urns``), with
    every metric of the window's chunks (``None``: its chunk's response lacked the row, or the metric). Iterating
    gives the rows as :class:`AnalyticsRow` s (tests, small plans); the warehouse conversion reads the columns.
    """

    pivot: str | None
    facet_urns: tuple[str, ...]

    @property
    def account_id(self) -> int | None:
        """The ad account the window was asked for, when its facet is exactly one account."""
        return single_account(self.facet_urns)

    def __repr__(self) -> str:
        return f"AnalyticsWindow({self.pivot}, {','.join(self.facet_urns)}: {len(self)} rows x {len(self.metrics)} metrics)"

    def __iter__(self) -> Iterator[AnalyticsRow]:
        names = list(self.metrics)
        for pivot_values, start, end, *values in zip(
            self.pivot_values, self.starts, self.ends, *self.metrics.values(), strict=True
        ):
            yield AnalyticsRow(
                list(pivot_values), start, end, dict(zip(names, values, strict=True)), self.pivot, self.facet_urns
            )

    def first_pivot_values(self) -> list[str]:
        """``pivot_values[i][0]`` of every row (the pivot's URN or value)."""
        return list(map(itemgetter(0), self.pivot_values))

    def pivot_ids(self) -> list[int]:
        """The numeric ids at the end of the rows' first pivot values (:func:`urn_id`), parsed once per URN."""
        firsts = self.first_pivot_values()
        ids = {urn: urn_id(urn) for urn in set(firsts)}
        return list(map(ids.__getitem__, firsts))


def merge_chunks(
    chunks: Sequence[ElementColumns], names: Sequence[str], pivot: str | None, facet_urns: tuple[str, ...]
) -> AnalyticsWindow:
    """The chunks of one window merged into one row per (pivot values, start, end), ordered by (start, pivot
    values): a later chunk's value of a metric wins, a metric of a chunk whose response lacks the row is ``None``."""
    first = chunks[0] if chunks else ElementColumns([], [], [], {})
    rows = len(first)
    if (
        all(
            chunk.pivot_values == first.pivot_values and chunk.starts == first.starts and chunk.ends == first.ends
            for chunk in chunks[1:]
        )
        and len(set(zip(first.pivot_values, first.starts, first.ends, strict=True))) == rows
    ):
        # the rule: every chunk has the same rows in the same order, each once
        pivot_values, starts, ends = first.pivot_values, first.starts, first.ends
        columns: dict[str, Sequence[MetricValue]] = {}
        for chunk in chunks:
            columns.update(chunk.metrics)
        if len(columns) != len(names):
            columns = {name: columns.get(name, [None] * rows) for name in names}
    else:
        index: dict[tuple, int] = {}
        for chunk in chunks:
            for key in zip(chunk.pivot_values, chunk.starts, chunk.ends, strict=True):
                index.setdefault(key, len(index))
        rows = len(index)
        pivot_values, starts, ends = (list(part) for part in zip(*index, strict=True)) if index else ([], [], [])
        filled: dict[str, list[MetricValue]] = {name: [None] * rows for name in names}
        for chunk in chunks:
            positions = list(map(index.__getitem__, zip(chunk.pivot_values, chunk.starts, chunk.ends, strict=True)))
            for name, values in chunk.metrics.items():
                target = filled[name]
                for position, value in zip(positions, values, strict=True):
                    target[position] = value
        columns = dict(filled)
    order = _row_order(pivot_values, starts)
    if order is not None:
        take = itemgetter(*order)
        pivot_values, starts, ends = list(take(pivot_values)), list(take(starts)), list(take(ends))
        columns = {name: list(take(values)) for name, values in columns.items()}
    metrics = {name: columns[name] for name in names}
    return AnalyticsWindow(pivot_values, starts, ends, metrics, pivot=pivot, facet_urns=facet_urns)


def _row_order(pivot_values: Sequence[tuple[str, ...]], starts: Sequence[dt.date]) -> list[int] | None:
    """The rows' order by (start, pivot values), stable; ``None`` when they are in that order already."""
    rows = len(starts)
    if rows < 2:
        return None
    value_rank = {value: rank for rank, value in enumerate(sorted(set(pivot_values)))}
    day_rank = {day: rank for rank, day in enumerate(sorted(set(starts)))}
    key = np.fromiter(map(day_rank.__getitem__, starts), dtype=np.int64, count=rows) * len(value_rank)
    key += np.fromiter(map(value_rank.__getitem__, pivot_values), dtype=np.int64, count=rows)
    if (key[1:] >= key[:-1]).all():
        return None
    return np.argsort(key, kind="stable").tolist()


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_entity(model: type[ModelT], data: Any, entity: str, endpoint: str) -> ModelT:
    """Validate ``data`` as ``model``; failures raise :class:`LinkedInPayloadError` naming endpoint, entity, id and
    field (``adCampaigns: campaign 123: field 'runSchedule.start': ...``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        entity_id = data.get("id") if isinstance(data, Mapping) else None
        raise _payload_error(f"{endpoint}: {entity}", entity_id, exc) from None


def _payload_error(entity: str, entity_id: Any, exc: ValidationError) -> LinkedInPayloadError:
    problems = "; ".join(
        f"field '{'.'.join(str(part) for part in error['loc']) or '<root>'}': {error['msg']}"
        for error in exc.errors(include_url=False)
    )
    return LinkedInPayloadError(f"{entity} {entity_id if entity_id is not None else '<no id>'}: {problems}")


def single_account(facet_urns: Sequence[str]) -> int | None:
    """The account id of a request faceted on exactly one ad account, else None."""
    if len(facet_urns) == 1 and facet_urns[0].startswith("urn:li:sponsoredAccount:"):
        return int(facet_urns[0].rsplit(":", 1)[1])
    return None
