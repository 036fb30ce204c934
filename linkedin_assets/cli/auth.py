"""linkedin-assets auth: the OAuth authorization-code flow, the token store's status, a refresh now."""

import asyncio
import datetime as dt
import http.server
import secrets
import threading
import webbrowser
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlparse

import httpx

if TYPE_CHECKING:
    from linkedin_assets.linkedin.client import ClientConfig
    from linkedin_assets.settings import Settings


def _auth_config(settings: "Settings") -> "ClientConfig":
    from linkedin_assets.defs.resources import linkedin_resource

    return linkedin_resource(settings, env_vars=False).config()


def auth_login(
    settings: "Settings", port: int, open_browser: bool, echo: Callable[[str], None] = print, timeout_s: float = 300.0
) -> int:
    """The OAuth authorization-code flow: print the URL, catch the redirect on 127.0.0.1, store the tokens."""
    from linkedin_assets.linkedin.oauth import authorization_url, exchange_authorization_code
    from linkedin_assets.linkedin.tokens import TokenStore

    config = _auth_config(settings)
    state = secrets.token_urlsafe(24)
    received: dict[str, str] = {}
    done = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            if "code" not in query and "error" not in query:
                self.send_error(404)
                return
            received.update(query)
            ok = query.get("state") == state and "code" in query
            body = b"Authorized: you can close this tab." if ok else b"Authorization failed: see the terminal."
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            done.set()

        def log_message(self, *args: object) -> None:  # the query holds the code: never log it
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/callback"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = authorization_url(config, redirect_uri, state)
        echo(f"Open this URL and allow access (redirect to {redirect_uri}):\n{url}")
        if open_browser:
            webbrowser.open(url)
        if not done.wait(timeout_s):
            echo(f"No authorization redirect within {timeout_s:.0f} s")
            return 1
    finally:
        server.shutdown()
        server.server_close()
    if "error" in received:
        echo(f"LinkedIn refused the authorization: {received.get('error')} {received.get('error_description', '')}")
        return 1
    if received.get("state") != state:
        echo("The redirect's state does not match this login: ignoring it (possible forged request)")
        return 1

    async def exchange():
        async with httpx.AsyncClient(timeout=config.timeout_s) as http:
            return await exchange_authorization_code(http, config, received["code"], redirect_uri)

    tokens = asyncio.run(exchange())
    TokenStore(config.token_store_path).save(tokens)
    echo(f"Tokens stored in {config.token_store_path}")
    return auth_status(settings, echo)


def auth_status(settings: "Settings", echo: Callable[[str], None] = print) -> int:
    """What the token store holds: scopes, both expiries, the last refresh; never the tokens."""
    from linkedin_assets.linkedin.tokens import TokenStore

    path = settings.token_store
    tokens = TokenStore(path).load()
    if tokens is None:
        echo(f"No tokens stored in {path}: run `linkedin-assets auth login`")
        return 1
    now = dt.datetime.now(dt.UTC)

    def when(moment: dt.datetime | None) -> str:
        if moment is None:
            return "unknown"
        days = (moment - now).total_seconds() / 86400
        return f"{moment:%Y-%m-%d %H:%M} UTC ({'in' if days >= 0 else 'expired'} {abs(days):.1f} days{'' if days >= 0 else ' ago'})"

    echo(f"Token store:    {path}")
    echo(f"Scopes:         {tokens.scope or 'unknown'}")
    echo(
        f"Access token:   {'present' if tokens.access_token else 'missing'}, expires {when(tokens.access_token_expires_at)}"
    )
    echo(
        f"Refresh token:  {'present' if tokens.refresh_token else 'missing'}, expires {when(tokens.refresh_token_expires_at)}"
    )
    echo(
        f"Last refresh:   {tokens.refreshed_at:%Y-%m-%d %H:%M:%S} UTC ({tokens.source})"
        if tokens.refreshed_at
        else "Last refresh:   never"
    )
    return 0


def auth_refresh(settings: "Settings", echo: Callable[[str], None] = print) -> int:
    """Refresh the access token now and store it."""
    from linkedin_assets.linkedin.oauth import initial_tokens, refresh_access_token
    from linkedin_assets.linkedin.tokens import TokenStore

    config = _auth_config(settings)
    store = TokenStore(config.token_store_path)
    current = initial_tokens(config, store)

    async def refresh():
        async with httpx.AsyncClient(timeout=config.timeout_s) as http:
            return await refresh_access_token(http, config, current.refresh_token)

    tokens = asyncio.run(refresh())
    store.save(tokens.with_updates(seed_fingerprint=current.seed_fingerprint))
    echo(f"Access token refreshed; stored in {config.token_store_path}")
    return auth_status(settings, echo)
