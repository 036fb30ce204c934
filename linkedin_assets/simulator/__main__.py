"""``python -m linkedin_assets.simulator --port 8765 --profile small``: run the simulator in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt

from linkedin_assets.simulator.config import PROFILES, SimulatorConfig
from linkedin_assets.simulator.server import SimulatorServer


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m linkedin_assets.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--profile", choices=[*PROFILES, "custom"], default="small")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=_positive)
    parser.add_argument("--campaigns-per-account", type=_positive)
    parser.add_argument("--creatives-per-campaign", type=_positive)
    parser.add_argument("--days", type=_positive)
    parser.add_argument(
        "--today", type=dt.date.fromisoformat, help="last day of data + 1 (YYYY-MM-DD, default today UTC)"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0)
    for fault in ("429", "500", "503", "timeout", "truncated-body"):
        parser.add_argument(f"--rate-{fault}", type=_rate, default=0.0)
    parser.add_argument("--daily-quota", type=_positive)
    parser.add_argument("--late-data-days", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        config = SimulatorConfig(
            profile=args.profile, seed=args.seed, accounts=args.accounts, campaigns_per_account=args.campaigns_per_account,
            creatives_per_campaign=args.creatives_per_campaign, days=args.days, today=args.today,
            latency_ms=args.latency_ms, rate_429=args.rate_429, rate_500=args.rate_500, rate_503=args.rate_503,
            rate_timeout=args.rate_timeout, rate_truncated_body=args.rate_truncated_body, daily_quota=args.daily_quota,
            late_data_days=args.late_data_days,
        )  # fmt: skip
        server = SimulatorServer(config, host=args.host, port=args.port)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    print(f"LinkedIn API simulator ({config.profile}, seed {config.seed}) on {server.url}")
    print("Point linkedin_assets at it (fake credentials, minted for this run):")
    for name, value in server.client_env().items():
        print(f"export {name}={value}")
    print(flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
