"""What the entity history costs: history rows, and the seconds of the entity writes with and without it.

For a simulator profile: the daily job of the whole history (a first sync), then a next-day sync after a share of
the campaigns was edited in Campaign Manager (LinkedIn's last-modified moves). Both arms run the same jobs in this
process (``run_stage``, no queue) into fresh PostgreSQL schemas: ``history`` is the project as it is; ``no
history`` switches the entity specs' ``history`` flag off (the tables exist, nothing writes them). Printed per arm:
the entity tables' write seconds (the warehouse's own ``_writes.seconds``: staging, upsert, history, record), the
versions the next day added, and the history rows. The year projection assumes the same edits every day.

    .venv/bin/python benchmarks/bench_history.py --profile medium
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PG_URL = os.environ.get("LINKEDIN_ASSETS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ENTITIES = ("accounts", "campaign_groups", "campaigns", "creatives")


def sync(sim, schema: str, day_range: tuple[dt.date, dt.date], home: Path) -> float:
    """The daily job for ``day_range`` in this process; returns its wall seconds."""
    import dagster as dg

    from linkedin_assets.cli.sync import plan_stages, run_stage
    from linkedin_assets.definitions import build_definitions, build_resources
    from linkedin_assets.defs.io_managers.warehouse import WarehouseResource
    from linkedin_assets.settings import load_settings

    settings = load_settings({**sim.client_env(), "LINKEDIN_TOKEN_STORE": str(home / "tokens.json")})
    resources = build_resources(
        settings, warehouse=WarehouseResource(database_url=PG_URL, schema_name=schema), snapshot_dir=str(home)
    )
    defs = build_definitions(settings, resources)
    started = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        for job, tags in plan_stages(*day_range, settings):
            if job == "linkedin_daily_sync":
                result = run_stage(defs, instance, job, tags)
                assert result.success, f"the {job} run failed"
    return time.perf_counter() - started


def entity_writes(schema: str) -> list[tuple[str, float, int]]:
    """(table, seconds, versions) of each entity write, oldest first."""
    with psycopg.connect(PG_URL) as conn:
        rows = conn.execute(
            f'SELECT table_name, seconds, figures FROM "{schema}"._writes WHERE table_name = ANY(%s) '
            "ORDER BY written_at",
            (list(ENTITIES),),
        ).fetchall()
    return [(table, seconds, int((figures or {}).get("history_versions", 0))) for table, seconds, figures in rows]


def row_counts(schema: str, suffix: str = "") -> dict[str, int]:
    """Rows of each entity table (``suffix="_history"``: of its history)."""
    with psycopg.connect(PG_URL) as conn:
        return {t: conn.execute(f'SELECT count(*) FROM "{schema}".{t}{suffix}').fetchone()[0] for t in ENTITIES}


def arm(label: str, profile: str, edit_share: float, seed: int) -> dict[str, object]:
    from linkedin_assets.simulator import SimulatorConfig, SimulatorServer

    schema = f"bench_history_{uuid.uuid4().hex[:8]}"
    home = Path(tempfile.mkdtemp(prefix="bench_history_"))
    try:
        with SimulatorServer(SimulatorConfig(profile=profile, seed=seed, latency_ms=0)) as sim:
            dataset = sim.state.dataset
            end = dataset.today - dt.timedelta(days=1)
            first_s = sync(sim, schema, (dataset.history_start, end), home)
            first = entity_writes(schema)
            campaigns = dataset.campaigns
            edited = campaigns[: max(1, int(len(campaigns) * edit_share))]
            for campaign in edited:
                sim.state.edit_campaign(campaign["id"], {"status": "PAUSED"})
            next_s = sync(sim, schema, (end, end), home)
            later = entity_writes(schema)[len(first) :]
            rows = row_counts(schema, "_history")
            entities = sum(row_counts(schema).values())
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return {
        "label": label,
        "entities": entities,
        "edited": len(edited),
        "first_sync_s": first_s,
        "first_entity_write_s": sum(s for _, s, _ in first),
        "next_day_s": next_s,
        "next_entity_write_s": sum(s for _, s, _ in later),
        "versions_next_day": sum(v for *_, v in later),
        "history_rows": sum(rows.values()),
    }


def without_history() -> None:
    """Switch the entity specs' ``history`` flag off in this process (the "no history" arm)."""
    from linkedin_assets.warehouse import schema

    for name in schema.HISTORY:
        schema.TABLES[name] = dataclasses.replace(schema.TABLES[name], history=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="medium", choices=("small", "medium", "large"))
    parser.add_argument("--edit-share", type=float, default=0.05, help="campaigns edited before the next day (0.05)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    results = [arm("history", args.profile, args.edit_share, args.seed)]
    without_history()
    results.append(arm("no history", args.profile, args.edit_share, args.seed))
    print(f"profile={args.profile}, {results[0]['edited']} campaign(s) edited before the next-day sync")
    keys = [k for k in results[0] if k != "label"]
    print(f"{'':<24}" + "".join(f"{r['label']:>14}" for r in results))
    for key in keys:
        values = [r[key] for r in results]
        print(f"{key:<24}" + "".join(f"{v:>14.2f}" if isinstance(v, float) else f"{v:>14}" for v in values))
    with_history = results[0]
    per_year = with_history["entities"] + 365 * with_history["versions_next_day"]
    print(
        f"a year of daily syncs with the same edits every day: about {per_year:,} history rows "
        f"({with_history['entities']:,} first versions + 365 x {with_history['versions_next_day']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
