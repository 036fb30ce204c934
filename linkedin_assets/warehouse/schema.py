"""The warehouse tables: the one place that knows their columns, keys and kinds.

The IO manager creates and migrates tables from these specs, the snapshot reads them and the checks query them.
Every table also carries ``_synced_at`` and ``_dagster_run_id``; entity tables scoped to an account carry
``removed_at``. Those columns are set by the warehouse, never by a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from linkedin_assets.linkedin.catalogue import DAILY_METRICS, DECIMAL_METRICS, DEMOGRAPHIC_METRICS, FLOAT_METRICS
from linkedin_assets.linkedin.fields import snake_case

ColumnType = Literal["bigint", "text", "numeric", "double", "boolean", "date", "timestamptz", "json"]
TableKind = Literal["entity", "fact", "history"]
DateColumn = Literal["date", "month"]

SYNCED_AT = "_synced_at"
RUN_ID = "_dagster_run_id"
REMOVED_AT = "removed_at"


@dataclass(frozen=True)
class Column:
    """A column and its portable type (each backend maps it to its own SQL type)."""

    name: str
    type: ColumnType


@dataclass(frozen=True)
class TableSpec:
    """A warehouse table.

    ``kind="entity"``: rows of in-scope accounts missing from a batch get ``removed_at``; never deleted.
    ``kind="fact"``: a batch replaces the rows of its accounts inside its date range.
    ``scope_column`` names the account id column (``None``: the table is not scoped, it is only upserted).
    ``metrics`` are the adAnalytics metric names behind the metric columns, in column order.
    ``history``: every version of the entity is kept in ``<name>_history`` too (:data:`HISTORY`), by the same write.
    ``kind="history"``: such a history table, written only by the write of its entity table.
    """

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    kind: TableKind
    scope_column: str | None = "account_id"
    date_column: DateColumn | None = None
    metrics: tuple[str, ...] = ()
    history: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def managed_columns(self) -> frozenset[str]:
        """Columns the warehouse sets itself; a batch must not carry them."""
        return frozenset(name for name in (SYNCED_AT, RUN_ID, REMOVED_AT) if name in self.column_names)

    @property
    def tracks_removal(self) -> bool:
        return REMOVED_AT in self.column_names

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name!r} has no column {name!r}")


def _columns(spec: str) -> tuple[Column, ...]:
    """``"id:bigint name:text"`` -> columns; keeps the table definitions below readable."""
    return tuple(Column(name, type_) for name, type_ in (item.split(":") for item in spec.split()))  # type: ignore[arg-type]


def _metric_columns(metrics: tuple[str, ...]) -> tuple[Column, ...]:
    def type_of(metric: str) -> ColumnType:
        if metric in DECIMAL_METRICS:
            return "numeric"
        if metric in FLOAT_METRICS:
            return "double"
        return "bigint"

    return tuple(Column(snake_case(metric), type_of(metric)) for metric in metrics)


_SYSTEM = _columns(f"{SYNCED_AT}:timestamptz {RUN_ID}:text")
_REMOVED = _columns(f"{REMOVED_AT}:timestamptz")


def _entity(name: str, columns: str, *, scope_column: str | None = "account_id", history: bool = True) -> TableSpec:
    own = _columns(columns)
    return TableSpec(
        name=name,
        columns=own + (_REMOVED if scope_column else ()) + _SYSTEM,
        primary_key=(own[0].name,),
        kind="entity",
        scope_column=scope_column,
        history=history,
    )


def _fact(
    name: str, keys: str, primary_key: tuple[str, ...], date_column: DateColumn, metrics: tuple[str, ...]
) -> TableSpec:
    return TableSpec(
        name=name,
        columns=_columns(keys) + _metric_columns(metrics) + _SYSTEM,
        primary_key=primary_key,
        kind="fact",
        date_column=date_column,
        metrics=metrics,
    )


_TIMES = "created_time:timestamptz last_modified_time:timestamptz"

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        _entity(
            "accounts",
            "id:bigint name:text currency:text status:text type:text reference:text test:boolean "
            f"serving_statuses:json version_tag:text {_TIMES}",
            scope_column="id",
        ),
        _entity(
            "campaign_groups",
            "id:bigint account_id:bigint name:text status:text test:boolean backfilled:boolean "
            "run_schedule_start:timestamptz run_schedule_end:timestamptz total_budget_amount:numeric "
            f"total_budget_currency_code:text serving_statuses:json {_TIMES}",
        ),
        _entity(
            "campaigns",
            "id:bigint account_id:bigint campaign_group_id:bigint name:text status:text type:text cost_type:text "
            "objective_type:text optimization_target_type:text format:text creative_selection:text "
            "pacing_strategy:text daily_budget_amount:numeric daily_budget_currency_code:text "
            "unit_cost_amount:numeric unit_cost_currency_code:text total_budget_amount:numeric "
            "total_budget_currency_code:text run_schedule_start:timestamptz run_schedule_end:timestamptz "
            "locale_country:text locale_language:text audience_expansion_enabled:boolean "
            "offsite_delivery_enabled:boolean test:boolean serving_statuses:json version_tag:text "
            f"{_TIMES} targeting_criteria:json",
        ),
        _entity(
            "creatives",
            "id:bigint urn:text account_id:bigint campaign_id:bigint name:text name_source:text "
            "intended_status:text is_serving:boolean is_test:boolean review_status:text content_reference:text "
            "content_type:text text_ad_headline:text serving_hold_reasons:json created_at:timestamptz "
            "last_modified_at:timestamptz text_ad_landing_page:text spotlight_landing_page:text",
        ),
        _fact(
            "campaign_daily_metrics",
            "campaign_id:bigint date:date account_id:bigint",
            ("campaign_id", "date"),
            "date",
            DAILY_METRICS,
        ),
        _fact(
            "creative_daily_metrics",
            "creative_id:bigint date:date account_id:bigint campaign_id:bigint",
            ("creative_id", "date"),
            "date",
            DAILY_METRICS,
        ),
        _fact(
            "demographic_metrics",
            "level:text entity_id:bigint account_id:bigint pivot:text value:text month:date",
            ("level", "entity_id", "pivot", "value", "month"),
            "month",
            DEMOGRAPHIC_METRICS,
        ),
        _entity(
            "demographic_values",
            "value:text pivot:text name:text facet_urn:text resolved:boolean",
            scope_column=None,
            history=False,
        ),
    )
}
"""Every warehouse table by name."""


VERSION_COLUMNS = _columns(
    "row_hash:text first_seen_at:timestamptz last_seen_at:timestamptz first_seen_run_id:text last_seen_run_id:text"
)
"""What a history table adds to its entity's columns: the version's hash of those columns, and when and by which run
it was first and last seen."""


def history_spec(entity: TableSpec) -> TableSpec:
    """``<entity>_history``: one row per version of each entity (every column the sync writes, plus
    :data:`VERSION_COLUMNS`), keyed by the entity id and when the version was first seen."""
    tracked = tuple(c for c in entity.columns if c.name not in entity.managed_columns)
    return TableSpec(
        name=f"{entity.name}_history",
        columns=tracked + VERSION_COLUMNS,
        primary_key=(entity.primary_key[0], "first_seen_at"),
        kind="history",
        scope_column=entity.scope_column,
    )


HISTORY: dict[str, TableSpec] = {name: history_spec(spec) for name, spec in TABLES.items() if spec.history}
"""The history table of each entity table that keeps one, by the entity table's name."""

