"""The two sync jobs and the reports. A sync is the daily job, then (started by sensors when it succeeds) the monthly
one and the reports.

Dagster runs assets of one partitioning per run, so the daily-partitioned metrics and the monthly demographics
cannot share a run; both jobs carry the sync tag, which the instance limits to one run at a time.
"""

from __future__ import annotations

import dagster as dg

from linkedin_assets.defs.assets.dbt_models import GROUP as REPORTS_GROUP
from linkedin_assets.defs.assets.demographics import demographic_metrics, demographic_values
from linkedin_assets.defs.assets.entities import accounts, campaign_groups, campaigns, conversions, creatives
from linkedin_assets.defs.assets.metrics import campaign_daily_metrics, creative_daily_metrics
from linkedin_assets.defs.assets.reports import DAILY_REPORTS, MONTHLY_REPORTS
from linkedin_assets.defs.assets.snapshot import snapshot
from linkedin_assets.settings import SYNC_TAG

SYNC_TAGS = {SYNC_TAG: "true"}

daily_sync_job = dg.define_asset_job(
    "linkedin_daily_sync",
    selection=dg.AssetSelection.assets(
        accounts, campaign_groups, campaigns, creatives, conversions, campaign_daily_metrics, creative_daily_metrics
    )
    | dg.AssetSelection.groups(DAILY_REPORTS),
    tags=SYNC_TAGS,
    description="Entities and the daily metrics of a day range (plus the lookback): campaigns, creatives, per "
    "conversion rule, and the daily custom reports.",
)

monthly_sync_job = dg.define_asset_job(
    "linkedin_monthly_sync",
    selection=dg.AssetSelection.assets(demographic_metrics, demographic_values, snapshot)
    | dg.AssetSelection.groups(MONTHLY_REPORTS),
    tags=SYNC_TAGS,
    description="Demographics of a month range, the names of their values, and the JSON snapshot.",
)

reports_job = dg.define_asset_job(
    "linkedin_reports",
    selection=dg.AssetSelection.groups(REPORTS_GROUP),
    # The sync tag: one run at a time with the syncs (the reports read what they write; DuckDB takes one writer).
    tags=SYNC_TAGS,
    description="Fivetran's dbt package fivetran/linkedin over the warehouse: its reports, dbt tests and the "
    "project's report checks.",
)
