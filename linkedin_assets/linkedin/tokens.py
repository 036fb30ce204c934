"""The token store: the OAuth tokens in force, kept in one owner-only JSON file under ``data/``.

The client writes it after every refresh, ``linkedin-assets auth login`` after an authorization, and the
token sensor watches ``refreshed_at``. Writes are atomic (temporary file, fsync, rename), so a reader sees
the old tokens or the new ones, never half a file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from linkedin_assets.files import write_atomically

__all__ = ["TokenSet", "TokenStore", "TokenStoreError"]


class TokenStoreError(RuntimeError):
    """The token store file exists but cannot be read as a token set."""


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value else None


def _parse(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class TokenSet:
    """Tokens and what is known about them. ``repr`` never shows a token."""

    access_token: str | None = field(default=None, repr=False)
    access_token_expires_at: dt.datetime | None = None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_token_expires_at: dt.datetime | None = None
    scope: str | None = None
    refreshed_at: dt.datetime | None = None
    """When these tokens were minted (by a refresh or an authorization), UTC."""
    source: str = "env"
    """``login``, ``refresh`` or ``env``: how the tokens got here."""
    seed_fingerprint: str | None = None
    """Fingerprint of the environment refresh token the store was seeded from (never the token itself)."""

    def with_updates(self, **changes: Any) -> TokenSet:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for f in fields(self):
            if isinstance(data[f.name], dt.datetime):
                data[f.name] = _iso(data[f.name])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenSet:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("access_token_expires_at", "refresh_token_expires_at", "refreshed_at"):
            values[key] = _parse(values.get(key))
        return cls(**values)


class TokenStore:
    """A JSON file holding one :class:`TokenSet`, readable and writable by its owner only."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    def load(self) -> TokenSet | None:
        """The stored tokens, or ``None`` when nothing has been stored yet."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return TokenSet.from_json(json.loads(raw))
        except (ValueError, TypeError) as exc:
            raise TokenStoreError(f"token store {self.path} is not a valid token file: {type(exc).__name__}") from None

    def save(self, tokens: TokenSet) -> None:
        """Replace the stored tokens atomically; the file is created with mode 0600."""
        text = json.dumps(tokens.to_json(), indent=2, sort_keys=True)
        write_atomically(self.path, text.encode("utf-8"), mode=0o600)

    def refreshed_at(self) -> dt.datetime | None:
        """When the stored tokens were minted; what the token sensor watches."""
        tokens = self.load()
        return tokens.refreshed_at if tokens else None
