"""The Fivetran-compatible schema: views with Fivetran's LinkedIn Ads table names over the project's tables.

Teams that model LinkedIn Ads with Fivetran's dbt package (``fivetran/linkedin``) or their own SQL against Fivetran's
tables point it at this schema (``LINKEDIN_ASSETS_FIVETRAN_SCHEMA``) and keep their models. Views, not copies: every
write is visible through them in the same transaction, nothing is stored twice, nothing can drift.

What each view maps (the reference ``reporting-ecosystem.md`` §1 lists Fivetran's contract):

- ``*_history``: one row per entity version from the project's history tables, keyed as Fivetran keys them
  (``id``, ``last_modified_time``; creatives ``last_modified_at``). Versions that share that key (a change LinkedIn
  did not stamp) collapse to the latest seen, so the key is unique.
- ``ad_analytics_by_campaign`` / ``_by_creative``: the daily tables, ``date`` as the timestamp ``day``.
- ``monthly_ad_analytics_by_member_country`` / ``_region``: the campaign-level country and region rows of
  ``demographic_metrics``, ``month`` as ``'YYYY-MM'``, the geo URN's numeric id.
- ``geo``: the names of those geo ids.
- ``conversion_history`` and the conversion breakdowns: the conversion rules and per-rule daily metrics.

Every view has ``_fivetran_synced``: when the project last confirmed the row (the package's freshness column).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from linkedin_assets.warehouse.schema import HISTORY, SYNCED_AT, TABLES, metric_columns

Qualify = Callable[[str], str]
GEO_URN = "urn:li:geo:"


def _history_view(entity: str, modified: str, extra: Mapping[str, str] = {}) -> Callable[[Qualify], str]:
    """The versions of ``entity``, one per (id, ``modified``), with ``extra`` Fivetran columns (alias -> SQL)."""
    history = HISTORY[entity]

    def sql(qualified: Qualify) -> str:
        own = [f'"{c.name}"' for c in history.columns if c.name not in ("row_hash", "first_seen_run_id")]
        added = [f'{expression} AS "{alias}"' for alias, expression in extra.items()]
        return (
            f"SELECT {', '.join([*own, *added])}, last_seen_at AS _fivetran_synced FROM ("
            f'SELECT *, row_number() OVER (PARTITION BY id, "{modified}" ORDER BY first_seen_at DESC) AS _version '
            f"FROM {qualified(history.name)}) AS v WHERE _version = 1"
        )

    return sql


def _daily_view(table: str, key: str) -> Callable[[Qualify], str]:
    spec = TABLES[table]

    def sql(qualified: Qualify) -> str:
        metrics = ", ".join(f'"{c}"' for c in metric_columns(table))
        owned = ("conversion_id", "account_id", "campaign_id")
        owners = ", ".join(f'"{c}"' for c in owned if c in spec.column_names and c != key)
        return (
            f'SELECT "{key}", CAST("date" AS TIMESTAMP) AS "day", {owners}, {metrics}, '
            f'"{SYNCED_AT}" AS _fivetran_synced FROM {qualified(table)}'
        )

    return sql


def _monthly_geo_view(pivot: str, column: str) -> Callable[[Qualify], str]:
    def sql(qualified: Qualify) -> str:
        metrics = ", ".join(f'"{c}"' for c in metric_columns("demographic_metrics"))
        return (
            f'SELECT entity_id AS campaign_id, account_id, SUBSTR(CAST("month" AS VARCHAR), 1, 7) AS "month", '
            f"CAST(REPLACE(\"value\", '{GEO_URN}', '') AS BIGINT) AS \"{column}\", {metrics}, "
            f'"{SYNCED_AT}" AS _fivetran_synced FROM {qualified("demographic_metrics")} '
            f"WHERE \"level\" = 'campaign' AND \"pivot\" = '{pivot}' AND \"value\" LIKE '{GEO_URN}%'"
        )

    return sql


def _geo_view(qualified: Qualify) -> str:
    return (
        f"SELECT CAST(REPLACE(\"value\", '{GEO_URN}', '') AS BIGINT) AS id, name AS \"value\", "
        f'"{SYNCED_AT}" AS _fivetran_synced FROM {qualified("demographic_values")} '
        f"WHERE \"pivot\" IN ('MEMBER_COUNTRY_V2', 'MEMBER_REGION_V2') AND \"value\" LIKE '{GEO_URN}%'"
    )


VIEWS: dict[str, Callable[[Qualify], str]] = {
    "account_history": _history_view("accounts", "last_modified_time"),
    "campaign_group_history": _history_view("campaign_groups", "last_modified_time"),
    "campaign_history": _history_view("campaigns", "last_modified_time"),
    "creative_history": _history_view(
        "creatives",
        "last_modified_at",
        {
            "created_time": "created_at",
            "last_modified_time": "last_modified_at",
            "status": "intended_status",
            "click_uri": "COALESCE(text_ad_landing_page, spotlight_landing_page)",
        },
    ),
    "ad_analytics_by_campaign": _daily_view("campaign_daily_metrics", "campaign_id"),
    "ad_analytics_by_creative": _daily_view("creative_daily_metrics", "creative_id"),
    "monthly_ad_analytics_by_member_country": _monthly_geo_view("MEMBER_COUNTRY_V2", "member_country"),
    "monthly_ad_analytics_by_member_region": _monthly_geo_view("MEMBER_REGION_V2", "member_region"),
    "geo": _geo_view,
    "conversion_history": _history_view("conversions", "last_modified_time"),
    "ad_analytics_by_campaign_with_conversion_breakdown": _daily_view(
        "campaign_conversion_daily_metrics", "campaign_id"
    ),
    "ad_analytics_by_creative_with_conversion_breakdown": _daily_view(
        "creative_conversion_daily_metrics", "creative_id"
    ),
}
"""Fivetran's table name -> the SQL of its view, given a function that qualifies a project table name."""


def view_sql(qualified: Qualify) -> dict[str, str]:
    """Every view's ``SELECT``, reading the project's tables through ``qualified``."""
    return {name: build(qualified) for name, build in VIEWS.items()}


def views_version(sql: Mapping[str, str]) -> str:
    """A fingerprint of the view definitions: the warehouse recreates the views only when it changes."""
    return hashlib.md5("\n".join(f"{name}:{text}" for name, text in sorted(sql.items())).encode()).hexdigest()
