"""Exceptions raised by the LinkedIn client. None of their texts ever contains a token or a secret."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "AUTH_ENV_VARS",
    "AccountFailure",
    "LinkedInAuthError",
    "LinkedInConfigError",
    "LinkedInConnectionError",
    "LinkedInError",
    "LinkedInHTTPError",
    "LinkedInPayloadError",
    "LinkedInQuotaExhausted",
    "account_failure",
]

AUTH_ENV_VARS = "LINKEDIN_CLIENT_ID, LINKEDIN_CLIENT_SECRET, LINKEDIN_REFRESH_TOKEN (or LINKEDIN_ACCESS_TOKEN)"


class LinkedInError(Exception):
    """Base class of every error this package raises."""


class LinkedInHTTPError(LinkedInError):
    """LinkedIn answered with an error status that retrying will not fix (or retries ran out)."""

    def __init__(
        self,
        status: int,
        endpoint: str,
        *,
        code: str | None = None,
        message: str = "",
        request_id: str | None = None,
        hint: str | None = None,
        account_id: int | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.endpoint = endpoint
        self.request_id = request_id
        self.message = message
        self.account_id = account_id
        """The ad account the request was for (its path or its single ``accounts`` facet), when it names one."""
        text = f"LinkedIn API {status}{f' {code}' if code else ''} on {endpoint}"
        if account_id is not None:
            text += f" for ad account {account_id}"
        if request_id:
            text += f" (request id {request_id})"
        if message:
            text += f": {message}"
        if hint:
            text += f". {hint}"
        super().__init__(text)


class LinkedInAuthError(LinkedInError):
    """No usable credentials: the refresh token is dead, missing, or LinkedIn keeps refusing the access token."""

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"{problem}. Re-authorize with `linkedin-assets auth login`, or set {AUTH_ENV_VARS} in the environment."
        )


class LinkedInQuotaExhausted(LinkedInError):
    """LinkedIn kept answering 429 long enough that the daily quota is evidently used up."""

    def __init__(self, endpoint: str, waited_s: float) -> None:
        self.endpoint = endpoint
        super().__init__(
            f"LinkedIn has answered 429 on {endpoint} for {waited_s:.0f} s: the daily request quota looks exhausted. "
            "It resets at 00:00 UTC; run the sync again after that."
        )


class LinkedInPayloadError(LinkedInError):
    """A response did not have the shape the client relies on."""


class LinkedInConfigError(LinkedInError):
    """The configuration is invalid (malformed API version, unknown account id, ...)."""


class LinkedInConnectionError(LinkedInError):
    """The API could not be reached at all (connection refused, DNS failure): retrying longer will not help.

    ``url`` is scheme, host and path only: never a query string, never a header. ``base`` names the configured base
    URL it is under (``api_base_url`` or ``oauth_base_url``), so that the advice names the setting to check.
    """

    def __init__(self, url: str, reason: str, base: str = "api_base_url") -> None:
        self.url = url
        self.reason = reason
        self.base = base
        super().__init__(f"cannot reach {url}: {reason}")


ACCOUNT_STATUSES = frozenset({403, 404})
"""What LinkedIn answers for an ad account the member lost its role on, or that is restricted or gone."""


@dataclass(frozen=True)
class AccountFailure:
    """LinkedIn refused (or kept failing) the requests for one ad account; the other accounts are unaffected.

    Stored with the warehouse write that left the account out (``as_record``), so a check can name it after the run.
    """

    account_id: int
    endpoint: str
    status: int
    code: str | None = None
    message: str = ""
    request_id: str | None = None

    def as_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> AccountFailure:
        return cls(
            **{k: record.get(k) for k in ("account_id", "endpoint", "status", "code", "request_id")},
            message=record.get("message") or "",
        )

    def describe(self) -> str:
        """``403 ACCESS_DENIED on adCampaignGroups: <LinkedIn's message>``."""
        text = f"{self.status}{f' {self.code}' if self.code else ''} on {self.endpoint}"
        return f"{text}: {self.message}" if self.message else text

    @property
    def what_to_do(self) -> str:
        if self.status in ACCOUNT_STATUSES:
            return (
                f"Give the authorized LinkedIn member a role on ad account {self.account_id} (Campaign Manager, "
                "Account settings, Manage access), or leave it out of LINKEDIN_ACCOUNT_IDS"
            )
        return f"LinkedIn kept failing for ad account {self.account_id}; the next run asks again"


def account_failure(exc: BaseException, account_id: int | None = None) -> AccountFailure | None:
    """``exc`` as one account's failure, when it is one: an HTTP error for a request about a single ad account
    (``account_id``, else the one the request named) that is a 403, a 404, or a 5xx that retries did not fix. Anything
    else (a dead token, the quota, an unreachable host, a malformed answer) concerns every account: ``None``."""
    if not isinstance(exc, LinkedInHTTPError):
        return None
    account = account_id if account_id is not None else exc.account_id
    if account is None or not (exc.status in ACCOUNT_STATUSES or exc.status >= 500):
        return None
    return AccountFailure(account, exc.endpoint, exc.status, exc.code, exc.message, exc.request_id)
