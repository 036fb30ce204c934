"""Dagster resources: the LinkedIn client, the sync settings and the token store.

Every setting is a field, so the launchpad and the resource page show it. Secrets and URLs are wired as
``dg.EnvVar`` (see ``linkedin_assets.definitions``): Dagster shows the variable's name, reads the value when a run
starts, and never writes it to the event log or run config.
"""

from __future__ import annotations

import logging
from typing import Literal

import dagster as dg
from pydantic import Field

from linkedin_assets.linkedin.budget import LocalBudget, RequestBudget
from linkedin_assets.linkedin.client import ClientConfig, LinkedInClient
from linkedin_assets.linkedin.tokens import TokenStore
from linkedin_assets.settings import linkedin_env

# LinkedInResource field -> the LINKEDIN_* variable ClientConfig.from_env knows it by.
CLIENT_VARIABLES = {
    "api_base_url": "LINKEDIN_API_BASE_URL",
    "oauth_base_url": "LINKEDIN_OAUTH_BASE_URL",
    "client_id": "LINKEDIN_CLIENT_ID",
    "client_secret": "LINKEDIN_CLIENT_SECRET",
    "refresh_token": "LINKEDIN_REFRESH_TOKEN",
    "access_token": "LINKEDIN_ACCESS_TOKEN",
    "api_version": "LINKEDIN_API_VERSION",
    "account_ids": "LINKEDIN_ACCOUNT_IDS",
    "max_concurrency": "LINKEDIN_MAX_CONCURRENCY",
    "token_store_path": "LINKEDIN_TOKEN_STORE",
}
ENV_VAR_FIELDS = ("api_base_url", "oauth_base_url", "client_id", "client_secret", "refresh_token", "access_token")
"""Fields wired as ``dg.EnvVar`` (secrets and URLs): the launchpad shows the variable's name, never its value."""


class LinkedInResource(dg.ConfigurableResource):
    """The LinkedIn Marketing API. Unset fields fall back to the client's defaults (api.linkedin.com, ...)."""

    api_base_url: str | None = Field(default=None, description="Versioned REST base URL (LINKEDIN_API_BASE_URL).")
    oauth_base_url: str | None = Field(default=None, description="OAuth base URL (LINKEDIN_OAUTH_BASE_URL).")
    client_id: str | None = Field(default=None, description="OAuth app client id (LINKEDIN_CLIENT_ID).")
    client_secret: str | None = Field(default=None, description="OAuth app secret (LINKEDIN_CLIENT_SECRET).")
    refresh_token: str | None = Field(default=None, description="Seed refresh token (LINKEDIN_REFRESH_TOKEN).")
    access_token: str | None = Field(default=None, description="Seed access token (LINKEDIN_ACCESS_TOKEN).")
    api_version: str | None = Field(default=None, description="LinkedIn-Version header, YYYYMM.")
    account_ids: str | None = Field(
        default=None, description="Comma list of ad account ids to sync; unset = every account the token sees."
    )
    max_concurrency: int | None = Field(default=None, ge=1, description="Requests in flight at once (default 4).")
    token_store_path: str | None = Field(default=None, description="Where refreshed tokens are kept (mode 0600).")
    redis_url: str | None = Field(
        default=None,
        description="Redis URL of a request budget shared by every worker (LINKEDIN_ASSETS_REDIS_URL); unset = a "
        "budget inside each step's process.",
    )
    requests_per_second: float | None = Field(
        default=None, gt=0, description="Cap on LinkedIn requests per second (LINKEDIN_REQUESTS_PER_SECOND)."
    )

    def config(self) -> ClientConfig:
        """The client configuration: these fields, then any other ``LINKEDIN_*`` variable the client knows."""
        fields = {
            variable: str(getattr(self, name))
            for name, variable in CLIENT_VARIABLES.items()
            if getattr(self, name) not in (None, "")
        }
        # The rate is read once, by settings.py, and reaches the client and its budget through this field.
        return ClientConfig.from_env({**linkedin_env(), **fields}, requests_per_second=self.requests_per_second)

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


class SyncSettings(dg.ConfigurableResource):
    """How much each sync re-reads, how demographics are asked for, and how the metric steps are split."""

    lookback_days: int = Field(
        default=30,
        ge=0,
        description="Days before the end of each metrics run that are fetched again: LinkedIn revises recent "
        "conversions and spend for weeks.",
    )
    snapshot_days: int = Field(default=90, ge=1, description="Rolling window of daily metrics in the JSON snapshot.")
    demographics_level: Literal["account", "campaign"] = Field(
        default="account",
        description="'account': one request per account and pivot. 'campaign': one per delivering campaign and pivot.",
    )
    accounts_per_step: int = Field(
        default=0,
        ge=0,
        description="Accounts per metric step (shard). 0: all accounts in one step, the cheapest on one machine; "
        "with the Celery executor, N spreads the shards over the workers.",
    )
    freshness_hour_utc: int = Field(
        default=9,
        ge=0,
        le=23,
        description="UTC hour by which yesterday's metric partitions must be materialized (the yesterday_present "
        "checks warn after it).",
    )


class TokenStoreResource(dg.ConfigurableResource):
    """The OAuth token store the client writes after each refresh; the token sensor watches it."""

    path: str = Field(default="data/linkedin_tokens.json", description="Token file (LINKEDIN_TOKEN_STORE).")

    def store(self) -> TokenStore:
        return TokenStore(self.path)
