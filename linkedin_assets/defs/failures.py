"""Failures a person can act on: what failed, why, and what to do, in one short text and never with a secret.

Assets wrap their work in ``actionable_failures()``: a ``LinkedInError`` or ``WarehouseError`` becomes a
``dg.Failure`` whose description is the short text and whose metadata names the error, the endpoint or account when
known, and what to do. The UI shows that as the step's failure; ``linkedin-assets sync`` prints the same text
(``explain``) and keeps stack traces for the run's log and ``--verbose``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from linkedin_assets.linkedin.errors import LinkedInError
from linkedin_assets.settings import Settings
from linkedin_assets.warehouse import WarehouseError

WHAT_TO_DO = {
    "LinkedInAuthError": "Re-authorize with `linkedin-assets auth login` (or set LINKEDIN_REFRESH_TOKEN), then sync again.",
    "LinkedInConnectionError": "Check {variable} and that its host is reachable from where runs execute.",
    "LinkedInQuotaExhausted": "Sync again after 00:00 UTC, when the quota resets: the run fetches only what is missing.",
    "LinkedInHTTPError": "Check the account ids and the app's permissions; LinkedIn support asks for the request id.",
    "LinkedInPayloadError": "Sync again; if it repeats, report the endpoint and field named above.",
    "LinkedInConfigError": "Fix the setting named above and sync again.",
    "SettingsError": "Fix the environment variable named above and sync again.",
    "WarehouseError": "Check that the warehouse (LINKEDIN_ASSETS_DATABASE_URL, or the DuckDB file) is reachable and "
    "writable, then sync again: the failed write was rolled back.",
}
DEFAULT_WHAT_TO_DO = "Read the run's log (the UI, or sync again with --verbose) for the stack trace."


def what_to_do(error_class: str, base: str = "api_base_url") -> str:
    """The advice for an error class name (subclasses of ``WarehouseError`` share its advice); ``base``: the base URL
    setting an unreachable URL was under."""
    if error_class in WHAT_TO_DO:
        return WHAT_TO_DO[error_class].format(variable=Settings.variable(base))
    if error_class.endswith("WarehouseError"):
        return WHAT_TO_DO["WarehouseError"]
    return DEFAULT_WHAT_TO_DO


def as_failure(exc: LinkedInError | WarehouseError) -> dg.Failure:
    """``exc`` as a ``dg.Failure``: its own text (already free of secrets) plus what to do, as metadata."""
    name = type(exc).__name__
    metadata: dict[str, str] = {"error": name, "what to do": what_to_do(name, getattr(exc, "base", "api_base_url"))}
    for attribute in ("endpoint", "url", "account_id", "table", "request_id"):
        value = getattr(exc, attribute, None)
        if value not in (None, ""):
            metadata[attribute] = str(value)
    return dg.Failure(description=f"{name}: {exc}", metadata=metadata)


@contextmanager
def actionable_failures() -> Iterator[None]:
    """Turn the project's own errors into a ``dg.Failure`` a person can act on; anything else passes unchanged."""
    try:
        yield
    except (LinkedInError, WarehouseError) as exc:
        raise as_failure(exc) from exc
