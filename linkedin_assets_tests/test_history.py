"""Entity history: every version LinkedIn shows of accounts, campaign groups, campaigns and creatives, kept by the
same writes as the current tables, and the README's point-in-time query."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import psycopg
import pytest

from linkedin_assets.warehouse import HISTORY
from linkedin_assets_tests.ground_truth import campaign_row, sync_in_process

pytestmark = pytest.mark.postgres

README = Path(__file__).resolve().parents[1] / "README.md"
DAILY = ("linkedin_daily_sync",)


def _point_in_time_sql(schema: str) -> str:
    """The README's "campaigns as they were on 2026-10-01" query, run as documented (schema and day swapped in)."""
    found = re.search(r"```sql\n(-- campaigns as they were.*?)```", README.read_text(), re.S)
    assert found, "the README documents a point-in-time query"
    return found.group(1).replace("linkedin_ads.", f'"{schema}".').replace("'2026-10-02'", "%(after)s")


def test_a_change_between_two_syncs_is_exactly_one_new_version(make_simulator, pg_url, pg_schema, tmp_path):
    """Two syncs: one campaign edited in Campaign Manager (LinkedIn's last-modified moves), one changed by LinkedIn
    itself (serving statuses, last-modified unchanged), everything else unchanged. Each changed campaign gets exactly
    one new version equal to what LinkedIn now returns; the unchanged entities get none, their one version is seen
    by the second run; and the README's point-in-time query gives the old state for a moment between the syncs."""
    sim = make_simulator(profile="custom", accounts=2, campaigns_per_account=3, creatives_per_campaign=1, days=5,
                         seed=51)  # fmt: skip
    end = sim.state.dataset.today - dt.timedelta(days=1)
    first = sync_in_process(sim, pg_url, pg_schema, tmp_path, end, end, jobs=DAILY)
    assert [r.success for r in first.results] == [True]
    between = dt.datetime.now(dt.UTC)
    edited, touched_by_linkedin = (c["id"] for c in sim.state.dataset.campaigns[:2])
    old = campaign_row(next(c for c in sim.state.dataset.campaigns if c["id"] == edited))
    sim.state.edit_campaign(edited, {"status": "PAUSED", "dailyBudget": {"amount": "123.45", "currencyCode": "USD"}})
    sim.state.edit_campaign(touched_by_linkedin, {"servingStatuses": ["CAMPAIGN_GROUP_STATUS_HOLD"]}, touch=False)

    second = sync_in_process(sim, pg_url, pg_schema, tmp_path, end, end, jobs=DAILY)
    assert [r.success for r in second.results] == [True]
    run_1, run_2 = first.run_id(DAILY[0]), second.run_id(DAILY[0])
    with psycopg.connect(pg_url) as conn:
        counts = {
            name: conn.execute(f'SELECT count(*), count(DISTINCT id) FROM "{pg_schema}".{spec.name}').fetchone()
            for name, spec in HISTORY.items()
        }
        current = {name: conn.execute(f'SELECT count(*) FROM "{pg_schema}".{name}').fetchone()[0] for name in HISTORY}
        versions = conn.execute(
            f"SELECT id, status, daily_budget_amount, serving_statuses, last_modified_time, first_seen_run_id, "
            f'last_seen_run_id FROM "{pg_schema}".campaigns_history ORDER BY id, first_seen_at'
        ).fetchall()
        as_then = {r[0]: r for r in conn.execute(_point_in_time_sql(pg_schema), {"after": between}).fetchall()}
        columns = [d.name for d in conn.execute(_point_in_time_sql(pg_schema), {"after": between}).description]

    # one version per entity, plus one per changed campaign
    for name, (rows, entities) in counts.items():
        assert entities == current[name] and rows == entities + (2 if name == "campaigns" else 0), name
    by_id: dict[int, list] = {}
    for row in versions:
        by_id.setdefault(row[0], []).append(row)
    for campaign_id, rows in by_id.items():
        if campaign_id not in (edited, touched_by_linkedin):
            assert [(r[5], r[6]) for r in rows] == [(run_1, run_2)], "unchanged: no version, seen again"
    new = campaign_row(next(c for c in sim.state.dataset.campaigns if c["id"] == edited))
    (was, now) = by_id[edited]
    assert (was[1], was[2], was[4], was[5], was[6]) == (
        old["status"], old["daily_budget_amount"], old["last_modified_time"], run_1, run_1
    )  # fmt: skip
    assert (now[1], now[2], now[4], now[5], now[6]) == ("PAUSED", new["daily_budget_amount"], new["last_modified_time"],
                                                        run_2, run_2)  # fmt: skip
    assert now[4] > was[4]
    (was, now) = by_id[touched_by_linkedin]
    assert was[4] == now[4] and now[3] == ["CAMPAIGN_GROUP_STATUS_HOLD"] != was[3]

    # the point-in-time query: every campaign once, as it was between the syncs
    assert set(as_then) == set(by_id)
    status = columns.index("status")
    assert as_then[edited][status] == old["status"] != "PAUSED"


def test_a_renamed_conversion_rule_is_one_new_version_under_its_fivetran_name(make_simulator, pg_url, pg_schema,
                                                                              tmp_path):  # fmt: skip
    """A conversion rule renamed and disabled between two syncs: exactly one new version in conversions_history,
    both versions in the Fivetran view conversion_history (keyed by id and last_modified_time), the others
    unchanged; the current table holds the new state."""
    sim = make_simulator(profile="custom", accounts=1, campaigns_per_account=2, creatives_per_campaign=1, days=5,
                         seed=52)  # fmt: skip
    end = sim.state.dataset.today - dt.timedelta(days=1)
    assert [r.success for r in sync_in_process(sim, pg_url, pg_schema, tmp_path, end, end, jobs=DAILY).results] == [
        True
    ]
    with psycopg.connect(pg_url) as conn:
        ((rule, rules),) = conn.execute(f'SELECT min(id), count(*) FROM "{pg_schema}".conversions').fetchall()
    assert rules >= 2
    sim.state.edit_conversion(rule, {"name": "Purchase - renamed", "enabled": False})
    assert [r.success for r in sync_in_process(sim, pg_url, pg_schema, tmp_path, end, end, jobs=DAILY).results] == [
        True
    ]
    with psycopg.connect(pg_url) as conn:
        history = conn.execute(
            f'SELECT id, name, enabled FROM "{pg_schema}".conversions_history ORDER BY id, first_seen_at'
        ).fetchall()
        view = conn.execute(
            f'SELECT name, last_modified_time FROM "{pg_schema}_fivetran".conversion_history WHERE id = %(id)s '
            "ORDER BY last_modified_time",
            {"id": rule},
        ).fetchall()
        current = conn.execute(f'SELECT name, enabled FROM "{pg_schema}".conversions WHERE id = %(id)s', {"id": rule})
        assert current.fetchone() == ("Purchase - renamed", False)
    assert len(history) == rules + 1
    versions = [(name, enabled) for i, name, enabled in history if i == rule]
    assert len(versions) == 2 and versions[1] == ("Purchase - renamed", False) and versions[0][0] != versions[1][0]
    assert [name for name, _ in view] == [versions[0][0], "Purchase - renamed"] and view[0][1] < view[1][1]
