"""linkedin-assets: syncs and the demo through the Dagster deployment, and the OAuth commands.

    linkedin-assets sync [--start YYYY-MM-DD] [--end YYYY-MM-DD] [--accounts IDS] [--verbose]
    linkedin-assets demo [--profile small|medium|large] [--seed N]
    linkedin-assets auth login | status | refresh

The sync command submits two runs of the code location's jobs to the Dagster instance in $DAGSTER_HOME (default:
data/dagster under the working directory): linkedin_daily_sync (entities and daily metrics), then
linkedin_monthly_sync (demographics and the snapshot). They go through the run queue, so they appear in the UI like
any run and wait while another sync runs. A dagster-daemon serving the instance (make dev) starts them; without one,
this command starts them itself. It prints their progress from the event log. Exit status: 0 success, 1 a run
failed, 2 bad arguments or configuration.
"""

import argparse
import asyncio
import datetime as dt
import gc
import http.server
import os
import secrets
import sys
import threading
import webbrowser
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlparse

import dagster as dg
import httpx


class UsageError(Exception):
    """Bad arguments or configuration; the message names the culprit."""


# ---------------------------------------------------------------------------------------------------- sync


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (expected YYYY-MM-DD)") from None


def _accounts(text: str) -> str:
    from linkedin_assets.linkedin.client import parse_account_ids
    from linkedin_assets.linkedin.errors import LinkedInConfigError

    try:
        return ",".join(str(a) for a in parse_account_ids(text))
    except LinkedInConfigError as exc:
        # parse_account_ids names the variable it usually reads; here the value came from the flag
        raise argparse.ArgumentTypeError(str(exc).replace("LINKEDIN_ACCOUNT_IDS", "--accounts", 1)) from None


def plan_stages(start: dt.date | None, end: dt.date | None) -> list[tuple[str, dict[str, str]]]:
    """The runs of a sync of ``[start, end]``: (job name, partition tags) for the daily and the monthly job."""
    from linkedin_assets.defs.partitions import daily_partitions, month_key, partition_tags

    first = dt.date.fromisoformat(daily_partitions.get_first_partition_key())
    last = dt.date.fromisoformat(daily_partitions.get_last_partition_key())
    end = end or last
    start = start or end
    if start > end:
        raise UsageError(f"--start {start} is after --end {end}")
    if start < first or end > last:
        raise UsageError(
            f"{start}..{end} is outside the daily partitions {first}..{last} "
            "(LINKEDIN_ASSETS_START_DATE sets the first; the last is yesterday, UTC)"
        )
    return [
        ("linkedin_daily_sync", partition_tags(start.isoformat(), end.isoformat())),
        ("linkedin_monthly_sync", partition_tags(month_key(start), month_key(end))),
    ]


def run_stage(
    defs: dg.Definitions, instance: dg.DagsterInstance, job_name: str, tags: dict[str, str]
) -> dg.ExecuteInProcessResult:
    """Run one sync job in this process without the queue (tests and benchmarks of the asset graph only)."""
    tags = dict(tags)
    partition = tags.pop("dagster/partition", None)
    return defs.resolve_job_def(job_name).execute_in_process(
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        instance=instance,
        partition_key=partition,
        tags=tags,
        raise_on_error=False,
    )


def run_config(accounts: str | None) -> dict[str, Any]:
    """The run config of a CLI run: ``--accounts`` for the LinkedIn resource; a silent console logger when the run
    executes in this process (the event log keeps everything; this command prints its own progress and failures)."""
    config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    if accounts:
        config["resources"] = {"linkedin": {"config": {"account_ids": accounts}}}
    return config


def _step_label(step: str | None) -> str:
    return (step or "").replace("__", "/")


def _root_error(error: Any) -> Any:
    """The error a person cares about: the first one in the chain not raised by Dagster itself."""
    while error is not None and error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    return error


