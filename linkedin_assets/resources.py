"""Dagster resources: the LinkedIn client, the sync settings and the token store.

Credentials and endpoints are read from the ``LINKEDIN_*`` environment variables when a run starts, never from run
config, so they never appear in the UI, the event log or run metadata.
"""

import logging
import os
from contextlib import ExitStack
from typing import Literal

import dagster as dg
from pydantic import Field, PrivateAttr

from linkedin_assets.instance import data_dir
from linkedin_assets.io_managers.warehouse import WarehouseResource
from linkedin_assets.linkedin.client import ClientConfig, LinkedInClient
from linkedin_assets.linkedin.tokens import TokenStore
from linkedin_assets.warehouse import SyncLockBusy


def token_store_path() -> str:
    """``$LINKEDIN_TOKEN_STORE`` or ``<data dir>/linkedin_tokens.json``."""
    return os.environ.get("LINKEDIN_TOKEN_STORE") or str(data_dir() / "linkedin_tokens.json")


class LinkedInResource(dg.ConfigurableResource):
    """The LinkedIn Marketing API, configured from the ``LINKEDIN_*`` environment variables.

    While a run uses it, it holds the warehouse's sync lock, so two syncs never write side by side, whichever way
    they were started (the run queue already keeps queued runs apart; this also covers in-process runs).
    """

    warehouse: dg.ResourceDependency[WarehouseResource]

    _stack: ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._stack = ExitStack()
        try:
            self._stack.enter_context(self.warehouse.sync_lock(wait=False))
        except SyncLockBusy:
            (context.log or logging.getLogger(__name__)).info(
                "Another LinkedIn sync holds the sync lock; waiting for it to finish"
            )
            self._stack.enter_context(self.warehouse.sync_lock(wait=True))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._stack is not None:
            self._stack.close()

    def config(self) -> ClientConfig:
        return ClientConfig.from_env(token_store_path=token_store_path())

    def client(self, logger: logging.Logger | None = None) -> LinkedInClient:
        """A new async client; use as ``async with linkedin.client(context.log) as client:``."""
        return LinkedInClient(self.config(), logger=logger)


class SyncSettings(dg.ConfigurableResource):
    """How much each sync re-reads and how the demographics are asked for."""

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


class TokenStoreResource(dg.ConfigurableResource):
    """The OAuth token store the client writes after each refresh; the token sensor watches it."""

    path: str | None = Field(
        default=None, description="Token file; default $LINKEDIN_TOKEN_STORE or data/linkedin_tokens.json."
    )

    def store(self) -> TokenStore:
        return TokenStore(self.path or token_store_path())
