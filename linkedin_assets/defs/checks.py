"""Asset checks: they judge what landed, they never stop LinkedIn's data from landing.

Which checks block, and why (who could have broken what a check guards decides it):

| check | asset(s) | severity | blocks downstream |
| --- | --- | --- | --- |
| `clicks_within_impressions` | campaign and creative daily metrics | WARN | no |
| `no_negative_spend` (tolerance 0.000001) | campaign and creative daily metrics | WARN | no |
| `creative_totals_within_campaign` (tolerance 0.000001 on cost) | creative daily metrics | WARN | no |
| `demographic_coverage` | demographic metrics | WARN | no |
| `yesterday_present` | campaign and creative daily metrics, daily declared tables | WARN | no |
| `rows_of_known_entities` | campaign and creative daily metrics | WARN | no |
| `rows_match_their_run` | campaign, creative and demographic metrics, declared metric tables | ERROR | yes |

* **LinkedIn's numbers: WARN, never blocking.** LinkedIn legitimately sends rows that break textbook rules: some ad
  formats count clicks without an impression, corrections move a creative's day past its campaign's, zero-cost days
  come as floating-point dust such as ``-2E-18``, small demographic values are dropped. The rows are what LinkedIn
  reports, so they land as they are; the check records the rows that break its rule (``violations``, a ``sample``
  of the first five, the ``rule``) and the snapshot lists every one of them in its ``warnings``. A blocking check
  here would skip the assets downstream (the creative metrics, for a campaign check) on every later run too, since
  LinkedIn sends the same rows again. ``rows_of_known_entities`` is one of these: LinkedIn keeps reporting the past
  delivery of creatives (and campaigns) its finders no longer list; their rows land with the account they were
  requested for, are counted as written, and the check names them.
* **The project's own consistency: ERROR and blocking.** These can only fail through a bug here, and then the
  rows are not what the run meant to write, so the steps downstream stop and the run fails (the monthly run with the
  snapshot is then not started). ``rows_match_their_run``: a write replaces the rows of its
  accounts inside its date range, in one transaction, so right after it every row there carries the run's
  ``_dagster_run_id`` and their number is the number of rows written; a stale row left behind, a row lost or one
  written twice fails it. Duplicate primary keys are not checked: both backends refuse them by constraint.

What a check reads: the rows the latest materialization of its asset wrote, i.e. the accounts and the days (the
run's partitions plus the lookback days it rewrote) of that run's writes, as the warehouse recorded them in its
``_writes`` table in each write's own transaction. The check context's partition range is not used: it lacks the
lookback days, which the run rewrote too, and a checks-only run has none. So a check costs a scan of one run's range,
not of the whole table.
"""

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import dagster as dg
import pandas as pd

from linkedin_assets.defs.assets.common import KEY_PREFIX
from linkedin_assets.defs.io_managers.warehouse import WarehouseResource, run_lineage
from linkedin_assets.defs.resources import SyncSettings
from linkedin_assets.linkedin.fields import MEMBER_PIVOTS
from linkedin_assets.snapshot.schema import SnapshotWarning, plain_decimal
from linkedin_assets.warehouse import Warehouse, Writes, table_spec

CAMPAIGN_DAILY = "campaign_daily_metrics"
CREATIVE_DAILY = "creative_daily_metrics"
DEMOGRAPHICS = "demographic_metrics"


def key_of(table: str) -> dg.AssetKey:
    return dg.AssetKey([KEY_PREFIX, table])


SPEND_NOISE = Decimal("0.000001")
"""Money tolerance: one millionth of the currency unit. LinkedIn's dust is about 1E-18 and the smallest real amount
is a cent (0.01), so a cost below minus this, or a creative total above its campaign's plus this, is a real oddity."""
MIN_COVERAGE = Decimal("0.5")
"""Demographic rows of an account-month must cover at least half of its impressions, per pivot on average
(LinkedIn drops values with fewer than three events)."""
SAMPLE = 5
"""Failing rows kept in a check's metadata."""


