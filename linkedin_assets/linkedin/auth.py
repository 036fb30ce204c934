"""The LinkedIn API's OAuth 2.0 bearer authentication as an httpx auth flow: :class:`LinkedInAuth`.

Every API request carries the access token in force. The token is refreshed before a request when it expires within
a day, and once when LinkedIn answers 401 (a token revoked or expired early); a 401 to the freshly refreshed token
raises :class:`~.errors.LinkedInAuthError`. However many requests ask at once, one refresh runs (an asyncio lock);
the refreshed tokens go to the token store. The refresh request goes through the client's retry policy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

import httpx

from . import oauth
from .errors import LinkedInAuthError, LinkedInHTTPError
from .responses import error_code
from .retry import RETRYABLE_STATUSES, RetryPolicy, ServerError
from .stats import RequestStats, endpoint_name
from .tokens import TokenSet, TokenStore

if TYPE_CHECKING:
    from .client import ClientConfig

__all__ = ["REFRESH_MARGIN", "REFRESH_TOKEN_WARNING", "LinkedInAuth"]

REFRESH_MARGIN = dt.timedelta(days=1)
"""An access token that expires within this is refreshed before it is used."""
REFRESH_TOKEN_WARNING = dt.timedelta(days=30)
"""A refresh token that expires within this is warned about (its 365-day lifetime is fixed)."""


class LinkedInAuth(httpx.Auth):
    """Bearer authentication with refresh, for ``httpx.AsyncClient.send(request, auth=...)``.

    ``tokens``: the tokens a run starts from (:func:`~.oauth.initial_tokens`). ``http`` and ``config`` reach the
    token endpoint, ``retry`` repeats a refresh that timed out, could not connect or got a 5xx; ``store`` (if any)
    keeps refreshed tokens; ``stats.refreshes`` counts the refreshes.
    """

    def __init__(
        self,
        tokens: TokenSet,
        *,
        http: httpx.AsyncClient,
        config: ClientConfig,
        retry: RetryPolicy,
        store: TokenStore | None,
        stats: RequestStats,
        logger: logging.Logger,
    ) -> None:
        self.tokens = tokens
        self._http = http
        self._config = config
        self._retry = retry
        self._store = store
        self._stats = stats
        self._logger = logger
        self._minted: str | None = None
        """The access token this object minted: trusted until LinkedIn refuses it, whatever its expiry says."""
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"LinkedInAuth(store={self._store!r})"

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._usable_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        endpoint = endpoint_name(request.url.path)
        await response.aread()
        self._logger.info("LinkedIn answered 401 (%s) on %s: refreshing the token", error_code(response), endpoint)
        request.headers["Authorization"] = f"Bearer {await self.refresh(stale=token)}"
        response = yield request
        if response.status_code == 401:
            await response.aread()
            raise LinkedInAuthError(
                f"LinkedIn refused a freshly refreshed access token on {endpoint} ({error_code(response) or 401})"
            )

    async def _usable_token(self) -> str:
        """The access token in force, refreshed first when there is none or it expires within :data:`REFRESH_MARGIN`."""
        tokens = self.tokens
        expires_at = tokens.access_token_expires_at
        expiring = (
            expires_at is not None
            and expires_at - dt.datetime.now(dt.UTC) < REFRESH_MARGIN
            and tokens.access_token != self._minted
        )
        if tokens.access_token is None or expiring:
            return await self.refresh(stale=tokens.access_token)
        return tokens.access_token

    async def refresh(self, stale: str | None) -> str:
        """Replace the access token ``stale`` (``None``: there is none) and return the new one; when another request
        already replaced it, return that one. One refresh at a time, however many requests ask."""
        async with self._lock:
            current = self.tokens
            if current.access_token is not None and current.access_token != stale:
                return current.access_token
            if not current.refresh_token:
                raise LinkedInAuthError(
                    "no usable LinkedIn access token and no refresh token to mint one"
                    if current.access_token is None
                    else "LinkedIn refused the access token and there is no refresh token to mint a new one"
                )
            fresh = await self._retry.run(oauth.TOKEN_ENDPOINT, lambda: self._mint(current.refresh_token))
            tokens = fresh.with_updates(
                refresh_token=fresh.refresh_token or current.refresh_token,
                refresh_token_expires_at=fresh.refresh_token_expires_at or current.refresh_token_expires_at,
                seed_fingerprint=current.seed_fingerprint,
            )
            self._keep(tokens)
            assert tokens.access_token is not None
            return tokens.access_token

    async def _mint(self, refresh_token: str | None) -> TokenSet:
        """One request to the token endpoint; a 5xx is raised as :class:`~.retry.ServerError` for the retry policy."""
        try:
            return await oauth.refresh_access_token(self._http, self._config, refresh_token)
        except LinkedInHTTPError as exc:
            if exc.status in RETRYABLE_STATUSES:
                raise ServerError(exc) from None
            raise

    def _keep(self, tokens: TokenSet) -> None:
        """Put freshly minted ``tokens`` in force, save them to the store, count and log the refresh."""
        self.tokens, self._minted = tokens, tokens.access_token
        if self._store is not None:
            self._store.save(tokens)
        self._stats.refreshes += 1
        self._logger.info(
            "Refreshed the LinkedIn access token (valid until %s)%s",
            tokens.access_token_expires_at,
            f"; saved to {self._store.path}" if self._store else "",
        )
        self.warn_about_refresh_token()

    def warn_about_refresh_token(self) -> None:
        """A warning when the refresh token expires within :data:`REFRESH_TOKEN_WARNING`: re-authorize before then."""
        expires_at = self.tokens.refresh_token_expires_at
        if expires_at is not None and expires_at - dt.datetime.now(dt.UTC) < REFRESH_TOKEN_WARNING:
            self._logger.warning(
                "The LinkedIn refresh token expires at %s (its 365-day lifetime is fixed): run"
                " `linkedin-assets auth login` before then",
                expires_at,
            )
