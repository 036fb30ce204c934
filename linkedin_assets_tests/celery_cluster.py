"""Celery workers on this machine for the Celery test and benchmark: a private RabbitMQ virtual host, workers started
by Dagster's own command (``dagster-celery worker start``) with the repo's ``deploy/celery-worker.yaml``, and what
they did (CPU, memory, the steps each executed).

Each worker runs in a session of its own (``dagster-celery`` -> ``celery worker`` -> its pool processes), so that it
can be stopped, killed whole, or its execution process killed, without touching anything else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKER_CONFIG = REPO / "deploy" / "celery-worker.yaml"
TICKS = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")

INSTANCE_YAML = """\
# The instance every process of a run shares: the orchestrator, and the Celery workers (through the run's
# instance reference). Stock PostgreSQL storage; psycopg2 scheme (SQLAlchemy >= 2.1 maps postgresql:// to psycopg 3).
storage:
  postgres:
    postgres_url: {env: DAGSTER_PG_URL}
telemetry:
  enabled: false
"""


def wait_for(what: str, condition: Callable[[], T], timeout: float, poll_s: float = 0.1) -> T:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll_s)


@contextlib.contextmanager
def private_vhost(prefix: str = "linkedin_assets") -> Iterator[str]:
    """A RabbitMQ virtual host of its own (``rabbitmqctl``), deleted on exit with every queue and message in it: no
    stale task of an earlier run can reach these workers, and no task of theirs can reach anyone else's."""
    if shutil.which("rabbitmqctl") is None:
        raise RuntimeError("rabbitmqctl is not installed: cannot create a private RabbitMQ virtual host")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True, timeout=60)
    try:
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield name
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, timeout=60)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cpu_s(pid: int) -> float:
    """User + system CPU of the process and of its children it has reaped."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS  # utime, stime, cutime, cstime


def _hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Worker:
    """One ``dagster-celery worker start`` (``concurrency`` execution processes), logging to ``log``.

    The worker imports the code location (``-i linkedin_assets.definitions``) before its pool forks, so every
    execution process starts with it loaded.
    """

    def __init__(self, name: str, env: Mapping[str, str], log: Path, concurrency: int = 1) -> None:
        self.name = name
        self.log = log
        env = {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', os.environ.get('PATH', ''))}"}  # runs `celery`
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [
                    str(BIN / "dagster-celery"),
                    *("worker", "start", "-A", "dagster_celery.app", "-y", str(WORKER_CONFIG), "-n", name),
                    *("-i", "linkedin_assets.definitions", "-i", "linkedin_assets_tests.celery_runs"),
                    *("--", f"--concurrency={concurrency}", "--without-gossip", "--without-mingle"),
                ],
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def processes(self) -> list[int]:
        """``celery worker`` and its pool processes (``dagster-celery`` itself only waits for them)."""
        return [pid for main in _children(self.process.pid) for pid in (main, *_children(main))]

    def execution_processes(self) -> list[int]:
        """The pool processes that execute the steps."""
        return [child for main in _children(self.process.pid) for child in _children(main)]

    def kill(self) -> list[int]:
        """SIGKILL the whole worker at once, as a lost machine or an evicted pod: ``dagster-celery``, ``celery worker``
        and its pool processes (the worker's session, one process group). Returns their pids; the caller waits for
        them to be gone (:func:`alive`). Nothing of the worker acknowledges or finishes anything after this."""
        pids = [self.process.pid, *self.processes()]
        os.killpg(self.process.pid, signal.SIGKILL)
        for pid in pids:  # a process that left the group (it should not) is killed all the same
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)  # reap dagster-celery: our child
        return pids

    def cpu_s(self) -> float:
        return sum(_cpu_s(pid) for pid in self.processes())

    def peak_rss_kib(self) -> int:
        """The largest peak RSS of one of its processes."""
        return max(self.peaks_kib().values(), default=0)

    def peaks_kib(self) -> dict[int, int]:
        """Peak RSS (VmHWM) of each of its processes, by pid."""
        return {pid: _hwm_kib(pid) for pid in self.processes()}

    def tail(self, lines: int = 30) -> str:
        return f"--- {self.name} ({self.log}):\n" + "\n".join(
            self.log.read_text(errors="replace").splitlines()[-lines:]
        )

    def stop(self) -> None:
        """SIGTERM (Celery's warm shutdown), then SIGKILL; the whole session, pool processes included."""
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
            if self.process.poll() is not None:
                break
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=wait)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_workers(
    count: int,
    env: Mapping[str, str],
    log_dir: Path,
    concurrency: int = 1,
    prefix: str = "linkedin",
    create_instance: bool = True,
) -> Iterator[tuple[list[Worker], dict[str, str]]]:
    """``count`` workers on ``env["CELERY_BROKER_URL"]``, once every one of them answers a ping.

    ``dagster-celery worker start`` opens the Dagster instance of ``$DAGSTER_HOME``: workers started together on a
    fresh one would each create its storage at once (on SQLite this stamps the schema version twice, and every later
    open fails with "alembic_version has more than one head"). So the instance is created first, in a process of
    its own (``create_instance``; pass ``False`` when the caller has opened it already).

    Yields the workers and their Celery hostnames by worker name (``<name>@<host>``, as step events record them).
    """
    from celery import Celery

    if create_instance:
        subprocess.run(
            [sys.executable, "-c", "import dagster as dg; dg.DagsterInstance.get().dispose()"],
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
            timeout=300,
        )
    tag = uuid.uuid4().hex[:6]
    workers = [
        Worker(f"{prefix}-{tag}-{n}", env, log_dir / f"worker-{n}.log", concurrency) for n in range(1, count + 1)
    ]
    hostnames: dict[str, str] = {}
    try:
        control = Celery(broker=env["CELERY_BROKER_URL"])

        def all_answer() -> bool:
            dead = [w for w in workers if w.process.poll() is not None]
            if dead:
                raise RuntimeError("a Celery worker exited:\n" + "\n".join(w.tail() for w in dead))
            for reply in control.control.ping(timeout=0.5) or []:
                for hostname in reply:
                    hostnames[hostname.split("@", 1)[0]] = hostname
            return all(w.name in hostnames for w in workers)

        try:
            wait_for(f"{count} Celery worker(s) to answer a ping", all_answer, timeout=120)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n" + "\n".join(w.tail() for w in workers)) from None
        yield workers, hostnames
    finally:
        for worker in workers:
            worker.stop()


def steps_by_worker(instance, run_id: str) -> dict[str, set[str]]:
    """Celery worker hostname -> the step keys it executed in the run, from the "Executing steps ... in celery
    worker" engine event dagster-celery writes for every step it runs (metadata "Celery worker")."""
    import dagster as dg

    out: dict[str, set[str]] = {}
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        metadata = entry.dagster_event.event_specific_data.metadata or {}
        worker = metadata.get("Celery worker")
        if worker is not None and entry.step_key:
            out.setdefault(str(worker.value), set()).add(entry.step_key)
    return out