# ---------------------------------------------------------------------------------------------------- scope


@dataclass(frozen=True)
class Scope:
    """The rows one write replaced: ``account_ids`` inside ``start..end`` (``None``: no limit on that side)."""

    start: dt.date | None = None
    end: dt.date | None = None
    account_ids: tuple[int, ...] | None = None
    run_id: str | None = None
    """The run that wrote them."""
    rows: int | None = None
    """How many rows it wrote."""
    earlier_run_ids: tuple[str, ...] = ()
    """The runs it re-executes (parent, grandparent, ...): a re-execution from failure skips the shard steps that
    succeeded before, so their rows carry the id of the run that wrote them, one of these."""

    @property
    def run_ids(self) -> tuple[str, ...]:
        """Every run whose id a row of this write may carry."""
        return (self.run_id, *self.earlier_run_ids) if self.run_id else self.earlier_run_ids

    def where(self, alias: str, date_column: str = "date") -> tuple[str, dict[str, Any]]:
        """SQL conditions (``TRUE`` when unlimited) and their parameters, for the table aliased ``alias``."""
        conditions, params = ["TRUE"], {}
        if self.start is not None and self.end is not None:
            conditions.append(f"{alias}.{date_column} BETWEEN %(scope_start)s AND %(scope_end)s")
            params = {"scope_start": self.start, "scope_end": self.end}
        if self.account_ids is not None:
            ids = ", ".join(str(int(a)) for a in self.account_ids) or "NULL"
            conditions.append(f"{alias}.account_id IN ({ids})")
        return " AND ".join(conditions), params

    def describe(self) -> str:
        days = f"{self.start}..{self.end}" if self.start and self.end else "every day"
        accounts = "every account" if self.account_ids is None else f"{len(self.account_ids)} account(s)"
        return f"{days}, {accounts}"


def written_scope(instance: dg.DagsterInstance, wh: Warehouse, key: dg.AssetKey) -> Scope | None:
    """The scope of the latest materialization of ``key`` (``None`` before the first): the warehouse's records of
    the writes its run made (with those of the runs it re-executes, for the steps it did not run again)."""
    event = instance.get_latest_materialization_event(key)
    if event is None:
        return None
    lineage = run_lineage(instance, event.run_id)
    writes = Writes.latest_per_step(wh.write_records(key.path[-1], lineage), lineage)
    if not writes.records:
        return None
    start, end = writes.date_range or (None, None)
    return Scope(start, end, writes.account_ids, event.run_id, writes.total.rows, lineage[1:])


# ---------------------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """A plausibility rule on LinkedIn's numbers: SQL selecting the rows that break it, one row per entity and day
    (columns ``entity_id``, ``day`` and the numbers compared)."""

    check: str
    table: str
    entity: str
    """``campaign``, ``creative`` or ``account``: what ``entity_id`` names."""
    text: str
    """The rule, as the check's metadata states it."""
    sql: Callable[[Warehouse, Scope], tuple[str, dict[str, Any]]]
    money: frozenset[str] = frozenset()
    """Number columns that are money (kept exact); the others are whole numbers."""


def _entity_key(table: str) -> str:
    return "campaign_id" if table == CAMPAIGN_DAILY else "creative_id"


def _clicks_sql(table: str) -> Callable[[Warehouse, Scope], tuple[str, dict[str, Any]]]:
    def sql(wh: Warehouse, scope: Scope) -> tuple[str, dict[str, Any]]:
        where, params = scope.where("m")
        return (
            f"SELECT m.{_entity_key(table)} AS entity_id, m.date AS day, m.clicks, m.impressions "
            f"FROM {wh.qualified(table)} m WHERE {where} AND m.clicks > m.impressions",
            params,
        )

    return sql


