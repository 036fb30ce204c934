"""``linkedin-assets``: run a sync from the terminal, the demo on the simulator, and the OAuth commands.

    linkedin-assets sync [--start DATE] [--end DATE] [--accounts IDS]
    linkedin-assets demo [--profile small|medium|large] [--seed N]
    linkedin-assets auth login | status | refresh

``sync`` runs the daily job (entities and daily metrics) and then the monthly one (demographics and the snapshot)
on the project's Dagster instance, each in a child process, and prints the progress it reads from the event log.
It waits while another sync is queued or running. Exit status: 0 success, 1 failed run, 2 bad arguments or
configuration.
"""

import argparse
import asyncio
import datetime as dt
import http.server
import multiprocessing
import os
import secrets
import sys
import threading
import time
import uuid
import webbrowser
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs, urlparse

import dagster as dg
import httpx

INVOCATION_TAG = "linkedin_assets/cli_invocation"


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
        raise argparse.ArgumentTypeError(str(exc)) from None


def plan_stages(start: dt.date | None, end: dt.date | None) -> list[tuple[str, dict[str, str]]]:
    """The runs of a sync of ``[start, end]``: (job name, partition tags) for the daily and the monthly job."""
    from linkedin_assets.partitions import daily_partitions, month_key, partition_tags

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
    """Run one sync job for the partitions its tags name, in this process, on ``instance``."""
    tags = dict(tags)
    partition = tags.pop("dagster/partition", None)
    return defs.resolve_job_def(job_name).execute_in_process(
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        instance=instance,
        partition_key=partition,
        tags=tags,
        raise_on_error=False,
    )


def _execute_stage(job_name: str, tags: dict[str, str]) -> None:
    """Child process: run one job on the project's instance (its progress goes to the event log)."""
    from linkedin_assets.definitions import defs
    from linkedin_assets.instance import get_instance

    with get_instance() as instance:
        result = run_stage(defs, instance, job_name, tags)
    sys.exit(0 if result.success else 1)


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
        return f"{step:<24} check {data.check_name}: {'passed' if data.passed else 'FAILED'}"
    if kind == dg.DagsterEventType.STEP_FAILURE:
        error = event.step_failure_data.error
        while error is not None and error.cause is not None and error.cls_name.startswith("Dagster"):
            error = error.cause
        return f"{step:<24} FAILED: {error.cls_name}: {error.message.strip()}" if error else f"{step:<24} FAILED"
    if kind == dg.DagsterEventType.RUN_FAILURE:
        return f"{step:<24} {event.message}"
    if kind in (dg.DagsterEventType.RUN_START, dg.DagsterEventType.RUN_SUCCESS):
        return f"{step:<24} {event.message}"
    return None


def stream_run(
    instance: dg.DagsterInstance, invocation: str, process: multiprocessing.Process, echo: Callable[[str], None]
) -> dg.DagsterRunStatus | None:
    """Print the progress of the run tagged ``invocation`` from the event log until the child process exits."""
    run_id, cursor = None, None
    while True:
        alive = process.is_alive()
        if run_id is None:
            runs = instance.get_runs(dg.RunsFilter(tags={INVOCATION_TAG: invocation}), limit=1)
            run_id = runs[0].run_id if runs else None
            if run_id:
                echo(f"run {run_id}")
        if run_id is not None:
            while True:
                connection = instance.get_records_for_run(run_id, cursor=cursor, limit=500)
                for record in connection.records:
                    line = _describe(record.event_log_entry)
                    if line:
                        stamp = dt.datetime.fromtimestamp(record.event_log_entry.timestamp, dt.UTC)
                        echo(f"{stamp:%H:%M:%S} {line}")
                cursor = connection.cursor
                if not connection.has_more:
                    break
        if not alive:
            run = instance.get_run_by_id(run_id) if run_id else None
            return run.status if run else None
        time.sleep(0.5)


