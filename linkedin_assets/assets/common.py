"""What every LinkedIn asset shares: its key prefix and group, the API source asset, request metadata."""

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import dagster as dg
import pandas as pd

from linkedin_assets.instance import LINKEDIN_POOL
from linkedin_assets.linkedin.client import LinkedInClient
from linkedin_assets.resources import LinkedInResource

T = TypeVar("T")

KEY_PREFIX = "linkedin_ads"
GROUP = "linkedin_ads"

linkedin_marketing_api = dg.AssetSpec(
    key=[KEY_PREFIX, "linkedin_marketing_api"],
    group_name=GROUP,
    kinds={"linkedin"},
    description="The LinkedIn Marketing API (versioned /rest), or the built-in simulator of it.",
)

WAREHOUSE_ASSET: dict[str, Any] = {
    "key_prefix": [KEY_PREFIX],
    "group_name": GROUP,
    "io_manager_key": "warehouse_io",
}
"""Decorator arguments of every asset that is a warehouse table."""
API_ASSET: dict[str, Any] = {**WAREHOUSE_ASSET, "pool": LINKEDIN_POOL, "kinds": {"linkedin", "sql"}}
"""... and of those fetched from the LinkedIn API (one run at a time holds the ``linkedin_api`` pool)."""


def fetch(
    context: dg.AssetExecutionContext, linkedin: LinkedInResource, work: Callable[[LinkedInClient], Awaitable[T]]
) -> T:
    """Run ``work`` with a fresh client and attach the request counts to the materialization."""

    async def main() -> T:
        async with linkedin.client(context.log) as client:
            try:
                return await work(client)
            finally:
                stats = client.stats
                context.log.info(
                    f"LinkedIn requests: {stats.requests} made, {stats.retries} retried, {stats.throttled} throttled (429)"
                )
                context.add_output_metadata({f"linkedin/{k}": v for k, v in stats.as_metadata().items()})

    return asyncio.run(main())


async def gather_per_account(
    account_ids: Iterable[int], call: Callable[[int], Awaitable[list[T]]]
) -> dict[int, list[T]]:
    """``call`` for every account at once (the client bounds the requests in flight)."""
    ids = list(account_ids)
    results = await asyncio.gather(*(call(account_id) for account_id in ids))
    return dict(zip(ids, results, strict=True))


def active_account_ids(accounts: pd.DataFrame, linkedin: LinkedInResource) -> list[int]:
    """Accounts still returned by LinkedIn and inside ``LINKEDIN_ACCOUNT_IDS`` when that is set."""
    if accounts.empty:
        return []
    live = accounts[accounts["removed_at"].isna()]["id"].astype(int).tolist()
    wanted = set(linkedin.config().account_ids)
    return sorted(a for a in live if not wanted or a in wanted)


def rows_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Plain rows -> DataFrame; Decimals stay exact (object columns)."""
    return pd.DataFrame.from_records(list(rows))


def markdown_list(title: str, items: Mapping[Any, Any]) -> dg.MetadataValue:
    lines = [f"| {title} | rows |", "| --- | ---: |", *(f"| {k} | {v} |" for k, v in items.items())]
    return dg.MetadataValue.md("\n".join(lines))