def _spend_sql(table: str) -> Callable[[Warehouse, Scope], tuple[str, dict[str, Any]]]:
    def sql(wh: Warehouse, scope: Scope) -> tuple[str, dict[str, Any]]:
        where, params = scope.where("m")
        return (
            f"SELECT m.{_entity_key(table)} AS entity_id, m.date AS day, m.cost_in_local_currency, m.cost_in_usd "
            f"FROM {wh.qualified(table)} m WHERE {where} "
            f"AND (m.cost_in_local_currency < -{SPEND_NOISE} OR m.cost_in_usd < -{SPEND_NOISE})",
            params,
        )

    return sql


def _creative_totals_sql(wh: Warehouse, scope: Scope) -> tuple[str, dict[str, Any]]:
    where, params = scope.where("m")
    campaign_where, _ = scope.where("c")  # the same scope on both sides lets the planner filter before the join
    return (
        f"""SELECT c.campaign_id AS entity_id, c.date AS day,
                   c.impressions AS campaign_impressions, s.impressions AS creative_impressions,
                   c.clicks AS campaign_clicks, s.clicks AS creative_clicks,
                   c.cost_in_local_currency AS campaign_cost, s.cost AS creative_cost
            FROM (SELECT m.campaign_id, m.date, CAST(SUM(m.impressions) AS BIGINT) AS impressions,
                         CAST(SUM(m.clicks) AS BIGINT) AS clicks, SUM(m.cost_in_local_currency) AS cost
                  FROM {wh.qualified(CREATIVE_DAILY)} m WHERE {where} GROUP BY m.campaign_id, m.date) s
            JOIN {wh.qualified(CAMPAIGN_DAILY)} c ON c.campaign_id = s.campaign_id AND c.date = s.date
            WHERE {campaign_where}
              AND (s.impressions > c.impressions OR s.clicks > c.clicks
                   OR s.cost > c.cost_in_local_currency + {SPEND_NOISE})""",
        params,
    )


def _coverage_sql(wh: Warehouse, scope: Scope) -> tuple[str, dict[str, Any]]:
    campaign_where, params = scope.where("m")
    demographic_where, _ = scope.where("d", date_column="month")
    pivots = len(MEMBER_PIVOTS)
    # coverage = demographic impressions / pivots / campaign impressions, written without a division
    return (
        f"""SELECT c.account_id AS entity_id, c.month AS day, c.impressions AS campaign_impressions,
                   COALESCE(d.impressions, 0) AS demographic_impressions, COALESCE(d.pivots, 0) AS pivots
            FROM (SELECT m.account_id, CAST(date_trunc('month', m.date) AS DATE) AS month,
                         CAST(SUM(m.impressions) AS BIGINT) AS impressions
                  FROM {wh.qualified(CAMPAIGN_DAILY)} m WHERE {campaign_where}
                  GROUP BY 1, 2 HAVING SUM(m.impressions) > 0) c
            LEFT JOIN (SELECT d.account_id, d.month, COUNT(DISTINCT d.pivot) AS pivots,
                              CAST(SUM(d.impressions) AS BIGINT) AS impressions
                       FROM {wh.qualified(DEMOGRAPHICS)} d WHERE d.level = 'account' AND {demographic_where}
                       GROUP BY 1, 2) d
              ON d.account_id = c.account_id AND d.month = c.month
            WHERE COALESCE(d.pivots, 0) < {pivots}
               OR COALESCE(d.impressions, 0) < {MIN_COVERAGE} * {pivots} * c.impressions""",
        params,
    )


def _unlisted_sql(table: str) -> Callable[[Warehouse, Scope], tuple[str, dict[str, Any]]]:
    """Rows of campaigns or creatives the entity listing never returned (removed ones count as listed)."""

    def sql(wh: Warehouse, scope: Scope) -> tuple[str, dict[str, Any]]:
        key = _entity_key(table)
        parent = "campaigns" if table == CAMPAIGN_DAILY else "creatives"
        where, params = scope.where("m")
        return (
            f"SELECT m.{key} AS entity_id, m.date AS day, m.account_id, m.impressions, m.clicks, "
            f"m.cost_in_local_currency FROM {wh.qualified(table)} m "
            f"LEFT JOIN {wh.qualified(parent)} p ON p.id = m.{key} WHERE {where} AND p.id IS NULL",
            params,
        )

    return sql


