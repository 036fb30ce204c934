"""Rest.li 2.0 query-string encoding and decoding.

The structure characters ``( ) , :`` stay literal; every leaf value (URNs, names, enum values) is
percent-encoded, so ``List(urn:li:sponsoredAccount:1)`` becomes ``List(urn%3Ali%3AsponsoredAccount%3A1)``.
``httpx``'s own ``params=`` encoder gets this wrong in both directions, so the client passes the string that
:func:`encode_query` builds as the raw query.

Python values map to Rest.li as: ``list``/``tuple`` -> ``List(...)``, ``Mapping`` -> ``(k:v,...)``,
``datetime.date`` -> ``(year:Y,month:M,day:D)``, ``bool`` -> ``true``/``false``, numbers and strings -> leaves.
Decoding returns leaves as ``str``; the caller knows which type it expects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote

RestliValue = str | list["RestliValue"] | dict[str, "RestliValue"]

__all__ = ["RestliDecodeError", "decode", "decode_query", "encode", "encode_query"]


class RestliDecodeError(ValueError):
    """A query string or value that is not valid Rest.li 2.0."""


def encode(value: Any) -> str:
    """Encode one Python value as a Rest.li 2.0 query value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return quote(value, safe="")
    if isinstance(value, dt.datetime):
        raise TypeError("Rest.li dates are calendar days: pass a datetime.date, not a datetime")
    if isinstance(value, dt.date):
        return encode({"year": value.year, "month": value.month, "day": value.day})
    if isinstance(value, Mapping):
        return "(" + ",".join(f"{quote(str(k), safe='')}:{encode(v)}" for k, v in value.items()) + ")"
    if isinstance(value, (list, tuple)):
        return "List(" + ",".join(encode(v) for v in value) + ")"
    raise TypeError(f"cannot encode {type(value).__name__} as a Rest.li value")


def encode_query(params: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """Build a query string (without ``?``) from parameters; ``None`` values are left out.

    ``fields`` is special in Rest.li: a plain comma list, so pass it as an already joined string.
    """
    items = params.items() if isinstance(params, Mapping) else params
    return "&".join(
        f"{quote(k, safe='')}={quote(v, safe=',') if k == 'fields' else encode(v)}" for k, v in items if v is not None
    )


def decode(text: str) -> RestliValue:
    """Decode one Rest.li 2.0 value; raises :class:`RestliDecodeError` on malformed structure."""
    if not text.startswith(("List(", "(")):
        if any(c in text for c in "()"):
            raise RestliDecodeError(f"unbalanced or misplaced parenthesis in {text!r}")
        return unquote(text)
    parser = _Parser(text)
    value = parser.value()
    if parser.pos != len(text):
        raise RestliDecodeError(f"unexpected {text[parser.pos :]!r} after a complete value in {text!r}")
    return value


def decode_query(query: str) -> dict[str, RestliValue]:
    """Decode a raw query string (or a tunneled form body) into ``{name: value}``.

    Every parameter is decoded as a Rest.li value except ``fields``, whose commas are plain separators
    and which is returned unchanged (still a ``str``). A repeated parameter name is an error.
    """
    out: dict[str, RestliValue] = {}
    for part in query.split("&"):
        if not part:
            continue
        name, sep, raw = part.partition("=")
        if not sep:
            raise RestliDecodeError(f"parameter {name!r} has no value")
        name = unquote(name)
        if name in out:
            raise RestliDecodeError(f"parameter {name!r} is given twice")
        out[name] = unquote(raw) if name == "fields" else decode(raw)
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _fail(self, message: str) -> RestliDecodeError:
        return RestliDecodeError(f"{message} at offset {self.pos} of {self.text!r}")

    def _expect(self, token: str) -> None:
        if not self.text.startswith(token, self.pos):
            raise self._fail(f"expected {token!r}")
        self.pos += len(token)

    def value(self) -> RestliValue:
        if self.text.startswith("List(", self.pos):
            return self._list()
        if self.text.startswith("(", self.pos):
            return self._object()
        return self._leaf()

    def _list(self) -> list[RestliValue]:
        self._expect("List(")
        items: list[RestliValue] = []
        if self.text.startswith(")", self.pos):
            self.pos += 1
            return items
        while True:
            items.append(self.value())
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            self._expect(")")
            return items

    def _object(self) -> dict[str, RestliValue]:
        self._expect("(")
        obj: dict[str, RestliValue] = {}
        if self.text.startswith(")", self.pos):
            self.pos += 1
            return obj
        while True:
            end = self.text.find(":", self.pos)
            if end < 0:
                raise self._fail("expected 'key:' in an object")
            key = self.text[self.pos : end]
            if not key or any(c in key for c in "(),"):
                raise self._fail(f"bad object key {key!r}")
            self.pos = end + 1
            obj[unquote(key)] = self.value()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            self._expect(")")
            return obj

    def _leaf(self) -> str:
        # Raw colons are tolerated inside a leaf (LinkedIn accepts unencoded URNs in List(...)),
        # raw parentheses are not: they would be structure.
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",)":
            if self.text[self.pos] == "(":
                raise self._fail("unexpected '(' inside a value")
            self.pos += 1
        if self.pos == start:
            raise self._fail("empty value")
        return unquote(self.text[start : self.pos])
