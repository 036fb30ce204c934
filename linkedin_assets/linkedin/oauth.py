"""LinkedIn OAuth 2.0: the authorization URL, code exchange, refresh, and which tokens a run starts from.

Requests to the token endpoint carry the client secret and the refresh token in their form body, so nothing
here logs a request body or puts a response body into an exception.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, ValidationError

from .errors import LinkedInAuthError, LinkedInHTTPError, LinkedInPayloadError
from .tokens import TokenSet, TokenStore

if TYPE_CHECKING:
    from .client import ClientConfig

__all__ = [
    "DEFAULT_SCOPES",
    "authorization_url",
    "exchange_authorization_code",
    "fingerprint",
    "initial_tokens",
    "refresh_access_token",
]

DEFAULT_SCOPES: tuple[str, ...] = ("r_ads", "r_ads_reporting")
TOKEN_ENDPOINT = "oauth/accessToken"


class _TokenResponse(BaseModel):
    access_token: str
    expires_in: int
    refresh_token: str | None = None
    refresh_token_expires_in: int | None = None
    scope: str | None = None


def fingerprint(refresh_token: str | None) -> str | None:
    """A short sha256 prefix identifying a refresh token without revealing it."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:16] if refresh_token else None


def authorization_url(
    config: ClientConfig, redirect_uri: str, state: str, scopes: tuple[str, ...] = DEFAULT_SCOPES
) -> str:
    """The browser URL where a member grants the app access (step one of the 3-legged flow)."""
    if not config.client_id:
        raise LinkedInAuthError("LINKEDIN_CLIENT_ID is not set")
    query = urlencode(
        {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": " ".join(scopes),
        },
        quote_via=quote,
    )
    return f"{config.oauth_base_url.rstrip('/')}/authorization?{query}"


async def refresh_access_token(
    http: httpx.AsyncClient, config: ClientConfig, refresh_token: str | None = None
) -> TokenSet:
    """Mint a new access token from ``refresh_token`` (default: the configured one)."""
    refresh_token = refresh_token or config.refresh_token
    missing = [
        name
        for name, value in (
            ("LINKEDIN_CLIENT_ID", config.client_id),
            ("LINKEDIN_CLIENT_SECRET", config.client_secret),
            ("LINKEDIN_REFRESH_TOKEN", refresh_token),
        )
        if not value
    ]
    if missing:
        raise LinkedInAuthError(f"cannot refresh the LinkedIn access token: {', '.join(missing)} not set")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": config.client_id,
        "client_secret": config.client_secret,
    }
    return await _token_request(http, config, form, source="refresh", dead_grant="the refresh token")


async def exchange_authorization_code(
    http: httpx.AsyncClient, config: ClientConfig, code: str, redirect_uri: str
) -> TokenSet:
    """Trade the code from the authorization redirect for tokens (source ``login``).

    The result remembers the fingerprint of the configured refresh token, so the store (not the older
    environment token) is used by later runs.
    """
    if not (config.client_id and config.client_secret):
        raise LinkedInAuthError(
            "cannot exchange the authorization code: LINKEDIN_CLIENT_ID/LINKEDIN_CLIENT_SECRET not set"
        )
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": config.client_id,
        "client_secret": config.client_secret,
    }
    tokens = await _token_request(http, config, form, source="login", dead_grant="the authorization code")
    return tokens.with_updates(seed_fingerprint=fingerprint(config.refresh_token))


def initial_tokens(config: ClientConfig, store: TokenStore | None) -> TokenSet:
    """The tokens a run starts from: the store's, unless the environment holds a different refresh token.

    A refresh token in the environment that differs from the one the store was seeded from means the user
    re-authorized and updated the environment, so the environment wins.
    """
    env_fingerprint = fingerprint(config.refresh_token)
    stored = store.load() if store else None
    if (
        stored is not None
        and (stored.access_token or stored.refresh_token)
        and (env_fingerprint is None or stored.seed_fingerprint == env_fingerprint)
    ):
        return stored
    return TokenSet(
        access_token=config.access_token,
        refresh_token=config.refresh_token,
        source="env",
        seed_fingerprint=env_fingerprint,
    )


async def _token_request(
    http: httpx.AsyncClient, config: ClientConfig, form: dict[str, str | None], *, source: str, dead_grant: str
) -> TokenSet:
    url = f"{config.oauth_base_url.rstrip('/')}/accessToken"
    response = await http.post(url, data=form, headers={"Accept": "application/json"})
    if response.status_code != 200:
        error, description = _oauth_error(response)
        if response.status_code == 400 and error in ("invalid_request", "invalid_grant"):
            raise LinkedInAuthError(f"LinkedIn rejected {dead_grant} ({error}: {description or 'no description'})")
        if error == "invalid_client" or response.status_code == 401:
            raise LinkedInAuthError(f"LinkedIn rejected the client credentials ({error or response.status_code})")
        raise LinkedInHTTPError(response.status_code, TOKEN_ENDPOINT, code=error, message=description or "")
    try:
        body = _TokenResponse.model_validate_json(response.content)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "<root>" for e in exc.errors(include_url=False))
        raise LinkedInPayloadError(f"token response from {TOKEN_ENDPOINT}: invalid field(s) {fields}") from None
    now = dt.datetime.now(dt.UTC)
    return TokenSet(
        access_token=body.access_token,
        access_token_expires_at=now + dt.timedelta(seconds=body.expires_in),
        refresh_token=body.refresh_token,
        refresh_token_expires_at=(
            now + dt.timedelta(seconds=body.refresh_token_expires_in) if body.refresh_token_expires_in else None
        ),
        scope=body.scope,
        refreshed_at=now,
        source=source,
    )


def _oauth_error(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    return body.get("error"), body.get("error_description")