def _metric_rules(table: str) -> list[Rule]:
    entity = "campaign" if table == CAMPAIGN_DAILY else "creative"
    parent = "campaigns" if table == CAMPAIGN_DAILY else "creatives"
    return [
        Rule(
            "rows_of_known_entities",
            table,
            entity,
            f"every {_entity_key(table)} is in {parent}: LinkedIn reports the delivery of {parent} its listing no "
            "longer returns; their rows land with the account they were requested for",
            _unlisted_sql(table),
            money=frozenset({"cost_in_local_currency"}),
        ),
        Rule("clicks_within_impressions", table, entity, "clicks <= impressions", _clicks_sql(table)),
        Rule(
            "no_negative_spend",
            table,
            entity,
            f"cost_in_local_currency and cost_in_usd >= -{SPEND_NOISE}",
            _spend_sql(table),
            money=frozenset({"cost_in_local_currency", "cost_in_usd"}),
        ),
    ]


RULES: list[Rule] = [
    *_metric_rules(CAMPAIGN_DAILY),
    *_metric_rules(CREATIVE_DAILY),
    Rule(
        "creative_totals_within_campaign",
        CREATIVE_DAILY,
        "campaign",
        "per campaign and day: sum(creatives) <= campaign for impressions and clicks, "
        f"and for cost_in_local_currency up to +{SPEND_NOISE}",
        _creative_totals_sql,
        money=frozenset({"campaign_cost", "creative_cost"}),
    ),
    Rule(
        "demographic_coverage",
        DEMOGRAPHICS,
        "account",
        f"every account-month with impressions has account-level rows for all {len(MEMBER_PIVOTS)} MEMBER_* pivots, "
        f"covering at least {MIN_COVERAGE} of its impressions per pivot on average",
        _coverage_sql,
    ),
]
"""Every rule on LinkedIn's numbers (WARN checks); the snapshot lists the rows that break them."""


# ---------------------------------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    """What a query found: how many rows break the rule, and the first few of them."""

    count: int
    sample: list[dict[str, Any]]

    @property
    def passed(self) -> bool:
        return self.count == 0


