"""The Dagster processes a ``linkedin-assets sync`` needs when no deployment runs them: a code server and the daemon.

Both are Dagster's own commands, started as children of this command (``prctl(PR_SET_PDEATHSIG)``: they end with it,
even when it is killed) with the environment this command was given:

* ``dagster api grpc``: the code location, loaded once. Runs are created against it (so they carry its origin), and
  the daemon launches their workers through it (``dagster api execute_run``, Dagster's default run launcher).
* ``dagster-daemon run``: the stock daemon, when none heartbeats on the instance. It dequeues runs under
  ``dagster.yaml``'s limits, launches them, monitors them and evaluates the sensors. One command at a time keeps a
  daemon of its own (a lock file in ``$DAGSTER_HOME``); another command's runs wait in the same queue and are started
  by that daemon, or by its own once the first command has finished.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import dagster as dg

MODULE = "linkedin_assets.definitions"
LOCATION = "linkedin_assets"
DAEMON_FRESH_S = 90.0
"""A queue daemon heartbeat younger than this means a daemon serves the instance (it beats every 30 s)."""
READY_TIMEOUT_S = 120.0
CHECK_EVERY_S = 1.0
_PR_SET_PDEATHSIG = 1


class ServiceError(RuntimeError):
    """A Dagster process this command started did not come up; the message says which and where its log is."""


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGTERM when the parent dies (Linux; elsewhere the child outlives it)."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _command(script: str, *args: str) -> list[str]:
    """A Dagster console script of this interpreter's environment (the venv's, whatever PATH says)."""
    return [str(Path(sys.executable).parent / script), *args]


def _start(command: list[str], env: Mapping[str, str], log: IO[bytes]) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )


def _stop(*processes: subprocess.Popen | None, grace_s: float = 0.5) -> None:
    """SIGTERM to all (Dagster shuts down cleanly on it), then SIGKILL to those still running after ``grace_s``.
    Called once this command's runs have ended: their workers are processes of their own, already gone."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + grace_s
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def code_server(env: Mapping[str, str], workdir: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """``dagster api grpc`` serving the code location on a Unix socket in ``workdir``; yields the socket's path and
    the process (stopped on exit unless the caller stopped it)."""
    socket = workdir / "code.sock"
    log_path = workdir / "code_server.log"
    with open(log_path, "wb") as log:
        command = [
            *_command("dagster", "api", "grpc"),
            "--module-name", MODULE, "--location-name", LOCATION,
            "--working-directory", os.getcwd(), "--socket", str(socket),
        ]  # fmt: skip
        process = _start(command, env, log)
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not socket.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise ServiceError(
                        f"the code server (dagster api grpc -m {MODULE}) did not start; its last lines:\n"
                        + _tail(log_path)
                    )
                time.sleep(0.05)
            yield str(socket), process
        finally:
            _stop(process)


def daemon_alive(instance: dg.DagsterInstance, ignore: frozenset[str] = frozenset()) -> bool:
    """Whether a daemon that dequeues runs (other than those in ``ignore``) has beaten recently on this instance."""
    beat = instance.get_daemon_heartbeats().get("QUEUED_RUN_COORDINATOR")
    return beat is not None and beat.daemon_id not in ignore and time.time() - beat.timestamp < DAEMON_FRESH_S


class Daemons:
    """Makes sure a daemon serves the instance while this command waits for its runs (``ensure``, called in its wait
    loop): a daemon of the deployment (``make dev``, a server), another command's, or one started here."""

    def __init__(self, instance: dg.DagsterInstance, workspace: Path, env: Mapping[str, str]) -> None:
        self.instance, self.workspace, self.env, self.workdir = instance, workspace, env, workspace.parent
        self.home = Path(instance.root_directory)
        self._lock: IO[str] | None = None
        self._process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None
        self._known: Any = None
        self._recorded = False
        self._next_check = 0.0

    @property
    def _ours_file(self) -> Path:
        return self.home / ".linkedin_assets_cli_daemon"

    def _ours(self) -> frozenset[str]:
        """The id of the last daemon a command like this one started: its heartbeat outlives it, and the instance
        keeps only the latest heartbeat, so that one id is all that can be mistaken for a deployment's daemon."""
        try:
            return frozenset(self._ours_file.read_text().split())
        except OSError:
            return frozenset()

    def ensure(self) -> None:
        """At most once a second (it reads the instance's heartbeats): start a daemon when none serves the queue."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + CHECK_EVERY_S
        if self._process is not None:
            if self._process.poll() is not None:
                raise ServiceError(f"the dagster-daemon this command started exited; its last lines:\n{self._tail()}")
            self._record_heartbeat()
            return
        if daemon_alive(self.instance, ignore=self._ours()):
            return  # the deployment's daemon serves the queue
        self._lock = self._lock or open(self.home / ".linkedin_assets_cli_daemon.lock", "a")  # noqa: SIM115
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another command's daemon serves the queue; ours starts when that command is done
        self._log = open(self.workdir / "daemon.log", "wb")  # noqa: SIM115
        env = {**self.env, "DAGSTER_HOME": str(self.home)}
        self._process = _start(_command("dagster-daemon", "run", "-w", str(self.workspace)), env, self._log)
        self._known = self.instance.get_daemon_heartbeats().get("QUEUED_RUN_COORDINATOR")

    def _record_heartbeat(self) -> None:
        """Once the new daemon has beaten, remember its id as one of ours (its heartbeats outlive it)."""
        if self._recorded:
            return
        beat = self.instance.get_daemon_heartbeats().get("QUEUED_RUN_COORDINATOR")
        if beat is not None and (self._known is None or beat.daemon_id != self._known.daemon_id):
            self._ours_file.write_text(beat.daemon_id)
            self._recorded = True

    def _tail(self) -> str:
        return _tail(self.workdir / "daemon.log")

    def close(self) -> None:
        """Stop the daemon started here (its lock goes with it: another command may start one)."""
        _stop(self._process)
        for handle in (self._log, self._lock):
            if handle is not None:
                handle.close()  # closing the lock file releases the lock


def workspace_file(socket: str, workdir: Path) -> Path:
    """A workspace of the command's code server under the location's own name (for the daemon and ``job launch``)."""
    path = workdir / "workspace.yaml"
    path.write_text(f"load_from:\n  - grpc_server:\n      socket: {socket}\n      location_name: {LOCATION}\n")
    return path


def runs_launched_through(instance: dg.DagsterInstance, socket: str) -> list[dg.DagsterRun]:
    """Runs in progress whose worker the code server on ``socket`` started (Dagster's ``.dagster/grpc_info`` tag):
    our daemon dequeues every command's runs, another command's too, and launches them through our code server."""
    from linkedin_assets.defs.run_health import GRPC_INFO_TAG, IN_PROGRESS, why_dead

    found = []
    for run in instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS)):
        with suppress(ValueError):
            if json.loads(run.tags.get(GRPC_INFO_TAG, "{}")).get("socket") == socket and not why_dead(instance, run):
                found.append(run)
    return found


def hand_over(instance: dg.DagsterInstance, socket: str, echo: Callable[[str], None]) -> None:
    """Before the code server stops: wait for the runs it launched for other commands (ours have ended). The daemon
    is stopped first, so no new run comes through it; the other command starts a daemon of its own meanwhile."""
    said: set[str] = set()
    while running := runs_launched_through(instance, socket):
        for run in running:
            if run.run_id not in said:
                said.add(run.run_id)
                echo(
                    f"waiting for run {run.run_id[:8]} ({run.job_name}) of another command: this command's code "
                    "server executes it"
                )
        time.sleep(CHECK_EVERY_S / 2)


@contextmanager
def services(
    instance: dg.DagsterInstance, env: Mapping[str, str], echo: Callable[[str], None] = print
) -> Iterator[tuple[Path, Daemons]]:
    """A code server (yielded as a workspace file) and a daemon keeper for one command; both stopped when it ends,
    the daemon first, the code server once the runs it executes for other commands have ended. Logs in a temporary
    folder."""
    with tempfile.TemporaryDirectory(prefix="linkedin-assets-") as tmp, code_server(env, Path(tmp)) as (socket, server):
        workspace = workspace_file(socket, Path(tmp))
        daemons = Daemons(instance, workspace, env)
        try:
            yield workspace, daemons
        finally:
            daemons.close()
            hand_over(instance, socket, echo)
            _stop(server)
