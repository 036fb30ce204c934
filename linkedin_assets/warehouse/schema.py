"""The warehouse tables: the one place that knows their columns, keys and kinds.

The IO manager creates and migrates tables from these specs, the snapshot reads them and the checks query them.
Every table also carries ``_synced_at`` and ``_dagster_run_id``; entity tables scoped to an account carry
``removed_at``. Those columns are set by the warehouse, never by a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from linkedin_assets.linkedin.catalogue import CATALOGUE, CONVERSION_METRICS, DAILY_METRICS, DEMOGRAPHIC_METRICS
from linkedin_assets.linkedin.fields import MEMBER_PIVOTS, snake_case

ColumnType = Literal["bigint", "text", "numeric", "double", "boolean", "date", "timestamptz", "json"]
TableKind = Literal["entity", "fact", "history"]
DateColumn = Literal["date", "month", "year"]

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
    return tuple(Column(CATALOGUE[m].column, CATALOGUE[m].column_type) for m in metrics)  # type: ignore[arg-type]


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


def metric_table_columns(
    name: str,
    keys: tuple[Column, ...],
    primary_key: tuple[str, ...],
    date_column: DateColumn,
    metrics: tuple[str, ...],
) -> TableSpec:
    """A fact table of adAnalytics rows: ``keys``, the metrics' columns, the system columns."""
    return TableSpec(
        name=name,
        columns=keys + _metric_columns(metrics) + _SYSTEM,
        primary_key=primary_key,
        kind="fact",
        date_column=date_column,
        metrics=metrics,
    )


def _fact(
    name: str, keys: str, primary_key: tuple[str, ...], date_column: DateColumn, metrics: tuple[str, ...]
) -> TableSpec:
    return metric_table_columns(name, _columns(keys), primary_key, date_column, metrics)


# -- declared metric tables ---------------------------------------------------------------------------------------
#
# A metric table is a declaration: finder, pivots, time granularity, metrics and facet level. The per-rule conversion
# tables below and users' custom reports (LINKEDIN_ASSETS_REPORTS_FILE) are instances; from a declaration follow its
# table (MetricTable.spec), its request plan and its Dagster asset (linkedin_assets.defs.assets.reports).
# Columns: one per pivot (campaign_id for CAMPAIGN, conversion_id for CONVERSION, the value as text for the others:
# member_seniority, impression_device_type), the time bucket's first day (date, month or year), account_id from the
# request's account facet (at campaign level, the campaign's account), then the metrics under their snake_case names.

Finder = Literal["analytics", "statistics"]
Granularity = Literal["DAILY", "MONTHLY", "YEARLY"]
Facet = Literal["account", "campaign"]

ID_PIVOTS: dict[str, str] = {
    "ACCOUNT": "account_id",
    "CAMPAIGN_GROUP": "campaign_group_id",
    "CAMPAIGN": "campaign_id",
    "CREATIVE": "creative_id",
    "CONVERSION": "conversion_id",
}
"""Pivots whose values are URNs of numbered things: stored as the number."""
VALUE_PIVOTS: tuple[str, ...] = (
    *MEMBER_PIVOTS,
    "IMPRESSION_DEVICE_TYPE",
    "PLACEMENT_NAME",
    "SERVING_LOCATION",
    "CARD_INDEX",
    "SHARE",
    "COMPANY",
)
"""Pivots whose values are stored as LinkedIn returns them (text)."""
PIVOTS: tuple[str, ...] = (*ID_PIVOTS, *VALUE_PIVOTS)
BUCKET_COLUMNS: dict[str, str] = {"DAILY": "date", "MONTHLY": "month", "YEARLY": "year"}


def pivot_column(pivot: str) -> str:
    return ID_PIVOTS.get(pivot) or pivot.lower()


@dataclass(frozen=True)
class MetricTable:
    """One adAnalytics-backed table, declared.

    ``finder``: ``analytics`` (one pivot) or ``statistics`` (one to three pivots, no ``MEMBER_*``).
    ``facet``: whom each request asks for: ``account`` (one request per account, field chunk and window: the lower
    bound) or ``campaign`` (per delivering campaign: for ``MEMBER_*`` pivots by campaign, which no account-level
    request can give).
    """

    name: str
    finder: Finder
    pivots: tuple[str, ...]
    granularity: Granularity
    metrics: tuple[str, ...]
    facet: Facet = "account"
    description: str = ""

    @property
    def pivot(self) -> str:
        """The ``pivot`` of the query: one pivot, or for ``statistics`` the pivots joined by commas."""
        return ",".join(self.pivots)

    @property
    def bucket_column(self) -> str:
        return BUCKET_COLUMNS[self.granularity]

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The pivots' columns, then the bucket's (the primary key); a campaign-level table adds ``campaign_id``."""
        columns = tuple(pivot_column(p) for p in self.pivots)
        if self.facet == "campaign" and "campaign_id" not in columns:
            columns = ("campaign_id", *columns)
        return (*columns, self.bucket_column)

    def spec(self) -> TableSpec:
        def type_of(column: str) -> ColumnType:
            return "bigint" if column.endswith("_id") else "text"

        keys = [Column(c, type_of(c)) for c in self.key_columns[:-1]]
        extra = [] if "account_id" in self.key_columns else [Column("account_id", "bigint")]
        return metric_table_columns(
            self.name,
            (*keys, Column(self.bucket_column, "date"), *extra),
            self.key_columns,
            self.bucket_column,
            tuple(m for m in self.metrics if m in CATALOGUE),
        )


_TIMES = "created_time:timestamptz last_modified_time:timestamptz"

CONVERSION_TABLES: tuple[MetricTable, ...] = (
    MetricTable(
        "campaign_conversion_daily_metrics",
        "statistics",
        ("CAMPAIGN", "CONVERSION"),
        "DAILY",
        CONVERSION_METRICS,
        description="Conversions per campaign, conversion rule and day (rules overlap: never summed into a total).",
    ),
    MetricTable(
        "creative_conversion_daily_metrics",
        "statistics",
        ("CREATIVE", "CONVERSION"),
        "DAILY",
        CONVERSION_METRICS,
        description="Conversions per creative, conversion rule and day (rules overlap: never summed into a total).",
    ),
)
"""The per-rule conversion tables: declared metric tables (``statistics`` with the ``CONVERSION`` pivot)."""

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
            "conversions",
            "id:bigint account_id:bigint name:text type:text attribution_type:text "
            "post_click_attribution_window_size:bigint view_through_attribution_window_size:bigint enabled:boolean "
            "conversion_method:text value_amount:numeric value_currency_code:text campaign_ids:json "
            f"{_TIMES}",
        ),
        *(table.spec() for table in CONVERSION_TABLES),
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


def register_table(table: MetricTable) -> TableSpec:
    """Add a declared metric table (a custom report) to :data:`TABLES`, so the warehouse creates, migrates and writes
    it like the built-in ones; the same declaration twice is a no-op, another table of the same name an error."""
    spec = table.spec()
    if TABLES.get(spec.name) not in (None, spec) or spec.name in {h.name for h in HISTORY.values()} | {WRITES.name}:
        raise ValueError(f"a warehouse table named {spec.name!r} exists already; choose another name")
    TABLES[spec.name] = spec
    return spec


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