def _json_value(value: Any) -> Any:
    """A value of a warehouse row as JSON: money as a plain decimal string, dates as ISO dates."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # a numpy scalar
        return _json_value(value.item())
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def find(wh: Warehouse, sql: str, params: Mapping[str, Any]) -> Finding:
    """The number of rows ``sql`` selects and the first ``SAMPLE`` of them by day and entity, in one query."""
    frame = wh.query(
        f"SELECT v.*, COUNT(*) OVER () AS violations_total FROM ({sql}) v ORDER BY day, entity_id LIMIT {SAMPLE}",
        dict(params) or None,
    )
    if frame.empty:
        return Finding(0, [])
    count = int(frame["violations_total"].iloc[0])
    rows = _records(frame.drop(columns="violations_total"))
    return Finding(count, [{k: _json_value(v) for k, v in row.items()} for row in rows])


def violations(wh: Warehouse, r: Rule, scope: Scope) -> list[dict[str, Any]]:
    """Every row in ``scope`` that breaks ``r`` (for the snapshot's warnings)."""
    sql, params = r.sql(wh, scope)
    return _records(wh.query(f"SELECT * FROM ({sql}) v ORDER BY day, entity_id", params or None))


def snapshot_warnings(wh: Warehouse, start: dt.date, end: dt.date, demographics_level: str) -> list[SnapshotWarning]:
    """Every row of the days ``start..end`` (and of their months, for demographics) that a rule flags."""
    warnings = []
    for r in RULES:
        if r.table == DEMOGRAPHICS:
            if demographics_level != "account":
                continue
            scope = Scope(start.replace(day=1), end)
        else:
            scope = Scope(start, end)
        for row in violations(wh, r, scope):
            numbers = {
                k: (Decimal(v) if k in r.money else int(v)) if v is not None else None
                for k, v in row.items()
                if k not in ("entity_id", "day")
            }
            day = row["day"]
            warnings.append(
                SnapshotWarning(
                    check=r.check,
                    asset=r.table,
                    entity=r.entity,  # type: ignore[arg-type]
                    entity_id=int(row["entity_id"]),
                    day=day.date() if isinstance(day, dt.datetime) else day,
                    numbers=numbers,
                )
            )
    return warnings


def unreconciled_rows(wh: Warehouse, table: str, scope: Scope) -> tuple[Finding, int]:
    """Rows in ``scope`` not carrying the run id of the write that replaced it, and how many rows do carry it.

    A row the write carried outside its scope (another account, a day outside its range, no account) is not counted,
    so the count then falls short of the rows written."""
    spec = table_spec(table)
    date_column = spec.date_column or "date"
    # the row's identity besides its day or month, its id column first (demographics: entity_id, level, pivot, value)
    keys = sorted((k for k in spec.primary_key if k != date_column), key=lambda k: not k.endswith("_id"))
    key, extra = keys[0], "".join(f", m.{k}" for k in keys[1:])
    where, params = scope.where("m", date_column)
    names = [f"run_{i}" for i in range(len(scope.run_ids))]
    params = {**params, **dict(zip(names, scope.run_ids, strict=True))}
    runs = ", ".join(f"%({name})s" for name in names) or "NULL"
    foreign = find(
        wh,
        f"SELECT m.{key} AS entity_id, m.{date_column} AS day{extra}, m.account_id, m._dagster_run_id "
        f"FROM {wh.qualified(table)} m WHERE {where} "
        f"AND (m._dagster_run_id IS NULL OR m._dagster_run_id NOT IN ({runs}))",
        params,
    )
    own = wh.query(
        f"SELECT COUNT(*) AS n FROM {wh.qualified(table)} m WHERE {where} AND m._dagster_run_id IN ({runs})", params
    )
    return foreign, int(own["n"].iloc[0])


# ---------------------------------------------------------------------------------------------------- checks


def _result(
    finding: Finding, text: str, scope: Scope, severity: dg.AssetCheckSeverity, passed: bool = True, **extra: Any
) -> dg.AssetCheckResult:
    """The check's result: failed when ``finding`` has rows (or ``passed`` is false), with them as metadata."""
    return dg.AssetCheckResult(
        passed=finding.passed and passed,
        severity=severity,
        metadata={
            "violations": finding.count,
            "sample": dg.MetadataValue.json(finding.sample),
            "rule": text,
            "scope": scope.describe(),
            **extra,
        },
    )


def _not_materialized() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True, metadata={"violations": 0, "scope": "not materialized yet"})


@dataclass(frozen=True)
class Judged:
    """What every check of one table needs: the latest write's scope, an open warehouse, the settings, the instance."""

    table: str
    scope: Scope | None
    wh: Warehouse | None
    settings: SyncSettings
    instance: dg.DagsterInstance


def _warn_check(r: Rule) -> Callable[[Judged], dg.AssetCheckResult]:
    def check(j: Judged) -> dg.AssetCheckResult:
        if j.scope is None or j.wh is None:
            return _not_materialized()
        if r.table == DEMOGRAPHICS and j.settings.demographics_level != "account":
            # campaign-level demographic rows carry no account total to compare with
            return dg.AssetCheckResult(passed=True, metadata={"violations": 0, "level": j.settings.demographics_level})
        finding = find(j.wh, *r.sql(j.wh, j.scope))
        extra = {"tolerance": str(SPEND_NOISE)} if r.money else {}
        return _result(finding, r.text, j.scope, dg.AssetCheckSeverity.WARN, **extra)

    return check


