"""Every setting the project takes from the environment, read in this one module.

Nothing here runs when a module is imported: ``load_settings()`` reads the environment when it is called, which is
when the code location loads (``linkedin_assets.definitions``), when a command runs, or in a test. Resources then
carry the values as fields, secrets and URLs as ``dg.EnvVar`` so the launchpad shows the variable, never the value.

Paths default to ``data/...`` relative to the working directory (``make dev``/``make demo`` run from the repo root),
never to the package's location: installed from a wheel, the package lives in ``site-packages``. The Dagster
instance itself (run history, schedules, compute logs) lives in ``$DAGSTER_HOME``, which Dagster decides.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SYNC_TAG = "linkedin_assets/sync"
"""Run tag of both sync jobs; ``dagster.yaml`` (``tag_concurrency_limits``) lets one run with it proceed at a time."""
LINKEDIN_POOL = "linkedin_api"
"""Concurrency pool of the assets that call the LinkedIn API (run granularity, limit 1, set by ``make dev``)."""

Executor = Literal["in_process", "multiprocess", "celery"]
EXECUTORS: tuple[str, ...] = ("in_process", "multiprocess", "celery")
DEMOGRAPHICS_LEVELS: tuple[str, ...] = ("account", "campaign")

# The environment variables, by setting. LINKEDIN_* variables of the client (URLs, credentials, API version, account
# ids, LINKEDIN_MAX_CONCURRENCY) are read here too, by ``linkedin_env``.
ENV = {
    "data_dir": "LINKEDIN_ASSETS_DATA_DIR",
    "database_url": "LINKEDIN_ASSETS_DATABASE_URL",
    "schema_name": "LINKEDIN_ASSETS_SCHEMA",
    "duckdb_path": "LINKEDIN_ASSETS_DUCKDB_PATH",
    "snapshot_dir": "LINKEDIN_ASSETS_SNAPSHOT_DIR",
    "token_store_path": "LINKEDIN_TOKEN_STORE",
    "start_date": "LINKEDIN_ASSETS_START_DATE",
    "lookback_days": "LINKEDIN_ASSETS_LOOKBACK_DAYS",
    "snapshot_days": "LINKEDIN_ASSETS_SNAPSHOT_DAYS",
    "freshness_hour": "LINKEDIN_ASSETS_FRESHNESS_HOUR",
    "demographics_level": "LINKEDIN_ASSETS_DEMOGRAPHICS_LEVEL",
    "schedule_cron": "LINKEDIN_ASSETS_SCHEDULE_CRON",
    "executor": "LINKEDIN_ASSETS_EXECUTOR",
    "celery_broker_url": "CELERY_BROKER_URL",
    "celery_backend_url": "CELERY_BACKEND_URL",
    "redis_url": "LINKEDIN_ASSETS_REDIS_URL",
    "accounts_per_step": "LINKEDIN_ASSETS_ACCOUNTS_PER_STEP",
    "requests_per_second": "LINKEDIN_REQUESTS_PER_SECOND",
}


class SettingsError(ValueError):
    """An environment variable holds a value the project cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """The project's settings; defaults are what an unset variable means."""

    data_dir: str = "data"
    """Base of the default state paths below (relative to the working directory)."""
    database_url: str | None = None
    """PostgreSQL warehouse URL; ``None`` = the embedded DuckDB file. A secret: resources get it as an ``EnvVar``."""
    schema_name: str = "linkedin_ads"
    duckdb_path: str | None = None
    snapshot_dir: str | None = None
    token_store_path: str | None = None
    start_date: str = "2025-01-01"
    lookback_days: int = 30
    snapshot_days: int = 90
    freshness_hour: int = 9
    """UTC hour by which yesterday's metric partitions must be materialized (the ``yesterday_present`` check)."""
    demographics_level: str = "account"
    schedule_cron: str = "0 6 * * *"
    executor: str = "in_process"
    celery_broker_url: str = "pyamqp://guest@127.0.0.1//"
    celery_backend_url: str = "redis://127.0.0.1:6379/0"
    redis_url: str | None = None
    """Shared LinkedIn request budget in Redis (several workers); ``None`` = a budget inside each step's process."""
    accounts_per_step: int = 0
    """Accounts per metric step (0 = all accounts in one step)."""
    requests_per_second: float | None = None
    """Cap on LinkedIn requests per second across the budget; ``None`` = no cap beyond the concurrency limit."""

    # Absolute from the working directory at load time, so every process of a run (and the UI) sees one path.
    @property
    def warehouse_file(self) -> str:
        return os.path.abspath(self.duckdb_path or Path(self.data_dir) / "warehouse.duckdb")

    @property
    def snapshots(self) -> str:
        return os.path.abspath(self.snapshot_dir or Path(self.data_dir) / "snapshots")

    @property
    def token_store(self) -> str:
        return os.path.abspath(self.token_store_path or Path(self.data_dir) / "linkedin_tokens.json")


def environ() -> Mapping[str, str]:
    """The process environment (the one read of ``os.environ`` the project makes)."""
    return os.environ


def linkedin_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``LINKEDIN_*`` variables (the client's configuration), non-empty ones only."""
    env = environ() if env is None else env
    return {name: value for name, value in env.items() if name.startswith("LINKEDIN_") and value.strip()}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from ``env`` (default: the process environment); bad values raise ``SettingsError``."""
    env = environ() if env is None else env
    raw = {key: env[name].strip() for key, name in ENV.items() if env.get(name, "").strip()}
    values: dict[str, object] = {}
    for field in dataclasses.fields(Settings):
        if field.name not in raw:
            continue
        text = raw[field.name]
        name = ENV[field.name]
        if field.name in ("lookback_days", "snapshot_days", "accounts_per_step"):
            values[field.name] = _whole(name, text, minimum=1 if field.name == "snapshot_days" else 0)
        elif field.name == "freshness_hour":
            values[field.name] = _whole(name, text, minimum=0)
            if values[field.name] > 23:
                raise SettingsError(f"{name}={text!r} is not an hour of the day (0 to 23)")
        elif field.name == "requests_per_second":
            values[field.name] = _positive(name, text)
        else:
            values[field.name] = text
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.executor not in EXECUTORS:
        raise SettingsError(f"{ENV['executor']}={settings.executor!r} is not one of {', '.join(EXECUTORS)}")
    if settings.demographics_level not in DEMOGRAPHICS_LEVELS:
        raise SettingsError(
            f"{ENV['demographics_level']}={settings.demographics_level!r} is not one of {', '.join(DEMOGRAPHICS_LEVELS)}"
        )
    try:
        dt.date.fromisoformat(settings.start_date)
    except ValueError:
        raise SettingsError(
            f"{ENV['start_date']}={settings.start_date!r} is not a date (expected YYYY-MM-DD)"
        ) from None
    return settings


def _whole(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}={text!r} must be at least {minimum}")
    return value


def _positive(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a number") from None
    if not value > 0:
        raise SettingsError(f"{name}={text!r} must be greater than 0")
    return value
