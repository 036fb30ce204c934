"""``python -m linkedin_assets.simulator --port 8765 --profile small``: run the simulator in the foreground.

It prints the LINKEDIN_* variables that point linkedin_assets at it. LinkedIn's routes: /oauth/v2 (tokens), and
under /rest adAccountUsers, adAccounts (+ adCampaignGroups, adCampaigns, creatives), posts, adTargetingEntities,
conversions (q=account: an account's conversion rules, start/count paging) and adAnalytics (q=analytics and
q=statistics; entity, MEMBER_*, CONVERSION (per-rule conversion metrics) and IMPRESSION_DEVICE_TYPE pivots).
Besides those routes it serves simulator-only administration under /_sim (not part of LinkedIn's API): GET /_sim/requests
(the request log with start/end stamps and the maximum number of requests in flight; ?endpoint=adAnalytics
filters), DELETE /_sim/requests (clear it), POST /_sim/knobs (a JSON object of run-time knobs, e.g.
{"rate_500": 0.2, "latency_ms": 20}) and POST /_sim/new-generation (late-data mode: revise the last days).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt

from linkedin_assets.simulator.config import PROFILES, SimulatorConfig


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability in [0, 1]")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must not be negative")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _profiles() -> str:
    return "; ".join(
        f"{name}: {p.accounts} account(s) x {p.campaigns_per_account} campaigns x {p.creatives_per_campaign} "
        f"creatives, {p.days} days"
        for name, p in PROFILES.items()
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line; every flag's help shows its default."""
    defaults = SimulatorConfig(today=dt.date(2000, 1, 1))  # the knobs' defaults live in one place: the config
    parser = argparse.ArgumentParser(
        prog="python -m linkedin_assets.simulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_argument_group("where it listens")
    where.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    where.add_argument("--port", type=int, default=8765, help="TCP port, 0 = any free port (default: %(default)s)")

    data = parser.add_argument_group("data (fixed while it runs)")
    data.add_argument(
        "--profile",
        choices=[*PROFILES, "custom"],
        default="small",
        help=f"data set size ({_profiles()}; custom: give every size below) (default: %(default)s)",
    )
    data.add_argument(
        "--seed", type=int, default=1, help="the data is a pure function of the seed (default: %(default)s)"
    )
    data.add_argument("--accounts", type=_positive, help="number of ad accounts (default: the profile's)")
    data.add_argument("--campaigns-per-account", type=_positive, help="campaigns per account (default: the profile's)")
    data.add_argument(
        "--creatives-per-campaign", type=_positive, help="creatives per campaign (default: the profile's)"
    )
    data.add_argument("--days", type=_positive, help="days of history (default: the profile's)")
    data.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        help="the day after the last day of data, YYYY-MM-DD (default: today, UTC)",
    )
    data.add_argument(
        "--oddities",
        action="store_true",
        help="legitimate oddities LinkedIn sends: clicks > impressions on some rows, a creative above its campaign "
        "on corrected days, floating-point dust in money strings (default: off)",
    )
    data.add_argument(
        "--refuse-account",
        type=int,
        action="append",
        default=[],
        metavar="INDEX",
        help="the member's role on the INDEX-th account (0-based) was changed: it is listed, but its entities answer "
        "403 and adAnalytics no rows for it; repeatable (default: none)",
    )
    data.add_argument(
        "--late-data-days",
        type=int,
        default=defaults.late_data_days,
        help="late-data mode: POST /_sim/new-generation revises the last N days' conversions and cost "
        "(default: %(default)s = off)",
    )

    knobs = parser.add_argument_group("behaviour (POST /_sim/knobs changes these while it runs)")
    knobs.add_argument(
        "--latency-ms",
        type=_non_negative,
        default=defaults.latency_ms,
        help="added to every /rest request (default: %(default)s)",
    )
    for fault, what in (
        ("429", "429 with LinkedIn's throttle message"),
        ("500", "500 Internal Server Error"),
        ("503", "503 with an HTML gateway body"),
        ("timeout", "no answer for --timeout-s seconds (or until the client hangs up)"),
        ("truncated-body", "a body cut in half after a full Content-Length"),
    ):
        knobs.add_argument(
            f"--rate-{fault}",
            type=_rate,
            default=getattr(defaults, f"rate_{fault.replace('-', '_')}"),
            help=f"probability per /rest request of {what} (default: %(default)s)",
        )
    knobs.add_argument(
        "--timeout-s",
        type=_non_negative,
        default=defaults.timeout_s,
        help="how long an injected timeout holds a request (default: %(default)s)",
    )
    knobs.add_argument(
        "--requests-per-second",
        type=_positive_float,
        default=defaults.requests_per_second,
        help="/rest requests admitted per second (burst: one second's worth); beyond it 429 "
        "(default: %(default)s = unlimited)",
    )
    knobs.add_argument(
        "--daily-quota",
        type=_positive,
        default=defaults.daily_quota,
        help="calls per endpoint per UTC day before 429, like LinkedIn's daily quotas (default: %(default)s = unlimited)",
    )
    knobs.add_argument(
        "--metric-value-budget",
        type=_positive,
        default=defaults.metric_value_budget,
        help="adAnalytics metric values (fields x elements) per 5 minutes before 429 with LinkedIn's "
        "45-million message (default: %(default)s)",
    )
    knobs.add_argument(
        "--max-elements",
        type=_positive,
        default=defaults.max_elements,
        help="adAnalytics silently truncates a response at this many elements (default: %(default)s)",
    )
    knobs.add_argument(
        "--access-token-ttl-s",
        type=_positive,
        default=defaults.access_token_ttl_s,
        help="lifetime of access tokens in seconds; a short one (e.g. 30) makes a sync refresh its token "
        "mid-run (default: %(default)s = LinkedIn's 60 days)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    from linkedin_assets.simulator.server import SimulatorServer  # needs the simulator extra (uvicorn, starlette)

    try:
        config = SimulatorConfig(
            profile=args.profile, seed=args.seed, accounts=args.accounts, campaigns_per_account=args.campaigns_per_account,
            creatives_per_campaign=args.creatives_per_campaign, days=args.days, today=args.today,
            oddities=args.oddities, latency_ms=args.latency_ms, rate_429=args.rate_429, rate_500=args.rate_500,
            rate_503=args.rate_503, rate_timeout=args.rate_timeout, rate_truncated_body=args.rate_truncated_body,
            timeout_s=args.timeout_s, requests_per_second=args.requests_per_second, daily_quota=args.daily_quota,
            metric_value_budget=args.metric_value_budget, max_elements=args.max_elements,
            access_token_ttl_s=args.access_token_ttl_s, late_data_days=args.late_data_days,
        )  # fmt: skip
        server = SimulatorServer(config, host=args.host, port=args.port)
        for index in args.refuse_account:
            server.state.refuse_account(server.state.dataset.accounts[index]["id"])
    except (ValueError, OSError, IndexError) as exc:
        parser.error(str(exc) if not isinstance(exc, IndexError) else f"--refuse-account: no account {index}")
    print(f"LinkedIn API simulator ({config.profile}, seed {config.seed}) on {server.url}")
    print("Point linkedin_assets at it (fake credentials, minted for this run):")
    for name, value in server.client_env().items():
        print(f"export {name}={value}")
    print(flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