def _describe(record: dg.EventLogEntry) -> str | None:
    event = record.dagster_event
    step = record.step_key or ""
    if event is None:
        return f"{step:<24} {record.user_message}" if record.level >= 20 else None
    kind = event.event_type
    if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
        mat = event.step_materialization_data.materialization
        if mat.partition:  # the rows written are logged once for the whole range
            return f"{step:<24} materialized {mat.asset_key.to_user_string()} [{mat.partition}]"
        rows = mat.metadata.get("dagster/row_count")
        return f"{step:<24} materialized {mat.asset_key.to_user_string()}" + (f": {rows.value} rows" if rows else "")
    if kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
        data = event.event_specific_data
        # A WARN check judges LinkedIn's numbers: its rows landed, so it is a warning, not a failure.
        verdict = "passed" if data.passed else "warning" if data.severity == dg.AssetCheckSeverity.WARN else "FAILED"
        return f"{step:<24} check {data.check_name}: {verdict}"
    if kind == dg.DagsterEventType.STEP_FAILURE:
        return f"{step:<24} FAILED"
    if kind in (dg.DagsterEventType.RUN_START, dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE):
        return f"{step:<24} {event.message}"
    return None


class Follower(threading.Thread):
    """Prints a run's progress from the event log while the run executes (here or elsewhere)."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, echo: Callable[[str], None], poll_s: float = 0.5):
        super().__init__(daemon=True, name=f"follow-{run_id[:8]}")
        self.instance, self.run_id, self.echo, self.poll_s = instance, run_id, echo, poll_s
        self.cursor: str | None = None
        self.records: list[dg.EventLogEntry] = []
        self._done = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._done.wait(self.poll_s):
            self.drain()

    def drain(self) -> None:
        with self._lock:
            while True:
                connection = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, limit=500)
                for record in connection.records:
                    entry = record.event_log_entry
                    self.records.append(entry)
                    line = _describe(entry)
                    if line:
                        self.echo(f"{dt.datetime.fromtimestamp(entry.timestamp, dt.UTC):%H:%M:%S} {line}")
                self.cursor = connection.cursor
                if not connection.has_more:
                    return

    def finish(self) -> list[dg.EventLogEntry]:
        """Stop following, print what is left, and return every event of the run."""
        self._done.set()
        if self.is_alive():
            self.join()
        self.drain()
        return self.records


def failure_report(run: dg.DagsterRun, events: list[dg.EventLogEntry], verbose: bool) -> list[str]:
    """One short block: what failed, why, what to do (stack traces only with ``verbose``)."""
    from linkedin_assets.defs.failures import what_to_do

    lines = [f"{run.job_name} FAILED (run {run.run_id})"]
    failures = [e for e in events if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.STEP_FAILURE]
    for entry in failures:
        data = entry.dagster_event.step_failure_data
        error = _root_error(data.error)
        user = data.user_failure_data
        metadata = {key: value.value for key, value in (user.metadata if user else {}).items()}
        if user is not None and user.description:
            why = user.description
            if error is not None and error.cls_name == "Failure" and error.cause is not None:
                error = error.cause
        elif error is not None:
            why = f"{error.cls_name}: {error.message.strip()}"
        else:
            why = "unknown (see the run's log)"
        where = [f"asset {_step_label(entry.step_key)}"]
        where += [f"{key} {metadata[key]}" for key in ("account_id", "endpoint", "url", "table") if key in metadata]
        todo = metadata.get("what to do") or what_to_do(error.cls_name if error is not None else "")
        lines += [f"  what:  {', '.join(where)}", f"  why:   {why.splitlines()[0]}", f"  do:    {todo}"]
        if verbose and data.error is not None:
            lines += ["", data.error.to_string()]
    if not failures:
        run_failures = [
            e for e in events if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.RUN_FAILURE
        ]
        message = run_failures[-1].dagster_event.message if run_failures else f"the run ended {run.status.value}"
        lines += [f"  why:   {message}", "  do:    Run the sync again; the run's log in the UI has the details."]
    if not verbose:
        lines.append("  log:   the run's page in the UI (make dev, then Runs), or this command with --verbose")
    lines.append("exit status 1")
    return lines


def _describe_wait(echo: Callable[[str], None]) -> Callable[[list[dg.DagsterRun]], None]:
    def on_wait(ahead: list[dg.DagsterRun]) -> None:
        if ahead:
            described = ", ".join(f"{r.run_id[:8]} ({r.job_name}, {r.status.value})" for r in ahead)
            echo(f"queued behind {described}")

    return on_wait


def sync(
    start: dt.date | None,
    end: dt.date | None,
    accounts: str | None,
    echo: Callable[[str], None] = print,
    verbose: bool = False,
    require_local: bool = False,
) -> int:
    """Submit the sync's runs through the queue, follow them, and return the exit status."""
    from linkedin_assets.cli import runs as deployment
    from linkedin_assets.settings import load_settings

    load_settings()  # a bad setting fails here, naming the variable, before any run exists
    stages = plan_stages(start, end)
    config = run_config(accounts)
    with deployment.open_instance() as instance:
        if require_local and deployment.daemon_alive(instance):
            raise UsageError(
                f"a dagster-daemon serves {deployment.dagster_home()}: stop it (make dev) first, the demo's simulator "
                "lives in this process"
            )
        deployment.reap_dead_runs(instance, echo)
        with deployment.code_location(instance) as location:
            _startup_done()
            for job_name, tags in stages:
                run = deployment.create_run(instance, location, job_name, tags, config)
                deployment.enqueue(instance, run)
                echo(f"== {job_name} " + " ".join(f"{k.rsplit('/', 1)[-1]}={v}" for k, v in tags.items()))
                echo(f"run {run.run_id}")
                follower = Follower(instance, run.run_id, echo)
                follower.start()
                try:
                    finished = deployment.wait_or_start(instance, run.run_id, _describe_wait(echo))
                finally:
                    events = follower.finish()
                if finished.status != dg.DagsterRunStatus.SUCCESS:
                    for line in failure_report(finished, events, verbose):
                        echo(line)
                    return 1
    return 0


