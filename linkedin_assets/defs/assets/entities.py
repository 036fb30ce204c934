"""Ad accounts, campaign groups, campaigns, creatives and conversion rules: the current state of every entity, all
statuses.

Each asset is its warehouse table. An entity LinkedIn stops returning stays in the table with ``removed_at`` set.
"""

import re

import dagster as dg
import pandas as pd

from linkedin_assets.defs.assets.common import (
    API_ASSET,
    active_account_ids,
    fetch,
    gather_per_account,
    linkedin_marketing_api,
    log_failures,
    markdown_list,
    rows_frame,
)
from linkedin_assets.defs.io_managers.warehouse import WarehouseResource
from linkedin_assets.defs.resources import LinkedInResource
from linkedin_assets.linkedin.client import LinkedInClient
from linkedin_assets.linkedin.models import Creative, Post
from linkedin_assets.warehouse import WarehouseBatch


@dg.asset(**API_ASSET, deps=[linkedin_marketing_api])
def accounts(
    context: dg.AssetExecutionContext, linkedin: LinkedInResource, warehouse: WarehouseResource
) -> WarehouseBatch:
    """Ad accounts the authorized member has a role on, restricted to ``LINKEDIN_ACCOUNT_IDS`` when set."""
    found = fetch(context, linkedin, lambda client: client.ad_accounts())
    context.log.info(f"Found {len(found)} ad account(s): " + ", ".join(f"{a.id} {a.name!r}" for a in found))
    wanted = linkedin.config().account_ids
    with warehouse.open() as wh:
        known = wh.read("accounts")
    known_ids = {int(i) for i in known["id"]} if not known.empty else set()
    scope = tuple(sorted(set(wanted) if wanted else known_ids | {a.id for a in found}))
    context.add_output_metadata({"accounts": ", ".join(str(a.id) for a in found) or "none"})
    return WarehouseBatch(rows_frame(a.to_row() for a in found), account_ids=scope)


@dg.asset(**API_ASSET)
def campaign_groups(
    context: dg.AssetExecutionContext, linkedin: LinkedInResource, accounts: pd.DataFrame
) -> WarehouseBatch:
    """Campaign groups of every status, per active account."""
    account_ids, failures = active_account_ids(accounts, linkedin), {}
    per_account = fetch(context, linkedin, lambda c: gather_per_account(account_ids, c.campaign_groups, failures))
    _log_per_account(context, "campaign groups", per_account, failures)
    rows = rows_frame(g.to_row() for groups in per_account.values() for g in groups)
    return WarehouseBatch(rows, account_ids=tuple(account_ids), failures=failures)


@dg.asset(**API_ASSET)
def campaigns(context: dg.AssetExecutionContext, linkedin: LinkedInResource, accounts: pd.DataFrame) -> WarehouseBatch:
    """Campaigns of every status (archived, completed and removed included), per active account."""
    account_ids, failures = active_account_ids(accounts, linkedin), {}
    per_account = fetch(context, linkedin, lambda c: gather_per_account(account_ids, c.campaigns, failures))
    _log_per_account(context, "campaigns", per_account, failures)
    rows = rows_frame(c.to_row() for items in per_account.values() for c in items)
    return WarehouseBatch(rows, account_ids=tuple(account_ids), failures=failures)


@dg.asset(**API_ASSET)
def conversions(
    context: dg.AssetExecutionContext, linkedin: LinkedInResource, accounts: pd.DataFrame
) -> WarehouseBatch:
    """Conversion rules (enabled or not) per active account: name, type, attribution windows, value, campaigns.

    Their post-click windows set how far back the conversion metrics are fetched again (a 90-day rule revises 90
    days); their history is kept like every entity's.
    """
    account_ids, failures = active_account_ids(accounts, linkedin), {}
    per_account = fetch(context, linkedin, lambda c: gather_per_account(account_ids, c.conversions, failures))
    _log_per_account(context, "conversion rules", per_account, failures)
    rows = rows_frame(r.to_row() for rules in per_account.values() for r in rules)
    return WarehouseBatch(rows, account_ids=tuple(account_ids), failures=failures)