def sync(start: dt.date | None, end: dt.date | None, accounts: str | None, echo: Callable[[str], None] = print) -> int:
    """Run a whole sync; returns the exit status."""
    from linkedin_assets.instance import get_instance, wait_for_idle_sync

    stages = plan_stages(start, end)
    if accounts:
        os.environ["LINKEDIN_ACCOUNT_IDS"] = accounts
    context = multiprocessing.get_context("spawn")
    with get_instance() as instance:
        for job_name, tags in stages:
            wait_for_idle_sync(instance, log=echo)
            invocation = uuid.uuid4().hex
            echo(f"== {job_name} " + " ".join(f"{k.rsplit('/', 1)[-1]}={v}" for k, v in tags.items()))
            process = context.Process(target=_execute_stage, args=(job_name, {**tags, INVOCATION_TAG: invocation}))
            process.start()
            status = stream_run(instance, invocation, process, echo)
            process.join()
            if status != dg.DagsterRunStatus.SUCCESS:
                echo(f"{job_name} did not succeed ({status.value if status else 'no run started'})")
                return 1
    return 0


# ---------------------------------------------------------------------------------------------------- demo


def demo(profile: str, seed: int, echo: Callable[[str], None] = print) -> int:
    """Start the simulator, sync its whole history into the embedded warehouse, and say where the results are."""
    from linkedin_assets.instance import data_dir
    from linkedin_assets.simulator import SimulatorConfig, SimulatorServer

    for name in ("LINKEDIN_ASSETS_DATABASE_URL", "DAGSTER_PG_URL", "LINKEDIN_ACCOUNT_IDS", "LINKEDIN_TOKEN_STORE"):
        os.environ.pop(name, None)
    with SimulatorServer(SimulatorConfig(profile=profile, seed=seed)) as sim:
        os.environ.update(sim.client_env())
        end = sim.state.config.today - dt.timedelta(days=1)
        start = end - dt.timedelta(days=sim.state.config.sizes.days - 1)
        echo(f"Simulator ({profile} profile) at {sim.url}; syncing {start}..{end}")
        status = sync(start, end, None, echo)
    if status == 0:
        echo("")
        echo(f"Snapshot:  {data_dir() / 'snapshots' / 'latest.json'}")
        echo(f"Tables:    {data_dir() / 'warehouse.duckdb'} (DuckDB, schema linkedin_ads)")
        echo(f"Runs:      {data_dir() / 'dagster'} (open the UI with `dagster dev` in the repo root)")
    return status


# ---------------------------------------------------------------------------------------------------- auth


def _auth_config():
    from linkedin_assets.linkedin.client import ClientConfig
    from linkedin_assets.resources import token_store_path

    return ClientConfig.from_env(token_store_path=token_store_path())


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
    from linkedin_assets.resources import token_store_path

    path = token_store_path()
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
    parser = argparse.ArgumentParser(prog="linkedin-assets", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p_sync = commands.add_parser("sync", help="materialize everything for a date range, printing progress")
    p_sync.add_argument("--start", type=_date, help="first day (default: --end)")
    p_sync.add_argument("--end", type=_date, help="last day (default: yesterday, UTC)")
    p_sync.add_argument("--accounts", type=_accounts, help="comma list of ad account ids (default: all visible)")
    p_demo = commands.add_parser("demo", help="start the simulator and sync its whole history (embedded storage)")
    p_demo.add_argument("--profile", default="small", choices=("small", "medium", "large"))
    p_demo.add_argument("--seed", type=int, default=1)
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

    try:
        if args.command == "sync":
            return sync(args.start, args.end, args.accounts)
        if args.command == "demo":
            return demo(args.profile, args.seed)
        if args.auth_command == "login":
            return auth_login(args.port, not args.no_browser)
        if args.auth_command == "status":
            return auth_status()
        return auth_refresh()
    except UsageError as exc:
        print(f"linkedin-assets: error: {exc}", file=sys.stderr)
        return 2
    except LinkedInError as exc:
        print(f"linkedin-assets: {exc}", file=sys.stderr)
        return 2 if type(exc).__name__ in ("LinkedInConfigError",) else 1


if __name__ == "__main__":
    sys.exit(main())
