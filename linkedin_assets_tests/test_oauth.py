"""OAuth: the authorization URL, refresh against the simulator's token endpoint, and store-vs-environment seeding."""

from __future__ import annotations

import asyncio
import datetime as dt
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from linkedin_assets.linkedin import oauth
from linkedin_assets.linkedin.client import ClientConfig
from linkedin_assets.linkedin.errors import LinkedInAuthError
from linkedin_assets.linkedin.tokens import TokenSet, TokenStore


def test_authorization_url_asks_for_the_ads_scopes():
    config = ClientConfig(client_id="app-123", oauth_base_url="https://www.linkedin.com/oauth/v2")
    url = urlsplit(oauth.authorization_url(config, "http://localhost:8765/callback", "xyz"))
    assert (url.scheme, url.netloc, url.path) == ("https", "www.linkedin.com", "/oauth/v2/authorization")
    assert parse_qs(url.query) == {
        "response_type": ["code"],
        "client_id": ["app-123"],
        "redirect_uri": ["http://localhost:8765/callback"],
        "state": ["xyz"],
        "scope": ["r_ads r_ads_reporting"],
    }


def sim_config(sim, **overrides) -> ClientConfig:
    return ClientConfig(
        api_base_url=sim.api_base_url,
        oauth_base_url=sim.oauth_base_url,
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        refresh_token=sim.refresh_token,
        **overrides,
    )


async def _refresh(config: ClientConfig, refresh_token: str | None = None) -> TokenSet:
    async with httpx.AsyncClient() as http:
        return await oauth.refresh_access_token(http, config, refresh_token)


def test_refresh_mints_a_sixty_day_token_and_keeps_the_refresh_token_window(make_simulator):
    sim = make_simulator(profile="small", seed=1)
    tokens = asyncio.run(_refresh(sim_config(sim)))
    now = dt.datetime.now(dt.UTC)
    assert tokens.access_token and tokens.access_token != sim.refresh_token
    assert tokens.source == "refresh" and tokens.refreshed_at is not None
    assert abs(tokens.access_token_expires_at - (now + dt.timedelta(days=60))) < dt.timedelta(minutes=1)
    assert tokens.refresh_token is not None
    assert tokens.refresh_token_expires_at <= now + dt.timedelta(days=365, minutes=1)


def test_dead_refresh_token_says_how_to_reauthorize(make_simulator):
    sim = make_simulator(profile="small", seed=1)
    sim.state.revoke_refresh_tokens()
    with pytest.raises(LinkedInAuthError) as raised:
        asyncio.run(_refresh(sim_config(sim)))
    text = str(raised.value)
    assert "linkedin-assets auth login" in text and "LINKEDIN_REFRESH_TOKEN" in text
    assert sim.refresh_token not in text and sim.client_secret not in text


def test_refresh_without_client_credentials_names_the_missing_variables():
    with pytest.raises(LinkedInAuthError, match="LINKEDIN_CLIENT_SECRET"):
        asyncio.run(_refresh(ClientConfig(client_id="app", refresh_token="rt")))


def test_store_seeded_from_the_same_env_token_wins(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    config = ClientConfig(access_token="env-at", refresh_token="env-rt")
    store.save(
        TokenSet(
            access_token="stored-at",
            refresh_token="rotated-rt",
            source="refresh",
            seed_fingerprint=oauth.fingerprint("env-rt"),
        )
    )
    tokens = oauth.initial_tokens(config, store)
    assert (tokens.access_token, tokens.refresh_token) == ("stored-at", "rotated-rt")


def test_a_new_env_refresh_token_overrides_the_store(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    store.save(TokenSet(access_token="old-at", refresh_token="old-rt", seed_fingerprint=oauth.fingerprint("old-env")))
    tokens = oauth.initial_tokens(ClientConfig(refresh_token="new-env-rt"), store)
    assert (tokens.access_token, tokens.refresh_token, tokens.source) == (None, "new-env-rt", "env")
    assert tokens.seed_fingerprint == oauth.fingerprint("new-env-rt")


def test_login_tokens_in_the_store_are_used_without_env_tokens(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    store.save(TokenSet(access_token="login-at", refresh_token="login-rt", source="login"))
    assert oauth.initial_tokens(ClientConfig(), store).access_token == "login-at"
    assert oauth.initial_tokens(ClientConfig(access_token="env-at"), None).access_token == "env-at"


def test_fingerprint_does_not_reveal_the_token():
    assert oauth.fingerprint("secret-refresh-token") == oauth.fingerprint("secret-refresh-token")
    assert "secret" not in oauth.fingerprint("secret-refresh-token")
    assert oauth.fingerprint("a") != oauth.fingerprint("b")
    assert oauth.fingerprint(None) is None
