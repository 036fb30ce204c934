"""Every setting of the project, declared once: its variable, default, bound and help text.

``load_settings()`` reads the environment when it is called, never at import: when the code location loads
(``linkedin_assets.definitions``), when a command starts, or in a test with a mapping of its own. Everything else is
handed a ``Settings`` object: resources get their fields from it, the CLI passes it down. Secrets are ``SecretStr``
(never in a repr or an error text) and reach Dagster's resources as ``dg.EnvVar`` when they came from the
environment, so the launchpad shows the variable, never the value.

Client settings left unset (``None``) mean the client's own default (``linkedin.client.ClientConfig``), declared
there once. Paths default to ``data/...`` relative to the working directory (``make dev``/``make demo`` run from the
repo root), never to the package's location: installed from a wheel, the package lives in ``site-packages``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator

from linkedin_assets.linkedin.catalogue import DAILY_METRICS, resolve_metric
from linkedin_assets.linkedin.client import parse_account_ids
from linkedin_assets.linkedin.errors import LinkedInConfigError
from linkedin_assets.linkedin.fields import MEMBER_PIVOTS
from linkedin_assets.warehouse import (
    DEFAULT_DUCKDB_PATH,
    DEFAULT_FIVETRAN_SCHEMA,
    DEFAULT_SCHEMA,
    fivetran_schema_of,
    reports_schema_of,
)

SYNC_TAG = "linkedin_assets/sync"
"""Run tag of both sync jobs; ``dagster.yaml`` (``tag_concurrency_limits``) lets one run with it proceed at a time."""
LINKEDIN_POOL = "linkedin_api"
"""Concurrency pool of the assets that call the LinkedIn API (run granularity, limit 1, set by ``make dev``)."""


class SettingsError(ValueError):
    """An environment variable holds a value the project cannot use; the message names the variable."""


def _setting(default: Any, variable: str, help_text: str, **bounds: Any) -> Any:
    return Field(default, validation_alias=variable, description=help_text, **bounds)


class Settings(BaseModel):
    """The project's settings; a default is what an unset (or empty) variable means."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid", str_strip_whitespace=True)

    # -- where things are
    data_dir: str = _setting("data", "LINKEDIN_ASSETS_DATA_DIR", "Base of the default paths below.")
    database_url: SecretStr | None = _setting(
        None, "LINKEDIN_ASSETS_DATABASE_URL", "PostgreSQL warehouse URL; unset: the embedded DuckDB file."
    )
    schema_name: str = _setting(DEFAULT_SCHEMA, "LINKEDIN_ASSETS_SCHEMA", "Warehouse schema of the tables.")
    fivetran_schema_name: str | None = _setting(
        None,
        "LINKEDIN_ASSETS_FIVETRAN_SCHEMA",
        "Schema of the Fivetran-compatible views (README: Fivetran-compatible tables); unset: "
        f"<schema>_fivetran ({DEFAULT_FIVETRAN_SCHEMA}).",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
    )
    reports_schema_name: str | None = _setting(
        None,
        "LINKEDIN_ASSETS_REPORTS_SCHEMA",
        "Schema of the fivetran/linkedin reports (their staging models: <schema>_staging); unset: <schema>_reports.",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
    )
    dbt_project_dir: str | None = _setting(
        None,
        "LINKEDIN_ASSETS_DBT_PROJECT_DIR",
        "The dbt project of the reports; unset: linkedin_assets/dbt_project (installed from a wheel: <data dir>/dbt).",
    )
    dbt_packages_dir: str | None = _setting(
        None,
        "LINKEDIN_ASSETS_DBT_PACKAGES_DIR",
        "Folder holding the dbt packages linkedin/, fivetran_utils/ and dbt_utils/ (offline installs); unset: the "
        "packages installed before, else fivetran/linkedin from hub.getdbt.com.",
    )
    duckdb_path: str | None = _setting(
        None,
        "LINKEDIN_ASSETS_DUCKDB_PATH",
        f"Embedded warehouse file; unset: <data dir>/{Path(DEFAULT_DUCKDB_PATH).name}.",
    )
    snapshot_dir: str | None = _setting(
        None, "LINKEDIN_ASSETS_SNAPSHOT_DIR", "JSON snapshots and latest.json; unset: <data dir>/snapshots."
    )
    token_store_path: str | None = _setting(
        None, "LINKEDIN_TOKEN_STORE", "Refreshed OAuth tokens (mode 0600); unset: <data dir>/linkedin_tokens.json."
    )
    dagster_home: str = _setting(
        "data/dagster", "DAGSTER_HOME", "The Dagster instance (run history, dagster.yaml) the CLI uses."
    )
    # -- what a sync covers
    start_date: dt.date = _setting(dt.date(2025, 1, 1), "LINKEDIN_ASSETS_START_DATE", "First daily partition.")
    lookback_days: int = _setting(
        30,
        "LINKEDIN_ASSETS_LOOKBACK_DAYS",
        "Days before each metrics run's end fetched again: LinkedIn revises conversions and spend for weeks.",
        ge=0,
    )
    snapshot_days: int = _setting(90, "LINKEDIN_ASSETS_SNAPSHOT_DAYS", "Days of daily metrics in the snapshot.", ge=1)
    freshness_hour: int = _setting(
        9,
        "LINKEDIN_ASSETS_FRESHNESS_HOUR",
        "UTC hour by which yesterday's metrics must exist (the yesterday_present checks).",
        ge=0,
        le=23,
    )
    demographics_level: Literal["account", "campaign"] = _setting(
        "account",
        "LINKEDIN_ASSETS_DEMOGRAPHICS_LEVEL",
        "account: one request per account and pivot; campaign: per delivering campaign and pivot.",
    )
    campaign_demographic_pivots: tuple[str, ...] = _setting(
        ("MEMBER_COUNTRY_V2", "MEMBER_REGION_V2"),
        "LINKEDIN_ASSETS_CAMPAIGN_DEMOGRAPHICS",
        "MEMBER_* pivots also asked per delivering campaign at account level (Fivetran's monthly country and region "
        "reports read them); none: no campaign-level requests.",
    )
    metrics: tuple[str, ...] = _setting(
        DAILY_METRICS,
        "LINKEDIN_ASSETS_METRICS",
        "Comma list of the daily tables' metrics to fetch (API or column names); the others stay NULL.",
    )
    reports_file: str | None = _setting(
        None,
        "LINKEDIN_ASSETS_REPORTS_FILE",
        "YAML file of custom reports, each kept as a table and asset (docs/custom-reports.md); unset: none.",
    )
    schedule_cron: str = _setting("0 6 * * *", "LINKEDIN_ASSETS_SCHEDULE_CRON", "Daily sync schedule (UTC).")
    # -- how runs execute
    executor: Literal["in_process", "multiprocess", "celery"] = _setting(
        "in_process", "LINKEDIN_ASSETS_EXECUTOR", "in_process, multiprocess or celery (README: Scaling out)."
    )
    celery_broker_url: SecretStr = _setting(
        SecretStr("pyamqp://guest@127.0.0.1//"), "CELERY_BROKER_URL", "Celery broker (executor celery)."
    )
    celery_backend_url: SecretStr = _setting(
        SecretStr("redis://127.0.0.1:6379/0"), "CELERY_BACKEND_URL", "Celery result backend (executor celery)."
    )
    redis_url: SecretStr | None = _setting(
        None, "LINKEDIN_ASSETS_REDIS_URL", "Request budget shared by every worker in Redis; unset: one per process."
    )
    accounts_per_step: int = _setting(
        0,
        "LINKEDIN_ASSETS_ACCOUNTS_PER_STEP",
        "Accounts per metric step, the unit Celery spreads; 0: all accounts in one step.",
        ge=0,
    )
    # -- the LinkedIn client (unset: the client's default)
    api_base_url: str | None = _setting(None, "LINKEDIN_API_BASE_URL", "Versioned REST base URL.")
    oauth_base_url: str | None = _setting(None, "LINKEDIN_OAUTH_BASE_URL", "OAuth base URL.")
    client_id: str | None = _setting(None, "LINKEDIN_CLIENT_ID", "OAuth app client id.")
    client_secret: SecretStr | None = _setting(None, "LINKEDIN_CLIENT_SECRET", "OAuth app secret.")
    refresh_token: SecretStr | None = _setting(
        None, "LINKEDIN_REFRESH_TOKEN", "Seed refresh token; or run linkedin-assets auth login once."
    )
    access_token: SecretStr | None = _setting(None, "LINKEDIN_ACCESS_TOKEN", "Seed access token.")
    api_version: str | None = _setting(
        None, "LINKEDIN_API_VERSION", "LinkedIn-Version header, YYYYMM (a warning when older than 9 months)."
    )
    account_ids: tuple[int, ...] = _setting(
        (),
        "LINKEDIN_ACCOUNT_IDS",
        "Comma list of ad account ids or URNs (sync --accounts overrides it per run); unset: every account the "
        "token sees.",
    )
    max_concurrency: int | None = _setting(
        None,
        "LINKEDIN_MAX_CONCURRENCY",
        "LinkedIn requests in flight at once (across every worker with LINKEDIN_ASSETS_REDIS_URL).",
        ge=1,
    )
    requests_per_second: float | None = _setting(
        None, "LINKEDIN_REQUESTS_PER_SECOND", "Cap on LinkedIn requests per second; unset: none.", gt=0
    )

    _from_environment: frozenset[str] = PrivateAttr(default=frozenset())

    @field_validator("account_ids", mode="before")
    @classmethod
    def _account_ids(cls, value: Any) -> Any:
        return parse_account_ids(value) if isinstance(value, str) else value

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics(cls, value: Any) -> tuple[str, ...]:
        names = [resolve_metric(name).name for name in _items(value)]
        outside = [name for name in names if name not in DAILY_METRICS]
        if outside:
            raise ValueError(
                f"{', '.join(outside)} are not columns of the daily tables; declare a custom report for them "
                "(README: Custom reports)"
            )
        if not names:
            raise ValueError("names no metric; leave it unset for the default set")
        return tuple(dict.fromkeys(names))

    @field_validator("campaign_demographic_pivots", mode="before")
    @classmethod
    def _campaign_pivots(cls, value: Any) -> tuple[str, ...]:
        items = _items(value)
        if [item.lower() for item in items] == ["none"]:
            return ()
        pivots = tuple(item.upper() for item in items)
        unknown = [pivot for pivot in pivots if pivot not in MEMBER_PIVOTS]
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a MEMBER_* pivot; known: {', '.join(MEMBER_PIVOTS)}")
        return pivots

    # Absolute from the working directory at load time, so every process of a run (and the UI) sees one path.
    @property
    def warehouse_file(self) -> str:
        return os.path.abspath(self.duckdb_path or Path(self.data_dir) / Path(DEFAULT_DUCKDB_PATH).name)

    @property
    def fivetran_schema(self) -> str:
        return self.fivetran_schema_name or fivetran_schema_of(self.schema_name)

    @property
    def reports_schema(self) -> str:
        return self.reports_schema_name or reports_schema_of(self.schema_name)

    @property
    def snapshots(self) -> str:
        return os.path.abspath(self.snapshot_dir or Path(self.data_dir) / "snapshots")

    @property
    def token_store(self) -> str:
        return os.path.abspath(self.token_store_path or Path(self.data_dir) / "linkedin_tokens.json")

    @property
    def dagster_home_path(self) -> Path:
        return Path(self.dagster_home).absolute()

    def from_environment(self, name: str) -> bool:
        """Whether setting ``name`` was read from the process environment (then a resource can name its variable)."""
        return name in self._from_environment

    @staticmethod
    def variable(name: str) -> str:
        """The environment variable of setting ``name``."""
        return str(Settings.model_fields[name].validation_alias)


