"""The project's Dagster instance: storage chosen at load time, state under the data directory, one sync at a time.

The repo-root ``dagster.yaml`` names the classes below. Storage is PostgreSQL when ``DAGSTER_PG_URL`` is set and
embedded SQLite under ``<data dir>/dagster`` otherwise; artifacts and compute logs always live under
``<data dir>/dagster``. The data directory is ``LINKEDIN_ASSETS_DATA_DIR`` (relative values are taken from the repo
root) or ``<repo>/data``, so every command sees the same instance whatever its cwd or ``DAGSTER_HOME``.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._config.config_schema import UserConfigSchema
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.base import EventLogStorage
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.root import LocalArtifactStorage
from dagster._core.storage.runs.base import RunStorage
from dagster._core.storage.schedules.base import ScheduleStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._serdes import ConfigurableClass, ConfigurableClassData
from sqlalchemy.exc import IntegrityError

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = "LINKEDIN_ASSETS_DATA_DIR"
PG_URL_ENV = "DAGSTER_PG_URL"

SYNC_TAG = "linkedin_assets/sync"
"""Run tag carried by every LinkedIn sync job; ``dagster.yaml`` limits runs with it to one at a time."""
LINKEDIN_POOL = "linkedin_api"
"""Concurrency pool of the assets that call the LinkedIn API (run granularity, limit 1)."""
SYNC_JOBS = ("linkedin_daily_sync", "linkedin_monthly_sync")
IN_FLIGHT_STATUSES = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
)


def data_dir() -> Path:
    """The runtime data directory: ``$LINKEDIN_ASSETS_DATA_DIR`` or ``<repo>/data``, as an absolute path."""
    configured = os.environ.get(DATA_DIR_ENV)
    return (REPO_ROOT / configured).resolve() if configured else REPO_ROOT / "data"


def dagster_dir() -> Path:
    """Where the instance keeps SQLite storage, run artifacts and compute logs."""
    return data_dir() / "dagster"


def postgres_url(env_var: str = PG_URL_ENV) -> str | None:
    """The PostgreSQL URL from ``env_var`` with the psycopg2 driver made explicit, or None if unset.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, whose server-side binding breaks dagster-postgres's
    ``NOTIFY``; dagster-postgres needs psycopg2.
    """
    url = os.environ.get(env_var)
    if not url:
        return None
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"{env_var} is not a URL of the form postgresql://user:password@host:port/database")
    if scheme in ("postgres", "postgresql"):
        scheme = "postgresql+psycopg2"
    return f"{scheme}://{rest}"


class LinkedInStorage(DagsterStorage, ConfigurableClass):
    """Dagster storage that is PostgreSQL when the configured env var holds a URL and SQLite otherwise.

    ``pool_limits`` are written to the storage when it loads unless the pool already has a limit (one set in the UI
    stays). The run queue only honours a pool that has a limit row, and ``pools.default_limit`` creates that row
    during the first dequeue pass, too late for it: two runs queued together on a fresh instance both start.
    """

    def __init__(self, storage: DagsterStorage, inst_data: ConfigurableClassData | None = None):
        self._storage = storage
        self._inst_data = inst_data
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {
            "postgres_url_env": dg.Field(str, default_value=PG_URL_ENV, is_required=False),
            "pool_limits": dg.Field(dg.Map(str, int), default_value={}, is_required=False),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> LinkedInStorage:
        url = postgres_url(config_value["postgres_url_env"])
        with _creation_lock():
            if url:
                from dagster_postgres import DagsterPostgresStorage

                storage: DagsterStorage = DagsterPostgresStorage(postgres_url=url)
            else:
                storage = DagsterSqliteStorage.from_local(str(dagster_dir()))
            _ensure_pool_limits(storage.event_log_storage, config_value["pool_limits"])
        return cls(storage, inst_data)

    @property
    def event_log_storage(self) -> EventLogStorage:
        return self._storage.event_log_storage

    @property
    def run_storage(self) -> RunStorage:
        return self._storage.run_storage

    @property
    def schedule_storage(self) -> ScheduleStorage:
        return self._storage.schedule_storage


@contextmanager
def _creation_lock() -> Iterator[None]:
    """Serialise opening the storage across local processes: the first opening creates the tables and stamps
    their migration version, and two processes doing that at once (two `linkedin-assets sync` on a new data
    directory) collide on ``alembic_version``."""
    dagster_dir().mkdir(parents=True, exist_ok=True)
    with open(dagster_dir() / ".storage.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ensure_pool_limits(event_log: EventLogStorage, limits: Mapping[str, int]) -> None:
    if not limits or not event_log.supports_global_concurrency_limits:
        return
    configured = event_log.get_concurrency_keys()
    for pool, limit in limits.items():
        if pool in configured:
            continue
        # The webserver and the daemon load the instance at the same moment; one of them wins the insert.
        with suppress(IntegrityError):
            event_log.set_concurrency_slots(pool, limit)


class DataDirArtifactStorage(LocalArtifactStorage):
    """Run artifacts under ``<data dir>/dagster``."""

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict) -> DataDirArtifactStorage:
        return cls(str(dagster_dir()), inst_data=inst_data)


class DataDirComputeLogManager(LocalComputeLogManager):
    """Step stdout/stderr under ``<data dir>/dagster/storage``."""

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict) -> DataDirComputeLogManager:
        return cls(str(dagster_dir() / "storage"), inst_data=inst_data)


def get_instance() -> dg.DagsterInstance:
    """The persistent instance described by the repo's ``dagster.yaml`` (the one the webserver and daemon use)."""
    return dg.DagsterInstance.from_config(str(REPO_ROOT))


def in_flight_syncs(instance: dg.DagsterInstance, jobs: Collection[str] = SYNC_JOBS) -> list[dg.DagsterRun]:
    """Runs not yet finished that sync LinkedIn: tagged ``SYNC_TAG``, of one of ``jobs``, or using the API pool."""
    runs = instance.get_runs(dg.RunsFilter(statuses=list(IN_FLIGHT_STATUSES)))
    return [
        run
        for run in runs
        if SYNC_TAG in run.tags
        or run.job_name in jobs
        or (run.run_op_concurrency is not None and LINKEDIN_POOL in (run.run_op_concurrency.all_pools or ()))
    ]


def wait_for_idle_sync(
    instance: dg.DagsterInstance,
    poll_s: float = 1.0,
    log: Callable[[str], object] = print,
    jobs: Collection[str] = SYNC_JOBS,
) -> None:
    """Block until no LinkedIn sync run (see ``in_flight_syncs``) is queued or in progress."""
    waiting_for: set[str] = set()
    while runs := in_flight_syncs(instance, jobs):
        run_ids = {run.run_id for run in runs}
        if run_ids != waiting_for:
            described = ", ".join(f"{run.run_id} ({run.job_name}, {run.status.value})" for run in runs)
            log(f"Waiting for LinkedIn sync run(s) to finish: {described}")
            waiting_for = run_ids
        time.sleep(poll_s)