# ---------------------------------------------------------------------------------------------------- demo


def demo(profile: str, seed: int, echo: Callable[[str], None] = print) -> int:
    """Start the simulator, sync its whole history into the embedded warehouse, and say where the results are."""
    try:
        from linkedin_assets.simulator import SimulatorConfig, SimulatorServer
    except ImportError as exc:  # starlette/uvicorn are the `simulator` extra
        raise UsageError(
            f"the demo needs the simulator extra: pip install 'linkedin_assets[simulator]' ({exc})"
        ) from None
    from linkedin_assets.settings import load_settings

    for name in (
        "LINKEDIN_ASSETS_DATABASE_URL",
        "LINKEDIN_ACCOUNT_IDS",
        "LINKEDIN_TOKEN_STORE",
        "LINKEDIN_ACCESS_TOKEN",
    ):
        os.environ.pop(name, None)
    with SimulatorServer(SimulatorConfig(profile=profile, seed=seed)) as sim:
        os.environ.update(sim.client_env())
        os.environ.pop("LINKEDIN_ACCESS_TOKEN", None)  # runs start from the refresh token, as in production
        end = sim.state.config.today - dt.timedelta(days=1)
        start = end - dt.timedelta(days=sim.state.config.sizes.days - 1)
        echo(f"Simulator ({profile} profile) at {sim.url}; syncing {start}..{end}")
        status = sync(start, end, None, echo, require_local=True)
    if status == 0:
        from linkedin_assets.cli.runs import dagster_home

        settings = load_settings()
        echo("")
        echo(f"Snapshot:  {os.path.join(settings.snapshots, 'latest.json')}")
        echo(f"Tables:    {settings.warehouse_file} (DuckDB, schema {settings.schema_name})")
        echo(f"Runs:      {dagster_home()} (see them in the UI: make dev, then http://127.0.0.1:3000)")
    return status


# ---------------------------------------------------------------------------------------------------- auth


def _token_store_path() -> str:
    from linkedin_assets.settings import load_settings

    return load_settings().token_store


def _auth_config():
    from linkedin_assets.linkedin.client import ClientConfig
    from linkedin_assets.settings import linkedin_env

    return ClientConfig.from_env(linkedin_env(), token_store_path=_token_store_path())