WRITES = TableSpec(
    name="_writes",
    columns=_columns(
        "run_id:text step_key:text table_name:text account_ids:json date_start:date date_end:date rows:bigint "
        "inserted:bigint updated:bigint removed_or_deleted:bigint frames:bigint seconds:double figures:json "
        "written_at:timestamptz failures:json"
    ),
    primary_key=("run_id", "step_key", "table_name"),
    kind="entity",
    scope_column=None,
)
"""The record of every write (``linkedin_assets.warehouse.records``): one row per run, step and table, inserted in
the write's own transaction. Not an asset: the warehouse keeps it for whoever asks what a run wrote. ``failures``:
the accounts the write left out because LinkedIn refused them (``Warehouse.write``'s ``failures``)."""


def table_spec(table: str) -> TableSpec:
    """The spec of ``table``; a clear error for an unknown name."""
    if table in TABLES:
        return TABLES[table]
    for spec in HISTORY.values():
        if spec.name == table:
            return spec
    known = sorted([*TABLES, *(spec.name for spec in HISTORY.values())])
    raise KeyError(f"unknown warehouse table {table!r}; known: {', '.join(known)}")


def metric_columns(table: str) -> list[str]:
    """The metric column names of a fact table, in column order (empty for entity tables)."""
    return [snake_case(metric) for metric in table_spec(table).metrics]
