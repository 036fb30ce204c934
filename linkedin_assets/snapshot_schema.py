"""The JSON snapshot: one nested document (accounts -> campaigns -> creatives, with daily metrics and
demographics) for a rolling window, as Pydantic models. ``docs/snapshot.schema.json`` is its published JSON Schema.

Money is serialised as a decimal string (exact), dates as ISO dates, and no token or secret is ever part of it.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from linkedin_assets.linkedin.fields import (
    DECIMAL_METRICS,
    DEFAULT_METRICS,
    DEMOGRAPHIC_METRICS,
    FLOAT_METRICS,
    snake_case,
)

SCHEMA_VERSION = "1.0"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "docs" / "snapshot.schema.json"


def _metric_fields(metrics: tuple[str, ...]) -> dict[str, Any]:
    def kind(m: str) -> type:
        return Decimal if m in DECIMAL_METRICS else float if m in FLOAT_METRICS else int

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


class Snapshot(_Strict):
    """The whole document written to ``data/snapshots/<UTC timestamp>.json`` and ``latest.json``."""

    schema_version: str = Field(default=SCHEMA_VERSION, description="Bumped on any incompatible change.")
    generated_at: dt.datetime
    dagster_run_id: str | None
    window: SnapshotWindow
    accounts: list[AccountSnapshot]


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
