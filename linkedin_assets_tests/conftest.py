"""Shared fixtures: one PostgreSQL database and one simulator per test session.

PostgreSQL is the real server at ``LINKEDIN_ASSETS_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``):
the session creates a database of its own and drops it at the end; each test that writes gets a schema of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import psycopg
import pytest

ADMIN_URL = os.environ.get("LINKEDIN_ASSETS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _url_for(database: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a PostgreSQL database created for this test session (dropped afterwards)."""
    name = f"linkedin_assets_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _url_for(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A warehouse schema name unique to one test, dropped after it."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(scope="session")
def simulator():
    """The simulator with the ``small`` profile on loopback, shared by every test that only reads from it.

    Tests that change knobs or data must use ``make_simulator`` instead.
    """
    from linkedin_assets.simulator import SimulatorConfig, SimulatorServer

    with SimulatorServer(SimulatorConfig(profile="small", seed=1)) as server:
        yield server


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., object]]:
    """Factory for a private simulator: ``make_simulator(profile="medium", latency_ms=5, ...)``."""
    from linkedin_assets.simulator import SimulatorConfig, SimulatorServer

    with ExitStack() as stack:

        def factory(**config):
            return stack.enter_context(SimulatorServer(SimulatorConfig(**config)))

        yield factory
