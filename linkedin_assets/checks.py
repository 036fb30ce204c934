"""Asset checks that run with the materializations.

The integrity checks are blocking: a failure stops the steps downstream in the same run, and the snapshot (in the
monthly run) refuses to publish while any of them fails, because it calls the same queries.
"""

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from linkedin_assets.assets.demographics import demographic_metrics
from linkedin_assets.assets.metrics import campaign_daily_metrics, creative_daily_metrics
from linkedin_assets.io_managers.warehouse import WarehouseResource
from linkedin_assets.linkedin.fields import MEMBER_PIVOTS
from linkedin_assets.resources import SyncSettings
from linkedin_assets.warehouse import Warehouse

SPEND_NOISE = "0.000001"
"""LinkedIn reports zero-cost days as tiny negatives such as ``-2E-18``; anything below minus this is real."""
FRESHNESS_HOUR = int(os.environ.get("LINKEDIN_ASSETS_FRESHNESS_HOUR", "9"))
"""By this UTC hour, yesterday's metric partitions must be materialized."""
SAMPLE = 5


@dataclass(frozen=True)
class Finding:
    """What an integrity query found: how many rows break the rule and a few of them."""

    count: int
    sample: list[dict]

    @property
    def passed(self) -> bool:
        return self.count == 0


def _violations(wh: Warehouse, sql: str) -> Finding:
    frame = wh.query(sql)
    return Finding(len(frame), frame.head(SAMPLE).astype(str).to_dict("records"))


def clicks_over_impressions(wh: Warehouse, table: str) -> Finding:
    key = "campaign_id" if table == "campaign_daily_metrics" else "creative_id"
    return _violations(
        wh, f"SELECT {key}, date, clicks, impressions FROM {wh.qualified(table)} WHERE clicks > impressions"
    )


def negative_spend(wh: Warehouse, table: str) -> Finding:
    key = "campaign_id" if table == "campaign_daily_metrics" else "creative_id"
    return _violations(
        wh,
        f"SELECT {key}, date, cost_in_local_currency, cost_in_usd FROM {wh.qualified(table)} "
        f"WHERE cost_in_local_currency < -{SPEND_NOISE} OR cost_in_usd < -{SPEND_NOISE}",
    )


def orphan_rows(wh: Warehouse, table: str) -> Finding:
    key, parent = ("campaign_id", "campaigns") if table == "campaign_daily_metrics" else ("creative_id", "creatives")
    return _violations(
        wh,
        f"SELECT DISTINCT m.{key} FROM {wh.qualified(table)} m LEFT JOIN {wh.qualified(parent)} p ON p.id = m.{key} "
        "WHERE p.id IS NULL",
    )


def creatives_exceed_campaign(wh: Warehouse) -> Finding:
    return _violations(
        wh,
        f"""SELECT c.campaign_id, c.date, c.impressions AS campaign_impressions, s.impressions AS creative_impressions,
                   c.clicks AS campaign_clicks, s.clicks AS creative_clicks
            FROM (SELECT campaign_id, date, SUM(impressions) AS impressions, SUM(clicks) AS clicks,
                         SUM(cost_in_local_currency) AS cost
                  FROM {wh.qualified("creative_daily_metrics")} GROUP BY campaign_id, date) s
            JOIN {wh.qualified("campaign_daily_metrics")} c ON c.campaign_id = s.campaign_id AND c.date = s.date
            WHERE s.impressions > c.impressions OR s.clicks > c.clicks
               OR s.cost > c.cost_in_local_currency + {SPEND_NOISE}""",
    )


INTEGRITY: dict[str, Callable[[Warehouse], Finding]] = {
    "campaign_daily_metrics clicks <= impressions": lambda wh: clicks_over_impressions(wh, "campaign_daily_metrics"),
    "campaign_daily_metrics no negative spend": lambda wh: negative_spend(wh, "campaign_daily_metrics"),
    "campaign_daily_metrics rows of known campaigns": lambda wh: orphan_rows(wh, "campaign_daily_metrics"),
    "creative_daily_metrics clicks <= impressions": lambda wh: clicks_over_impressions(wh, "creative_daily_metrics"),
    "creative_daily_metrics no negative spend": lambda wh: negative_spend(wh, "creative_daily_metrics"),
    "creative_daily_metrics rows of known creatives": lambda wh: orphan_rows(wh, "creative_daily_metrics"),
    "creative totals within campaign totals": creatives_exceed_campaign,
}
"""Every integrity rule; the snapshot publishes only when all pass."""


def integrity_failures(wh: Warehouse) -> dict[str, Finding]:
    """The integrity rules the warehouse currently breaks."""
    return {name: finding for name, rule in INTEGRITY.items() if not (finding := rule(wh)).passed}


