"""Exceptions raised by the LinkedIn client. None of their texts ever contains a token or a secret."""

from __future__ import annotations

__all__ = [
    "AUTH_ENV_VARS",
    "LinkedInAuthError",
    "LinkedInConfigError",
    "LinkedInConnectionError",
    "LinkedInError",
    "LinkedInHTTPError",
    "LinkedInPayloadError",
    "LinkedInQuotaExhausted",
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
