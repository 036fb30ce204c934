"""One ad account's failure never holds back another's: the check that still fails the run, naming the account.

An account LinkedIn refuses (a 403 or 404 for it, or 5xx errors the retries did not fix) is left out of each write
that concerns it: its stored rows stay as they were, the other accounts' rows land, and the write's record in the
warehouse (``_writes.failures``) keeps LinkedIn's answer. The accounts refused at the latest entity sync are not asked
for analytics either (LinkedIn answers an account without access with no rows, which would read as "no delivery").

At the end of each sync job, ``every_account_synced`` reads those records for the run and fails it with one text
per account: id and name, the endpoint, LinkedIn's status and message, and what to do. The run ends failed, but what
landed stays, the monthly run after it still starts (``failed_only_on_accounts``), and the next run asks again.
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg

from linkedin_assets.defs.assets.common import KEY_PREFIX
from linkedin_assets.defs.io_managers.warehouse import WarehouseResource, run_lineage
from linkedin_assets.linkedin.errors import AccountFailure
from linkedin_assets.warehouse import Warehouse, Writes

CHECK_NAME = "every_account_synced"


class AccountsFailed(dg.Failure):
    """Some ad accounts could not be synced; every other account's rows landed."""


def failures_of_run(wh: Warehouse, lineage: Sequence[str]) -> dict[int, list[Mapping[str, Any]]]:
    """What the writes of a run (and of the runs it re-executes, for the steps it did not run again) left out, per
    account, in table order."""
    writes = Writes.latest_per_step(wh.write_records(None, lineage), lineage)
    found: dict[int, list[Mapping[str, Any]]] = {}
    for record in writes.records:
        for failure in record.failures:
            found.setdefault(int(failure["account_id"]), []).append({**failure, "table": record.table})
    return found


def _account_names(wh: Warehouse, account_ids: Sequence[int]) -> dict[int, str]:
    frame = wh.read("accounts", account_ids=account_ids, columns=["id", "name"])
    return {int(i): str(n) for i, n in zip(frame["id"], frame["name"], strict=True)}


def describe_failures(failures: Mapping[int, list[Mapping[str, Any]]], names: Mapping[int, str]) -> str:
    """One line per account: ``ad account 123 'Acme': 403 ACCESS_DENIED on adCampaignGroups: ... (tables)``."""
    lines = []
    for account_id, records in sorted(failures.items()):
        asked = [r for r in records if not r.get("not_asked")]
        first = AccountFailure.from_record(dict((asked or records)[0]))
        tables = ", ".join(dict.fromkeys(str(r["table"]) for r in records))
        name = f" {names[account_id]!r}" if account_id in names else ""
        why = "" if asked else f"; not asked, as LinkedIn {records[0]['not_asked']} at the latest sync"
        lines.append(f"ad account {account_id}{name}: {first.describe()} (left out of {tables}{why})")
    return "; ".join(lines)


def what_to_do(failures: Mapping[int, list[Mapping[str, Any]]]) -> str:
    advice = dict.fromkeys(AccountFailure.from_record(dict(records[0])).what_to_do for records in failures.values())
    return "The other accounts' rows landed. " + "; ".join(advice) + ". The next sync asks for them again."


def _account_check(asset: dg.AssetKey, after: Sequence[dg.AssetKey], job: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name=CHECK_NAME,
        additional_deps=list(after),
        description=f"Every ad account of the {job} run was synced: none was left out because LinkedIn refused it "
        "(403/404) or kept failing (5xx). Fails the run, naming each such account and what to do.",
    )
    def every_account_synced(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        event = context.instance.get_latest_materialization_event(asset)
        with warehouse.open() as wh:
            lineage = run_lineage(context.instance, event.run_id) if event is not None else ()
            failures = failures_of_run(wh, lineage)
            names = _account_names(wh, list(failures)) if failures else {}
        rows = [
            f"| {a} | {names.get(a, '')} | {r['table']} | {r.get('endpoint', '')} | {r.get('status', '')} "
            f"| {str(r.get('message') or '').replace('|', '/')} |"
            for a, records in sorted(failures.items())
            for r in records
        ]
        yield dg.AssetCheckResult(
            passed=not failures,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "accounts_failed": len(failures),
                "run_id": event.run_id if event is not None else "",
                "failures": dg.MetadataValue.md(
                    "\n".join(
                        ["| account | name | table | endpoint | status | LinkedIn's message |", "|---" * 6 + "|"] + rows
                    )
                ),
            },
        )
        if failures:
            raise AccountsFailed(
                description=f"{len(failures)} ad account(s) could not be synced: {describe_failures(failures, names)}",
                metadata={
                    "account_id": ", ".join(map(str, sorted(failures))),
                    "what to do": what_to_do(failures),
                },
            )

    return every_account_synced


def _key(name: str) -> dg.AssetKey:
    return dg.AssetKey([KEY_PREFIX, name])


account_checks = [
    _account_check(
        _key("creative_daily_metrics"),
        [
            _key(n)
            for n in (
                "accounts",
                "campaign_groups",
                "campaigns",
                "creatives",
                "conversions",
                "campaign_daily_metrics",
                "campaign_conversion_daily_metrics",
                "creative_conversion_daily_metrics",
            )
        ],
        "daily sync",
    ),
    _account_check(_key("snapshot"), [_key("demographic_metrics"), _key("demographic_values")], "monthly sync"),
]


def failed_only_on_accounts(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Whether ``run`` failed only because some accounts were left out: its assets landed, so what follows it (the
    monthly run after the daily one) goes ahead for the other accounts."""
    failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    return bool(failures) and all(
        record.dagster_event is not None
        and (error := record.dagster_event.step_failure_data.error) is not None
        and error.cls_name == AccountsFailed.__name__
        for record in failures
    )
