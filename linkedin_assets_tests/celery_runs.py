"""The orchestrating process of the Celery test's runs (what a run launcher's ``dagster api execute_run`` is in a
deployment): it executes the daily sync job on the instance in ``$DAGSTER_HOME`` with the executor the environment
selects, and the Celery workers reconstruct the job from :func:`daily_sync_job`.

    python -m linkedin_assets_tests.celery_runs run '<tags as JSON>' [prefix/asset,prefix/asset,...]
    python -m linkedin_assets_tests.celery_runs reexecute <failed run id>

Exit code 0 when the run succeeded, 1 when it failed.
"""

from __future__ import annotations

import json
import sys

import dagster as dg

DAILY_JOB = "linkedin_daily_sync"


def daily_sync_job() -> dg.JobDefinition:
    """The code location's daily sync job, with its resources and executor (a reconstructable target)."""
    from linkedin_assets.definitions import defs

    return defs.resolve_job_def(DAILY_JOB)


def main(argv: list[str]) -> int:
    job = dg.reconstructable(daily_sync_job)
    with dg.DagsterInstance.get() as instance:
        if argv[0] == "run":
            assets = [dg.AssetKey.from_user_string(name) for name in argv[2].split(",")] if len(argv) > 2 else None
            result = dg.execute_job(job, instance, tags=json.loads(argv[1]), asset_selection=assets)
        elif argv[0] == "reexecute":
            options = dg.ReexecutionOptions.from_failure(argv[1], instance)
            # execute_job gives the new run only the tags passed here: the parent's carry its partition range
            parent = instance.get_run_by_id(argv[1])
            result = dg.execute_job(job, instance, tags=parent.tags, reexecution_options=options)
        else:
            raise SystemExit(f"unknown command {argv[0]!r}")
        return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
