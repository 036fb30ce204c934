"""Dagster resources: the LinkedIn client, the sync settings and the token store.

Every setting is a field, so the launchpad and the resource page show it. Secrets and URLs are wired as
``dg.EnvVar`` (see ``linkedin_assets.definitions``): Dagster shows the variable's name, reads the value when a run
starts, and never writes it to the event log or run config.
"""

from __future__ import annotations

import logging
from typing import Any

import dagster as dg
from pydantic import Field

from linkedin_assets.linkedin.budget import LocalBudget, RequestBudget
from linkedin_assets.linkedin.catalogue import served
from linkedin_assets.linkedin.client import ClientConfig, LinkedInClient
from linkedin_assets.linkedin.tokens import TokenStore
from linkedin_assets.settings import Settings

SECRET_FIELDS = ("api_base_url", "oauth_base_url", "client_id", "client_secret", "refresh_token", "access_token")
"""LinkedInResource fields wired as ``dg.EnvVar`` when they come from the environment (see ``linkedin_resource``)."""


def _described(setting: str, **field: Any) -> Any:
    """A resource field described as the setting it carries (declared, with its default and bound, in settings.py)."""
    return Field(description=Settings.model_fields[setting].description, **field)


def setting_value(settings: Settings, name: str, env_vars: bool = True) -> object:
    """A setting for a resource field: ``dg.EnvVar`` when it came from the environment (Dagster resolves it when a
    run starts and the UI shows the variable's name, never its value), else its plain value (tests, the demo)."""
    value = getattr(settings, name)
    if value is None:
        return None
    if env_vars and settings.from_environment(name):
        return dg.EnvVar(Settings.variable(name))
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


def linkedin_resource(settings: Settings, env_vars: bool = True) -> LinkedInResource:
    """The LinkedIn resource: secrets and URLs as EnvVar when they came from the environment (unless ``env_vars`` is
    false: a command that uses the resource outside a run), the rest as values."""
    return LinkedInResource(
        **{name: setting_value(settings, name, env_vars) for name in SECRET_FIELDS},
        api_version=settings.api_version,
        account_ids=list(settings.account_ids),
        max_concurrency=settings.max_concurrency,
        token_store_path=settings.token_store,
        redis_url=setting_value(settings, "redis_url", env_vars),
        requests_per_second=settings.requests_per_second,
    )


class LinkedInResource(dg.ConfigurableResource):
    """The LinkedIn Marketing API. Unset fields fall back to the client's defaults (api.linkedin.com, ...)."""

    api_base_url: str | None = _described("api_base_url", default=None)
    oauth_base_url: str | None = _described("oauth_base_url", default=None)
    client_id: str | None = _described("client_id", default=None)
    client_secret: str | None = _described("client_secret", default=None)
    refresh_token: str | None = _described("refresh_token", default=None)
    access_token: str | None = _described("access_token", default=None)
    api_version: str | None = _described("api_version", default=None)
    account_ids: list[int] = _described("account_ids", default_factory=list)
    max_concurrency: int | None = _described("max_concurrency", default=None)
    token_store_path: str | None = _described("token_store_path", default=None)
    redis_url: str | None = _described("redis_url", default=None)
    requests_per_second: float | None = _described("requests_per_second", default=None)

    def config(self) -> ClientConfig:
        """The client configuration: exactly these fields (unset ones: the client's defaults)."""
        return ClientConfig.with_defaults(
            **{name: getattr(self, name) for name in (*SECRET_FIELDS, "api_version", "max_concurrency")},
            account_ids=tuple(self.account_ids),
            token_store_path=self.token_store_path,
            requests_per_second=self.requests_per_second,
        )

    def budget(self, config: ClientConfig) -> RequestBudget:
        """The request budget of a client: shared in Redis when ``redis_url`` is set, else local to the process."""
        if self.redis_url:
            from linkedin_assets.linkedin.redis_budget import RedisBudget  # the celery extra: imported on use

            return RedisBudget(
                self.redis_url,
                max_concurrency=config.max_concurrency,
                requests_per_second=config.requests_per_second,
                # LinkedIn's limits are per application: one budget per OAuth client id (not a secret)
                namespace=f"linkedin_assets:budget:{config.client_id or 'default'}",
            )
        return LocalBudget(config.max_concurrency, config.requests_per_second)

    def client(self, logger: logging.Logger | None = None) -> LinkedInClient:
        """A new async client; use as ``async with linkedin.client(context.log) as client:``."""
        config = self.config()
        return LinkedInClient(config, logger=logger, budget=self.budget(config))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class SyncSettings(dg.ConfigurableResource):
    """How much each sync re-reads, how demographics are asked for, and how the metric steps are split: the
    ``Settings`` of the same names (``SyncSettings.of(settings)``), where their defaults and bounds are declared."""

    start_date: str = _described("start_date")
    lookback_days: int = _described("lookback_days")
    snapshot_days: int = _described("snapshot_days")
    demographics_level: str = _described("demographics_level")
    accounts_per_step: int = _described("accounts_per_step")
    freshness_hour: int = _described("freshness_hour")
    metrics: list[str] = _described("metrics")
    campaign_demographic_pivots: list[str] = _described("campaign_demographic_pivots")

    @property
    def daily_metrics(self) -> tuple[str, ...]:
        """The daily tables' metrics a sync asks for: the configured ones LinkedIn still serves."""
        return served(self.metrics)

    @classmethod
    def of(cls, settings: Settings) -> SyncSettings:
        return cls(
            start_date=settings.start_date.isoformat(),
            **{name: _plain(getattr(settings, name)) for name in cls.model_fields if name != "start_date"},
        )


class TokenStoreResource(dg.ConfigurableResource):
    """The OAuth token store the client writes after each refresh; the token sensor watches it."""

    path: str = _described("token_store_path")

    def store(self) -> TokenStore:
        return TokenStore(self.path)
