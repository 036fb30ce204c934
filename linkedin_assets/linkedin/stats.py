"""What a client did: :class:`RequestStats`, counted by the layers of a request (:mod:`.transport`, :mod:`.retry`,
:mod:`.auth`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

__all__ = ["RequestStats", "endpoint_name"]


@dataclass
class RequestStats:
    """What a client did, for logs and Dagster metadata."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    """429 responses."""
    server_errors: int = 0
    timeouts: int = 0
    refreshes: int = 0
    bytes_received: int = 0
    resplits: int = 0
    """adAnalytics responses cut at the element cap and asked again in two halves (the cap re-asks)."""
    connection_failures: int = 0
    """Requests that could not connect at all (refused, DNS)."""
    by_endpoint: dict[str, int] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, int]:
        """A flat dict: the counters plus ``requests_<endpoint>`` per endpoint."""
        flat = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "by_endpoint"}
        flat.update({f"requests_{endpoint}": count for endpoint, count in sorted(self.by_endpoint.items())})
        return flat


def endpoint_name(path: str) -> str:
    """The name a request is reported and counted under: the last segment of its path (``adAccounts/1/adCampaigns``
    -> ``adCampaigns``), the resource LinkedIn documents it under."""
    return path.rstrip("/").rsplit("/", 1)[-1]