def auth_login(port: int, open_browser: bool, echo: Callable[[str], None] = print, timeout_s: float = 300.0) -> int:
    """The OAuth authorization-code flow: print the URL, catch the redirect on 127.0.0.1, store the tokens."""
    from linkedin_assets.linkedin.oauth import authorization_url, exchange_authorization_code
    from linkedin_assets.linkedin.tokens import TokenStore

    config = _auth_config()
    state = secrets.token_urlsafe(24)
    received: dict[str, str] = {}
    done = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            if "code" not in query and "error" not in query:
                self.send_error(404)
                return
            received.update(query)
            ok = query.get("state") == state and "code" in query
            body = b"Authorized: you can close this tab." if ok else b"Authorization failed: see the terminal."
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            done.set()

        def log_message(self, *args: object) -> None:  # the query holds the code: never log it
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/callback"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = authorization_url(config, redirect_uri, state)
        echo(f"Open this URL and allow access (redirect to {redirect_uri}):\n{url}")
        if open_browser:
            webbrowser.open(url)
        if not done.wait(timeout_s):
            echo(f"No authorization redirect within {timeout_s:.0f} s")
            return 1
    finally:
        server.shutdown()
        server.server_close()
    if "error" in received:
        echo(f"LinkedIn refused the authorization: {received.get('error')} {received.get('error_description', '')}")
        return 1
    if received.get("state") != state:
        echo("The redirect's state does not match this login: ignoring it (possible forged request)")
        return 1

    async def exchange():
        async with httpx.AsyncClient(timeout=config.timeout_s) as http:
            return await exchange_authorization_code(http, config, received["code"], redirect_uri)

    tokens = asyncio.run(exchange())
    TokenStore(config.token_store_path).save(tokens)
    echo(f"Tokens stored in {config.token_store_path}")
    return auth_status(echo)


def auth_status(echo: Callable[[str], None] = print) -> int:
    """What the token store holds: scopes, both expiries, the last refresh; never the tokens."""
    from linkedin_assets.linkedin.tokens import TokenStore

    path = _token_store_path()
    tokens = TokenStore(path).load()
    if tokens is None:
        echo(f"No tokens stored in {path}: run `linkedin-assets auth login`")
        return 1
    now = dt.datetime.now(dt.UTC)

    def when(moment: dt.datetime | None) -> str:
        if moment is None:
            return "unknown"
        days = (moment - now).total_seconds() / 86400
        return f"{moment:%Y-%m-%d %H:%M} UTC ({'in' if days >= 0 else 'expired'} {abs(days):.1f} days{'' if days >= 0 else ' ago'})"

    echo(f"Token store:    {path}")
    echo(f"Scopes:         {tokens.scope or 'unknown'}")
    echo(
        f"Access token:   {'present' if tokens.access_token else 'missing'}, expires {when(tokens.access_token_expires_at)}"
    )
    echo(
        f"Refresh token:  {'present' if tokens.refresh_token else 'missing'}, expires {when(tokens.refresh_token_expires_at)}"
    )
    echo(
        f"Last refresh:   {tokens.refreshed_at:%Y-%m-%d %H:%M:%S} UTC ({tokens.source})"
        if tokens.refreshed_at
        else "Last refresh:   never"
    )
    return 0


def auth_refresh(echo: Callable[[str], None] = print) -> int:
    """Refresh the access token now and store it."""
    from linkedin_assets.linkedin.oauth import initial_tokens, refresh_access_token
    from linkedin_assets.linkedin.tokens import TokenStore

    config = _auth_config()
    store = TokenStore(config.token_store_path)
    current = initial_tokens(config, store)

    async def refresh():
        async with httpx.AsyncClient(timeout=config.timeout_s) as http:
            return await refresh_access_token(http, config, current.refresh_token)

    tokens = asyncio.run(refresh())
    store.save(tokens.with_updates(seed_fingerprint=current.seed_fingerprint))
    echo(f"Access token refreshed; stored in {config.token_store_path}")
    return auth_status(echo)