def _result(finding: Finding, what: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=finding.passed,
        metadata={"violations": finding.count, "sample": dg.MetadataValue.json(finding.sample), "rule": what},
    )


def _metric_checks(asset: dg.AssetsDefinition, table: str) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(asset=asset, name="clicks_within_impressions", blocking=True)
    def clicks_within_impressions(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """No day reports more clicks than impressions."""
        with warehouse.open() as wh:
            return _result(clicks_over_impressions(wh, table), "clicks <= impressions")

    @dg.asset_check(asset=asset, name="no_negative_spend", blocking=True)
    def no_negative_spend(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """No negative cost beyond LinkedIn's rounding noise (such as -2E-18)."""
        with warehouse.open() as wh:
            return _result(negative_spend(wh, table), f"cost >= -{SPEND_NOISE}")

    @dg.asset_check(asset=asset, name="rows_of_known_entities", blocking=True)
    def rows_of_known_entities(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """Every metric row belongs to a campaign or creative in the entity tables."""
        with warehouse.open() as wh:
            return _result(orphan_rows(wh, table), "metric rows reference known entities")

    @dg.asset_check(asset=asset, name="yesterday_present", blocking=False)
    def yesterday_present(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        """Yesterday's partition is materialized by ``LINKEDIN_ASSETS_FRESHNESS_HOUR`` (UTC, default 9)."""
        return freshness_result(context.instance, asset.key, dt.datetime.now(dt.UTC))

    return [clicks_within_impressions, no_negative_spend, rows_of_known_entities, yesterday_present]


def freshness_result(instance: dg.DagsterInstance, key: dg.AssetKey, now: dt.datetime) -> dg.AssetCheckResult:
    """Passes before the deadline hour, and after it only when yesterday's partition is materialized (both UTC)."""
    now = now.astimezone(dt.UTC)
    yesterday = (now - dt.timedelta(days=1)).date().isoformat()
    present = yesterday in instance.get_materialized_partitions(key)
    due = now.hour >= FRESHNESS_HOUR
    return dg.AssetCheckResult(
        passed=present or not due,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"yesterday": yesterday, "present": present, "deadline_hour_utc": FRESHNESS_HOUR},
    )


@dg.asset_check(asset=creative_daily_metrics, blocking=True)
def creative_totals_within_campaign(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Per campaign and day, the creatives' impressions, clicks and cost never exceed the campaign's."""
    with warehouse.open() as wh:
        return _result(creatives_exceed_campaign(wh), "sum(creatives) <= campaign per day")


MIN_COVERAGE = 0.5


@dg.asset_check(asset=demographic_metrics, blocking=False)
def demographic_coverage(warehouse: WarehouseResource, settings: SyncSettings) -> dg.AssetCheckResult:
    """Every (account, month) with delivery has account-level rows for every MEMBER_* pivot, and they cover at least
    half of the delivered impressions (LinkedIn drops values with fewer than three events).

    Campaign-level demographics are not checked: their rows carry no account to compare with."""
    if settings.demographics_level != "account":
        return dg.AssetCheckResult(passed=True, metadata={"account_months": 0, "level": settings.demographics_level})
    with warehouse.open() as wh:
        frame = wh.query(
            f"""SELECT c.account_id, c.month, c.impressions, COUNT(DISTINCT d.pivot) AS pivots,
                       COALESCE(SUM(d.impressions), 0) AS demographic_impressions
                FROM (SELECT account_id, CAST(date_trunc('month', date) AS DATE) AS month, SUM(impressions) AS impressions
                      FROM {wh.qualified("campaign_daily_metrics")} GROUP BY 1, 2 HAVING SUM(impressions) > 0) c
                LEFT JOIN {wh.qualified("demographic_metrics")} d
                  ON d.account_id = c.account_id AND d.month = c.month AND d.level = 'account'
                GROUP BY c.account_id, c.month, c.impressions"""
        )
    if frame.empty:
        return dg.AssetCheckResult(passed=True, metadata={"account_months": 0})
    pivots = frame["pivots"].astype(int)
    coverage = (
        frame["demographic_impressions"].astype(float) / pivots.clip(lower=1) / frame["impressions"].astype(float)
    )
    low = frame[(pivots < len(MEMBER_PIVOTS)) | (coverage < MIN_COVERAGE)]
    return dg.AssetCheckResult(
        passed=low.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "account_months": len(frame),
            "min_coverage": float(coverage.min()),
            "low": dg.MetadataValue.json(low.head(SAMPLE).astype(str).to_dict("records")),
        },
    )


asset_checks = [
    *_metric_checks(campaign_daily_metrics, "campaign_daily_metrics"),
    *_metric_checks(creative_daily_metrics, "creative_daily_metrics"),
    creative_totals_within_campaign,
    demographic_coverage,
]