def _items(value: Any) -> list[str]:
    """A comma list from the environment, or a sequence given in code."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(item).strip() for item in items if str(item).strip()]


VARIABLES: dict[str, str] = {name: Settings.variable(name) for name in Settings.model_fields}
"""Setting name -> its environment variable."""


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """The settings in ``env`` (default: the process environment, the one place it is read), then ``overrides``
    (by setting name). Empty variables count as unset; bad values raise ``SettingsError``, one line per variable."""
    source = os.environ if env is None else env
    given = {name: source[variable] for name, variable in VARIABLES.items() if source.get(variable, "").strip()}
    try:
        settings = Settings.model_validate({**given, **overrides})
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None
    except LinkedInConfigError as exc:
        raise SettingsError(str(exc)) from None
    if env is None:
        settings._from_environment = frozenset(given) - frozenset(overrides)
    return settings


def _explain(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        variable = VARIABLES.get(name, name)
        field = Settings.model_fields.get(name)
        secret = field is not None and "SecretStr" in str(field.annotation)
        shown = "" if secret else f"={error.get('input')!r}"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{variable}{shown}: {message}")
    return "; ".join(lines)


def markdown_table() -> str:
    """The settings as the README's table (variable, default, what): generated here so that it cannot drift."""
    from linkedin_assets.linkedin.client import ClientConfig

    client_defaults = {name: getattr(ClientConfig(), name) for name in ("api_base_url", "oauth_base_url")}
    client_defaults.update(api_version=ClientConfig().api_version, max_concurrency=ClientConfig().max_concurrency)
    rows = ["| variable | default | what |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        if default is None and name in client_defaults:
            default = client_defaults[name]
        if isinstance(default, tuple):
            default = ",".join(map(str, default)) if len(default) <= 3 else f"the {len(default)} of Metrics"
        shown = "—" if default in (None, (), "") else f"`{default}`"
        rows.append(f"| `{VARIABLES[name]}` | {shown} | {field.description} |")
    return "\n".join(rows)
