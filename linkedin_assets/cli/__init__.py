"""linkedin-assets: syncs and the demo through the Dagster deployment, and the OAuth commands.

    linkedin-assets sync [--start YYYY-MM-DD] [--end YYYY-MM-DD] [--accounts IDS] [--verbose]
    linkedin-assets demo [--profile small|medium|large] [--seed N]
    linkedin-assets auth login | status | refresh
    linkedin-assets reports prepare

The sync command submits three runs of the code location's jobs to the Dagster instance in $DAGSTER_HOME (default:
data/dagster under the working directory): linkedin_daily_sync (entities and daily metrics), then
linkedin_monthly_sync (demographics and the snapshot), then linkedin_reports (Fivetran's dbt reports). They go through the run queue, so they appear in the UI like
any run and wait while another sync runs. A dagster-daemon serving the instance (make dev) starts them; without one,
this command starts them itself. It prints their progress from the event log. Exit status: 0 success, 1 a run
failed, 2 bad arguments or configuration.
"""

import argparse
import datetime as dt
import gc
import sys
from collections.abc import Sequence

from linkedin_assets.cli.errors import UsageError


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


# ---------------------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linkedin-assets",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{sync,demo,auth,reports}")
    p_sync = commands.add_parser(
        "sync",
        help="sync a date range through the Dagster run queue, printing progress",
        description="Submit linkedin_daily_sync for the days START..END, then linkedin_monthly_sync for the "
        "months they touch, then linkedin_reports (Fivetran's dbt reports), through the run queue of the instance in $DAGSTER_HOME (default data/dagster), "
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
    p_sync.add_argument(
        "--verbose",
        action="store_true",
        help="also print the runs' log lines (request plans), every materialization and check, and stack traces",
    )
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
    p_demo.add_argument("--verbose", action="store_true", help="as for sync: log lines, materializations, checks")
    p_auth = commands.add_parser("auth", help="OAuth: login, status, refresh")
    auth = p_auth.add_subparsers(dest="auth_command", required=True)
    p_login = auth.add_parser("login", help="authorize in the browser and store the tokens")
    p_login.add_argument("--port", type=int, default=8400, help="local port for the redirect (default 8400; 0 = any)")
    p_login.add_argument("--no-browser", action="store_true", help="only print the URL")
    auth.add_parser("status", help="show what the token store holds (never the tokens)")
    auth.add_parser("refresh", help="refresh the access token now")
    p_reports = commands.add_parser(
        "reports", help="the dbt project of Fivetran's reports (linkedin_assets/dbt_project)"
    )
    reports = p_reports.add_subparsers(dest="reports_command", required=True)
    reports.add_parser(
        "prepare",
        help="install the dbt packages (hub, or LINKEDIN_ASSETS_DBT_PACKAGES_DIR) and parse the project when needed",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from linkedin_assets.cli.auth import auth_login, auth_refresh, auth_status
    from linkedin_assets.cli.demo import demo
    from linkedin_assets.cli.sync import sync
    from linkedin_assets.linkedin.errors import LinkedInError
    from linkedin_assets.settings import SettingsError, load_settings

    try:
        settings = load_settings()  # the one read of the environment: a bad setting fails here, naming it
        if args.command == "sync":
            return sync(args.start, args.end, args.accounts, settings, verbose=args.verbose)
        if args.command == "demo":
            return demo(args.profile, args.seed, args.verbose)
        if args.command == "reports":
            from linkedin_assets.cli.reports import prepare

            return prepare()
        if args.auth_command == "login":
            return auth_login(settings, args.port, not args.no_browser)
        if args.auth_command == "status":
            return auth_status(settings)
        return auth_refresh(settings)
    except (UsageError, SettingsError) as exc:
        print(f"linkedin-assets: error: {exc}", file=sys.stderr)
        return 2
    except LinkedInError as exc:
        print(f"linkedin-assets: {exc}", file=sys.stderr)
        return 2 if type(exc).__name__ in ("LinkedInConfigError",) else 1


def run() -> None:
    """The ``linkedin-assets`` command: ``main`` with this process's arguments, then exit with its status."""
    status = main()
    gc.freeze()  # the interpreter's last collection would walk every object dagster left; the OS frees them at once
    sys.exit(status)


if __name__ == "__main__":
    run()
