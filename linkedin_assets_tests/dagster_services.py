"""Test harness: ``dagster-webserver`` and ``dagster-daemon`` as subprocesses, driven through GraphQL.

``linkedin_deployment`` starts both for the real code location (``linkedin_assets.definitions``) on a PostgreSQL
instance of their own (``deploy/dagster-postgres.yaml`` in a fresh ``DAGSTER_HOME``, set up as ``make dev`` does),
with a simulator as LinkedIn and a PostgreSQL warehouse schema.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import psycopg

from linkedin_assets.settings import LINKEDIN_POOL
from linkedin_assets.settings import VARIABLES as ENV
from linkedin_assets.simulator import SimulatorServer
from linkedin_assets_tests.ground_truth import assert_warehouse_matches

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = ENV["data_dir"]
PG_URL_ENV = "DAGSTER_PG_URL"
REPOSITORY_LABEL = "__repository__@linkedin_assets"
"""The tag Dagster gives runs of the code location (how the UI lists a job's runs)."""
DEFINITIONS_MODULE = "linkedin_assets.definitions"
ADMIN_URL = os.environ.get("LINKEDIN_ASSETS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
BIN_DIR = Path(sys.executable).parent

_LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on Error { message }
  }
}"""
_RUN_STATUS = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status } ... on Error { message } }
}"""
_RUNS = """
query Runs($limit: Int) {
  runsOrError(limit: $limit) {
    __typename
    ... on Runs { results { runId jobName status startTime endTime tags { key value } assetSelection { path } } }
    ... on Error { message }
  }
}"""
# The filter of the UI's job page (its Runs tab): the job's name and the code location's repository label.
_JOB_RUNS = """
query JobRuns($filter: RunsFilter!) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs {
      results { runId jobName status tags { key value } repositoryOrigin { repositoryLocationName repositoryName } }
    }
    ... on Error { message }
  }
}"""
_LOGS = """
query Logs($runId: ID!, $after: String) {
  logsForRun(runId: $runId, afterCursor: $after) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events { __typename ... on MessageEvent { message level timestamp stepKey } }
    }
    ... on Error { message }
  }
}"""
_DAEMONS = """
{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy lastHeartbeatTime } } } }"""
_LOCATIONS = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}"""


class GraphQLError(RuntimeError):
    """The webserver answered a GraphQL request with errors or an error union member."""


@dataclass(frozen=True)
class DagsterHome:
    """An isolated instance: ``path`` holds the repo's dagster.yaml, ``env`` selects its data dir and storage."""

    path: Path
    env: dict[str, str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def fresh_pg_database(admin_url: str = ADMIN_URL) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped on exit."""
    name = f"linkedin_assets_dagster_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def set_pool_limit(env: Mapping[str, str]) -> None:
    """Limit the linkedin_api pool to 1 with the stock CLI, as ``make dev`` does before the first run."""
    subprocess.run(
        [str(BIN_DIR / "dagster"), "instance", "concurrency", "set", LINKEDIN_POOL, "1"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=120,
    )


@contextmanager
def isolated_dagster_home(root: Path) -> Iterator[DagsterHome]:
    """A DAGSTER_HOME under ``root`` with deploy/dagster-postgres.yaml on a fresh database, and its own data dir."""
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    with fresh_pg_database() as url:
        env = {
            "DAGSTER_HOME": str(home),
            DATA_DIR_ENV: str(root / "data"),
            PG_URL_ENV: url.replace("postgresql://", "postgresql+psycopg2://", 1),
        }
        set_pool_limit(env)
        yield DagsterHome(home, env)


@contextmanager
def open_instance(home: DagsterHome) -> Iterator[dg.DagsterInstance]:
    """The instance of ``home`` in this process (its dagster.yaml reads ``home.env`` while it loads)."""
    saved = {key: os.environ.get(key) for key in home.env}
    os.environ.update(home.env)
    try:
        instance = dg.DagsterInstance.from_config(str(home.path))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        yield instance
    finally:
        instance.dispose()


@dataclass(frozen=True)
class LinkedInDeployment:
    """The real code location behind ``services``, syncing ``sim`` into ``schema`` of ``warehouse_url``."""

    home: DagsterHome
    services: DagsterServices
    sim: SimulatorServer
    warehouse_url: str
    schema: str

    @property
    def data_dir(self) -> Path:
        return Path(self.home.env[DATA_DIR_ENV])

    def assert_synced(self, written_by: str) -> None:
        """The warehouse holds the simulator's entities and daily campaign metrics (see ``assert_warehouse_matches``)."""
        assert_warehouse_matches(self.sim, self.warehouse_url, self.schema, written_by)


@contextmanager
def linkedin_deployment(root: Path, sim: SimulatorServer, warehouse_url: str) -> Iterator[LinkedInDeployment]:
    """Webserver and daemon of ``linkedin_assets.definitions`` on a PostgreSQL instance of their own under ``root``.

    The warehouse is a new schema of ``warehouse_url``; the data dir and token store are under ``root``.
    """
    schema = f"dagster_{uuid.uuid4().hex[:10]}"
    with isolated_dagster_home(root) as home:
        env = {
            **home.env,
            "LINKEDIN_API_BASE_URL": sim.api_base_url,
            "LINKEDIN_OAUTH_BASE_URL": sim.oauth_base_url,
            "LINKEDIN_CLIENT_ID": sim.client_id,
            "LINKEDIN_CLIENT_SECRET": sim.client_secret,
            "LINKEDIN_REFRESH_TOKEN": sim.refresh_token,
            "LINKEDIN_ACCESS_TOKEN": sim.access_token,
            "LINKEDIN_TOKEN_STORE": str(root / "tokens.json"),
            ENV["database_url"]: warehouse_url,
            "LINKEDIN_ASSETS_SCHEMA": schema,
        }
        with DagsterServices(home.path, DEFINITIONS_MODULE, env=env) as services:
            yield LinkedInDeployment(home, services, sim, warehouse_url, schema)


class DagsterServices:
    """``dagster-webserver`` and ``dagster-daemon run`` for one code location, as a context manager.

    Both run in their own session (process group) with ``DAGSTER_HOME=dagster_home`` plus ``env``; their output goes
    to ``webserver.log`` and ``daemon.log`` in ``dagster_home``.
    """

    def __init__(
        self,
        dagster_home: Path,
        module: str,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        startup_timeout: float = 120.0,
    ):
        self.dagster_home = Path(dagster_home)
        self.module = module
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self._env = {**os.environ, **(env or {}), "DAGSTER_HOME": str(self.dagster_home)}
        self._processes: dict[str, subprocess.Popen] = {}
        self._http = httpx.Client(base_url=self.url, timeout=30.0)
        self._location: str | None = None

    def __enter__(self) -> DagsterServices:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self._http.close()

    # lifecycle

    def start(self) -> None:
        """Start both services and wait until the UI answers, the code location loaded and the daemons beat."""
        started_at = time.time()
        # The project's code location as `make dev` loads it (workspace.yaml names it linkedin_assets).
        if self.module == DEFINITIONS_MODULE:
            target = ["-w", str(REPO_ROOT / "workspace.yaml")]
        else:
            target = ["-m", self.module, "-d", str(REPO_ROOT)]
        self._spawn("webserver", ["dagster-webserver", "-h", "127.0.0.1", "-p", str(self.port), *target])
        self._spawn("daemon", ["dagster-daemon", "run", *target])
        try:
            self._wait_until_ready(started_at)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 20.0) -> None:
        """SIGINT each process group, then SIGKILL whatever is left after ``timeout`` seconds."""
        for process in self._processes.values():
            _signal_group(process, signal.SIGINT)
        deadline = time.monotonic() + timeout
        for process in self._processes.values():
            with suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
            # Code servers and run workers share the group and may outlive their parent.
            _signal_group(process, signal.SIGKILL)
            process.wait()
        self._processes.clear()

    @property
    def env(self) -> dict[str, str]:
        """The environment of both services (a CLI given it talks to the same instance and LinkedIn)."""
        return dict(self._env)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _spawn(self, name: str, argv: Sequence[str]) -> None:
        log = open(self.dagster_home / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child from here on
        with log:
            self._processes[name] = subprocess.Popen(
                [str(BIN_DIR / argv[0]), *argv[1:]],
                cwd=REPO_ROOT,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # A shell that backgrounds pytest ignores SIGINT, and children inherit that (gotcha 3).
                preexec_fn=_default_signal_handlers,
            )

    def _wait_until_ready(self, started_at: float) -> None:
        deadline = time.monotonic() + self.startup_timeout
        checks = [self._server_answers, self._location_loaded, lambda: self._daemons_beating_since(started_at)]
        for check in checks:
            while not check():
                for name, process in self._processes.items():
                    if process.poll() is not None:
                        raise RuntimeError(f"dagster {name} exited with {process.returncode}:\n{self.log_tail(name)}")
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"Dagster services not ready after {self.startup_timeout:.0f}s ({check}):\n"
                        f"{self.log_tail('webserver')}\n{self.log_tail('daemon')}"
                    )
                time.sleep(0.5)

    def _server_answers(self) -> bool:
        try:
            return self._http.get("/server_info").status_code == 200
        except httpx.TransportError:
            return False

    def _location_loaded(self) -> bool:
        entries = self.graphql(_LOCATIONS)["workspaceOrError"]["locationEntries"]
        for entry in entries:
            error = entry["locationOrLoadError"]
            if error and error["__typename"] == "PythonError":
                raise GraphQLError(f"Code location {entry['name']} failed to load: {error['message']}")
        loaded = [entry["name"] for entry in entries if entry["loadStatus"] == "LOADED"]
        if loaded:
            self._location = loaded[0]
        return bool(loaded)

    def _daemons_beating_since(self, started_at: float) -> bool:
        statuses = self.daemon_statuses()
        required = [status for status in statuses if status["required"]]
        return bool(required) and all(
            status["healthy"] and (status["lastHeartbeatTime"] or 0) >= started_at for status in required
        )

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.dagster_home / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # GraphQL

    @property
    def location_name(self) -> str:
        if self._location is None:
            self._location_loaded()
        if self._location is None:
            raise GraphQLError("No code location is loaded")
        return self._location

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST a query to /graphql and return its ``data``; raise ``GraphQLError`` on errors."""
        response = self._http.post("/graphql", json={"query": query, "variables": dict(variables or {})})
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise GraphQLError("; ".join(error["message"] for error in body["errors"]))
        return body["data"]

    def launch_job(
        self,
        job_name: str,
        partition_key: str | None = None,
        partition_range: tuple[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        asset_selection: Sequence[Sequence[str]] | None = None,
    ) -> str:
        """Launch ``job_name`` as the UI's Launch button does (the run is QUEUED); return its run id."""
        selector: dict[str, Any] = {
            "repositoryLocationName": self.location_name,
            "repositoryName": "__repository__",
            "pipelineName": job_name,
        }
        if asset_selection is not None:
            selector["assetSelection"] = [{"path": list(path)} for path in asset_selection]
            selector["assetCheckSelection"] = []
        all_tags = dict(tags or {})
        if partition_key is not None:
            all_tags["dagster/partition"] = partition_key
        if partition_range is not None:
            all_tags["dagster/asset_partition_range_start"], all_tags["dagster/asset_partition_range_end"] = (
                partition_range
            )
        params = {
            "selector": selector,
            "mode": "default",
            "executionMetadata": {"tags": [{"key": key, "value": value} for key, value in all_tags.items()]},
        }
        result = self.graphql(_LAUNCH, {"params": params})["launchPipelineExecution"]
        if result["__typename"] != "LaunchRunSuccess":
            raise GraphQLError(f"{result['__typename']}: {result.get('message')}")
        return result["run"]["runId"]

    def launch_assets(
        self,
        asset_paths: Sequence[Sequence[str]],
        partition_key: str | None = None,
        partition_range: tuple[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Materialize assets through the implicit ``__ASSET_JOB``, as the UI's Materialize button does."""
        return self.launch_job("__ASSET_JOB", partition_key, partition_range, tags, asset_selection=asset_paths)

    def run_status(self, run_id: str) -> str:
        result = self.graphql(_RUN_STATUS, {"runId": run_id})["runOrError"]
        if result["__typename"] != "Run":
            raise GraphQLError(f"{result['__typename']}: {result.get('message')}")
        return result["status"]

    def wait_for_run(self, run_id: str, timeout: float = 120.0, poll_s: float = 0.5) -> str:
        """Poll until the run reaches SUCCESS, FAILURE or CANCELED; return that status."""
        deadline = time.monotonic() + timeout
        while (status := self.run_status(run_id)) not in TERMINAL_STATUSES:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Run {run_id} still {status} after {timeout:.0f}s:\n{self.log_tail('daemon')}")
            time.sleep(poll_s)
        return status

    def wait_for_run_tagged(self, key: str, value: str, timeout: float = 120.0, poll_s: float = 0.5) -> dict[str, Any]:
        """Poll the latest runs until one carries the tag ``key=value`` (e.g. a run a sensor requested); return it."""
        deadline = time.monotonic() + timeout
        while not (runs := [run for run in self.list_runs() if run["tags"].get(key) == value]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"No run tagged {key}={value} after {timeout:.0f}s:\n{self.log_tail('daemon')}")
            time.sleep(poll_s)
        return runs[0]

    def list_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest runs, newest first, with ``tags`` as a dict."""
        result = self.graphql(_RUNS, {"limit": limit})["runsOrError"]
        if result["__typename"] != "Runs":
            raise GraphQLError(f"{result['__typename']}: {result.get('message')}")
        return [{**run, "tags": {tag["key"]: tag["value"] for tag in run["tags"]}} for run in result["results"]]

    def job_runs(self, job_name: str) -> list[dict[str, Any]]:
        """The runs the UI's job page lists for ``job_name`` (same filter), newest first, ``tags`` as a dict."""
        run_filter = {"pipelineName": job_name, "tags": [{"key": ".dagster/repository", "value": REPOSITORY_LABEL}]}
        result = self.graphql(_JOB_RUNS, {"filter": run_filter})["runsOrError"]
        if result["__typename"] != "Runs":
            raise GraphQLError(f"{result['__typename']}: {result.get('message')}")
        return [{**run, "tags": {tag["key"]: tag["value"] for tag in run["tags"]}} for run in result["results"]]

    def logs_for_run(self, run_id: str) -> list[dict[str, Any]]:
        """Every event of the run as ``{__typename, message, level, timestamp, stepKey}``."""
        events: list[dict[str, Any]] = []
        cursor = None
        while True:
            result = self.graphql(_LOGS, {"runId": run_id, "after": cursor})["logsForRun"]
            if result["__typename"] != "EventConnection":
                raise GraphQLError(f"{result['__typename']}: {result.get('message')}")
            events += result["events"]
            cursor = result["cursor"]
            if not result["hasMore"]:
                return events

    def daemon_statuses(self) -> list[dict[str, Any]]:
        return self.graphql(_DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]


def _default_signal_handlers() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