# ---------------------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linkedin-assets",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{sync,demo,auth}")
    p_sync = commands.add_parser(
        "sync",
        help="sync a date range through the Dagster run queue, printing progress",
        description="Submit linkedin_daily_sync for the days START..END and then linkedin_monthly_sync for the "
        "months they touch, through the run queue of the instance in $DAGSTER_HOME (default data/dagster), "
        "and print their progress. Exit status: 0 success, 1 a run failed, 2 bad arguments or configuration.",
    )
    p_sync.add_argument("--start", type=_date, metavar="YYYY-MM-DD", help="first day, UTC (default: the --end day)")
    p_sync.add_argument("--end", type=_date, metavar="YYYY-MM-DD", help="last day, UTC (default: yesterday)")
    p_sync.add_argument(
        "--accounts",
        type=_accounts,
        metavar="IDS",
        help="comma-separated ad account ids or urn:li:sponsoredAccount:ID (default: every account the token sees)",
    )
    p_sync.add_argument("--verbose", action="store_true", help="on failure, also print the stack traces")
    p_demo = commands.add_parser(
        "demo",
        help="start the simulator and sync its whole history into the embedded warehouse",
        description="Start the LinkedIn simulator in this process and sync its whole history (every day and the "
        "months they touch) into the DuckDB warehouse under data/, with runs in $DAGSTER_HOME (default "
        "data/dagster). Needs the simulator extra.",
    )
    p_demo.add_argument(
        "--profile", default="medium", choices=("small", "medium", "large"), help="data set size (default: medium)"
    )
    p_demo.add_argument("--seed", type=int, default=1, help="data set seed (default: 1)")
    p_auth = commands.add_parser("auth", help="OAuth: login, status, refresh")
    auth = p_auth.add_subparsers(dest="auth_command", required=True)
    p_login = auth.add_parser("login", help="authorize in the browser and store the tokens")
    p_login.add_argument("--port", type=int, default=8400, help="local port for the redirect (default 8400; 0 = any)")
    p_login.add_argument("--no-browser", action="store_true", help="only print the URL")
    auth.add_parser("status", help="show what the token store holds (never the tokens)")
    auth.add_parser("refresh", help="refresh the access token now")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from linkedin_assets.linkedin.errors import LinkedInError
    from linkedin_assets.settings import SettingsError

    try:
        if args.command == "sync":
            return sync(args.start, args.end, args.accounts, verbose=args.verbose)
        if args.command == "demo":
            return demo(args.profile, args.seed)
        if args.auth_command == "login":
            return auth_login(args.port, not args.no_browser)
        if args.auth_command == "status":
            return auth_status()
        return auth_refresh()
    except (UsageError, SettingsError) as exc:
        print(f"linkedin-assets: error: {exc}", file=sys.stderr)
        return 2
    except LinkedInError as exc:
        print(f"linkedin-assets: {exc}", file=sys.stderr)
        return 2 if type(exc).__name__ in ("LinkedInConfigError",) else 1


EVENT_BATCH_SIZE = "1000"
"""``DAGSTER_EVENT_BATCH_SIZE`` of this process unless set (as the Makefile and the Dockerfile set it for Dagster's
own processes): Dagster then stores a range run's per-partition materialization events in batches, which
dagster-postgres writes in one INSERT each (medium first sync on a PostgreSQL instance: 8.0-9.1 s -> 6.6 s wall).
Dagster's SQLite storage writes a batch one event at a time, as without it."""


def run() -> None:
    """The ``linkedin-assets`` command: ``main`` with this process's arguments, then exit with its status.

    The cyclic garbage collector is off while the command starts (imports of dagster, pandas and the instance's
    storage, the code location): that allocates about a million objects that live as long as the process, and the
    collector walked all of them four times over (0.28 s of a medium sync), then again in every full collection during
    the runs (0.15 s each). ``_startup_done`` freezes them out of its sight and turns it back on. ``gc.freeze()``
    before exiting: the interpreter's last collection would otherwise walk every object the runs left (0.7-0.9 s after
    a medium sync); the operating system frees them at once.
    """
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
    gc.disable()
    status = main()
    gc.freeze()
    sys.exit(status)


def _startup_done() -> None:
    """The code location is loaded: freeze what start-up allocated and collect from here on (see ``run``). Only when
    ``run`` turned the collector off: a caller of ``sync`` in its own process keeps its collector as it is."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


if __name__ == "__main__":
    run()