def rows_match_their_run(j: Judged) -> dg.AssetCheckResult:
    """The rows of the accounts and dates the latest write replaced are exactly the rows it wrote."""
    scope = j.scope
    if scope is None or j.wh is None:
        return _not_materialized()
    foreign, own = unreconciled_rows(j.wh, j.table, scope)
    return _result(
        foreign,
        "every row of the replaced accounts and dates carries the writing run's _dagster_run_id (or, after a "
        "re-execution from failure, the id of the run it re-executes), and as many rows carry it as were written",
        scope,
        dg.AssetCheckSeverity.ERROR,
        passed=scope.rows is None or own == scope.rows,
        run_id=scope.run_id or "",
        earlier_run_ids=", ".join(scope.earlier_run_ids),
        rows_written=scope.rows if scope.rows is not None else -1,
        rows_with_run_id=own,
    )


def freshness_result(
    instance: dg.DagsterInstance, key: dg.AssetKey, now: dt.datetime, hour: int
) -> dg.AssetCheckResult:
    """Passes before the deadline hour, and after it only when yesterday's partition is materialized (both UTC)."""
    now = now.astimezone(dt.UTC)
    yesterday = (now - dt.timedelta(days=1)).date().isoformat()
    present = yesterday in instance.get_materialized_partitions(key)
    due = now.hour >= hour
    return dg.AssetCheckResult(
        passed=present or not due,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "yesterday": yesterday,
            "present": present,
            "deadline_hour_utc": hour,
            "rule": f"yesterday's partition is materialized by {hour:02d}:00 UTC",
        },
    )


def yesterday_present(j: Judged) -> dg.AssetCheckResult:
    """Yesterday's partition is materialized by ``SyncSettings.freshness_hour`` (default 09:00 UTC)."""
    return freshness_result(j.instance, key_of(j.table), dt.datetime.now(dt.UTC), j.settings.freshness_hour)


@dataclass(frozen=True)
class Check:
    """One check of a table: its spec (name, blocking, description) and how it judges."""

    name: str
    blocking: bool
    judge: Callable[[Judged], dg.AssetCheckResult]
    description: str | None = None


def table_checks(table: str) -> list[Check]:
    """The checks of ``table``, in the order they run (a declared metric table, daily or not: the freshness of a
    daily one, and that its rows are its latest write's)."""
    found = [Check(r.check, False, _warn_check(r), r.text) for r in RULES if r.table == table]
    if table in (CAMPAIGN_DAILY, CREATIVE_DAILY) or table_spec(table).date_column == "date":
        found.append(Check("yesterday_present", False, yesterday_present, yesterday_present.__doc__))
    found.append(Check("rows_match_their_run", True, rows_match_their_run, rows_match_their_run.__doc__))
    return found


def _checks_of(table: str) -> dg.AssetChecksDefinition:
    """Every check of ``table`` as one step (subsettable: the UI can run any of them alone).

    One step, not one per check: each step costs its own events in the run's event log (start, evaluation, success)
    and its own warehouse connection, and the checks of a table share the latest write's scope.
    """
    checks = table_checks(table)
    specs = [
        dg.AssetCheckSpec(c.name, asset=key_of(table), blocking=c.blocking, description=c.description) for c in checks
    ]

    @dg.multi_asset_check(specs=specs, name=f"{table}_checks", can_subset=True)
    def run_checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, settings: SyncSettings
    ) -> Iterator[dg.AssetCheckResult]:
        selected = {key.name for key in context.selected_asset_check_keys}
        with warehouse.open() as wh:
            scope = written_scope(context.instance, wh, key_of(table))
            judged = Judged(table, scope, wh if scope is not None else None, settings, context.instance)
            for c in checks:
                if c.name in selected:
                    result = c.judge(judged)
                    yield result._replace(asset_key=key_of(table), check_name=c.name)

    return run_checks


def declared_table_checks(tables: list[str]) -> list[dg.AssetChecksDefinition]:
    """The checks of declared metric tables (per-rule conversions, custom reports)."""
    return [_checks_of(table) for table in tables]


asset_checks: list[dg.AssetChecksDefinition] = [_checks_of(t) for t in (CAMPAIGN_DAILY, CREATIVE_DAILY, DEMOGRAPHICS)]
