"""Simulator configuration: data profiles and the run-time knobs (latency, faults, quotas)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from linkedin_assets.linkedin.fields import MAX_ELEMENTS

__all__ = ["PROFILES", "RUNTIME_KNOBS", "Profile", "SimulatorConfig", "default_active_versions"]


@dataclass(frozen=True)
class Profile:
    """Sizes of a generated data set."""

    accounts: int
    campaigns_per_account: int
    creatives_per_campaign: int
    days: int


PROFILES: dict[str, Profile] = {
    "small": Profile(accounts=1, campaigns_per_account=2, creatives_per_campaign=3, days=7),
    "medium": Profile(accounts=3, campaigns_per_account=50, creatives_per_campaign=3, days=90),
    "large": Profile(accounts=10, campaigns_per_account=200, creatives_per_campaign=4, days=365),
}


def default_active_versions() -> frozenset[str]:
    """``202411`` ... ``202610`` without December months (LinkedIn ships no December release)."""
    versions = []
    year, month = 2024, 11
    while (year, month) <= (2026, 10):
        if month != 12:
            versions.append(f"{year}{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return frozenset(versions)


RUNTIME_KNOBS: frozenset[str] = frozenset(
    {
        "latency_ms",
        "rate_429",
        "rate_500",
        "rate_503",
        "rate_timeout",
        "rate_truncated_body",
        "timeout_s",
        "access_token_ttl_s",
        "daily_quota",
        "requests_per_second",
        "metric_value_budget",
        "active_versions",
        "max_elements",
    }
)
"""Fields :meth:`SimulatorServer.configure` may change while the simulator runs (the data is fixed at start)."""

_SIZE_FIELDS = ("accounts", "campaigns_per_account", "creatives_per_campaign", "days")
_RATE_FIELDS = ("rate_429", "rate_500", "rate_503", "rate_timeout", "rate_truncated_body")


@dataclass(frozen=True)
class SimulatorConfig:
    """What the simulator generates (profile, seed, sizes, ``today``, oddities) and how it behaves (knobs).

    Data (fixed once the simulator starts):
        profile: ``small`` | ``medium`` | ``large`` | ``custom`` (``custom`` needs every size below).
        seed: everything generated is a pure function of the seed, the sizes and ``today``.
        accounts, campaigns_per_account, creatives_per_campaign, days: override the profile's sizes.
        today: the day after the last day of data (default: today, UTC).
        late_data_days: late-data mode: :meth:`SimulatorState.new_generation` revises the last N days.
        oddities: legitimate oddities LinkedIn sends (clicks > impressions, a creative above its campaign on a
            corrected day, floating-point dust in money strings); see :meth:`Dataset.creative_day_facts`.

    Knobs (:meth:`SimulatorServer.configure` changes them while it runs):
        latency_ms: added to every ``/rest`` request.
        rate_429, rate_500, rate_503, rate_timeout, rate_truncated_body: probability of each injected fault per
            ``/rest`` request (they add up to at most 1). A timeout holds the request ``timeout_s`` seconds.
        access_token_ttl_s: lifetime of minted access tokens (LinkedIn: 60 days); small values test refreshes.
        daily_quota: calls per endpoint per UTC day before 429 (``None``: unlimited).
        requests_per_second: ``/rest`` requests admitted per second (a one-second token bucket, burst = the
            rate); beyond it 429 with LinkedIn's throttle message. ``None``: unlimited.
        metric_value_budget: adAnalytics metric values (fields x elements) per 5 minutes before 429.
        active_versions: ``LinkedIn-Version`` months answered (others get 426).
        max_elements: adAnalytics silently truncates responses at this many elements.
    """

    profile: str = "small"
    seed: int = 1
    accounts: int | None = None
    campaigns_per_account: int | None = None
    creatives_per_campaign: int | None = None
    days: int | None = None
    today: dt.date | None = None
    latency_ms: float = 0.0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_timeout: float = 0.0
    rate_truncated_body: float = 0.0
    timeout_s: float = 30.0
    access_token_ttl_s: int = 5_184_000
    daily_quota: int | None = None
    requests_per_second: float | None = None
    metric_value_budget: int = 45_000_000
    late_data_days: int = 0
    oddities: bool = False
    active_versions: frozenset[str] | None = field(default=None)
    max_elements: int = MAX_ELEMENTS

    def __post_init__(self) -> None:
        if self.profile not in PROFILES and self.profile != "custom":
            raise ValueError(f"unknown profile {self.profile!r}; expected one of {[*PROFILES, 'custom']}")
        if self.profile == "custom" and any(getattr(self, name) is None for name in _SIZE_FIELDS):
            raise ValueError(f"profile 'custom' needs every size: {', '.join(_SIZE_FIELDS)}")
        for name in _SIZE_FIELDS:
            value = getattr(self, name)
            if value is not None and value < (1 if name in ("accounts", "days") else 0):
                raise ValueError(f"{name} must be positive, got {value}")
        for name in _RATE_FIELDS:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], got {getattr(self, name)}")
        if sum(getattr(self, name) for name in _RATE_FIELDS) > 1.0:
            raise ValueError("fault rates add up to more than 1")
        if self.latency_ms < 0 or self.timeout_s < 0:
            raise ValueError("latency_ms and timeout_s must not be negative")
        if self.late_data_days < 0 or self.max_elements < 1 or self.metric_value_budget < 1:
            raise ValueError("late_data_days must be >= 0, max_elements and metric_value_budget >= 1")
        if self.daily_quota is not None and self.daily_quota < 0:
            raise ValueError("daily_quota must not be negative")
        if self.requests_per_second is not None and self.requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive (or None for no limit)")
        if self.active_versions is None:
            object.__setattr__(self, "active_versions", default_active_versions())
        else:
            object.__setattr__(self, "active_versions", frozenset(self.active_versions))
        if self.today is None:
            object.__setattr__(self, "today", dt.datetime.now(dt.UTC).date())

    @property
    def sizes(self) -> Profile:
        """The profile's sizes with the overrides applied."""
        base = PROFILES.get(self.profile, PROFILES["small"])
        overrides = {name: getattr(self, name) for name in _SIZE_FIELDS if getattr(self, name) is not None}
        return dataclasses.replace(base, **overrides)

    def with_knobs(self, **knobs: object) -> SimulatorConfig:
        """A copy with run-time knobs changed; data-shaping fields cannot change once data exists."""
        fixed = set(knobs) - RUNTIME_KNOBS
        if fixed:
            raise ValueError(f"not changeable at run time: {', '.join(sorted(fixed))}")
        return dataclasses.replace(self, **knobs)