@dg.asset(**API_ASSET, deps=[campaigns])
def creatives(
    context: dg.AssetExecutionContext,
    linkedin: LinkedInResource,
    warehouse: WarehouseResource,
    accounts: pd.DataFrame,
) -> WarehouseBatch:
    """Creatives of every status, each with a human-readable name.

    The name is the creative's own ``name`` when LinkedIn has one, else a text ad's headline, else the title or
    text of the sponsored post (fetched in batches, and only for posts not named by an earlier sync), else a
    label such as "Sponsored Post #456789".
    """
    account_ids, failures = active_account_ids(accounts, linkedin), {}
    with warehouse.open() as wh:
        known = wh.read("creatives")
    cached = _cached_post_names(known)

    async def work(client: LinkedInClient) -> tuple[dict[int, list[Creative]], dict[str, Post]]:
        per_account = await gather_per_account(account_ids, client.creatives, failures)
        wanted = sorted(
            {
                c.content_reference
                for items in per_account.values()
                for c in items
                if not c.name and _is_post(c.content_reference) and c.content_reference not in cached
            }
        )
        context.log.info(f"Resolving {len(wanted)} sponsored post(s) to names ({len(cached)} known from earlier syncs)")
        return per_account, (await client.posts(wanted) if wanted else {})

    per_account, posts = fetch(context, linkedin, work)
    _log_per_account(context, "creatives", per_account, failures)
    rows = []
    for items in per_account.values():
        for creative in items:
            name, source = creative_display_name(creative, posts, cached)
            rows.append({**creative.to_row(), "name": name, "name_source": source})
    context.add_output_metadata(
        {"names": markdown_list("name source", pd.Series([r["name_source"] for r in rows]).value_counts().to_dict())}
    )
    return WarehouseBatch(rows_frame(rows), account_ids=tuple(account_ids), failures=failures)


def creative_display_name(creative: Creative, posts: dict[str, Post], cached: dict[str, str]) -> tuple[str, str]:
    """The best available name of a creative and where it came from (the ``name_source`` column)."""
    if creative.name:
        return creative.name, "creative"
    headline = creative.to_row()["text_ad_headline"]
    if headline:
        return headline, "text_ad"
    reference = creative.content_reference
    if reference in cached:
        return cached[reference], "post"
    post = posts.get(reference or "")
    if post is not None and (title := post.name or _first_line(post.commentary)):
        return title, "post"
    return derived_label(creative), "derived"


def _first_line(text: str | None, limit: int = 120) -> str | None:
    line = (text or "").strip().splitlines()[0].strip() if (text or "").strip() else ""
    return (line[: limit - 1] + "…" if len(line) > limit else line) or None


def derived_label(creative: Creative) -> str:
    """``Sponsored Post #456789``-style label from the content reference (or the creative id)."""
    reference = creative.content_reference or ""
    kind = {"share": "Sponsored Post", "ugcPost": "Sponsored Post", "adInMailContent": "Message Ad"}.get(
        reference.split(":")[2] if reference.count(":") >= 3 else "", "Creative"
    )
    number = re.sub(r"\D", "", reference.rsplit(":", 1)[-1]) if reference else str(creative.numeric_id)
    return f"{kind} #{number[-6:] or creative.numeric_id}"


def _is_post(reference: str | None) -> bool:
    return bool(reference) and reference.startswith(("urn:li:share:", "urn:li:ugcPost:"))


def _cached_post_names(known: pd.DataFrame) -> dict[str, str]:
    if known.empty:
        return {}
    named = known[(known["name_source"] == "post") & known["content_reference"].notna()]
    return dict(zip(named["content_reference"], named["name"], strict=True))


def _log_per_account(
    context: dg.AssetExecutionContext, what: str, per_account: dict[int, list], failures: dict[int, dict]
) -> None:
    # One line for all accounts: every log line is a stored event in the run's event log.
    counts = ", ".join(f"{account_id}: {len(items)}" for account_id, items in per_account.items())
    context.log.info(f"{sum(len(items) for items in per_account.values())} {what} ({counts or 'no account'})")
    log_failures(context.log, failures)
    context.add_output_metadata(
        {f"{what} per account": markdown_list("account", {k: len(v) for k, v in per_account.items()})}
    )
