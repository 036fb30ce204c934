"""``linkedin-assets``: progress lines from the event log, exit codes, and the auth commands."""

import datetime as dt
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def cli_env(sim, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINKEDIN_", "DAGSTER_"))}
    env.update(sim.client_env(), LINKEDIN_ASSETS_DATA_DIR=str(data_dir), **extra)
    env.pop("LINKEDIN_ACCESS_TOKEN")  # runs start from the refresh token
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "linkedin_assets.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_sync_prints_progress_from_the_event_log_and_succeeds(make_simulator, tmp_path):
    sim = make_simulator(profile="small", seed=21)
    start = YESTERDAY - dt.timedelta(days=2)
    done = run_cli("sync", "--start", start.isoformat(), "--end", YESTERDAY.isoformat(), env=cli_env(sim, tmp_path))
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    expected_in_order = [
        "== linkedin_daily_sync",
        "Found 1 ad account(s)",
        "campaigns",
        "Planned",
        "materialized linkedin_ads/campaign_daily_metrics",
        "check clicks_within_impressions: passed",
        "== linkedin_monthly_sync",
        "materialized linkedin_ads/demographic_metrics",
        "materialized linkedin_ads/snapshot",
    ]
    positions = [out.find(text) for text in expected_in_order]
    assert -1 not in positions, [t for t, p in zip(expected_in_order, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    assert (tmp_path / "snapshots" / "latest.json").exists()
    assert sim.refresh_token not in out + done.stderr and sim.client_secret not in out + done.stderr


def test_sync_with_a_dead_refresh_token_fails_and_says_how_to_reauthorize(make_simulator, tmp_path):
    sim = make_simulator(profile="small", seed=22)
    sim.state.revoke_refresh_tokens()
    done = run_cli("sync", env=cli_env(sim, tmp_path))
    assert done.returncode == 1
    assert "auth login" in done.stdout
    assert sim.refresh_token not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sync", "--start", "2025-02-30"], "is not a date"),
        (["sync", "--accounts", "12,abc"], "abc"),
        (["sync", "--start", "2026-11-20", "--end", "2026-11-10"], "is after"),
        (["sync", "--start", "1999-01-01", "--end", "1999-01-02"], "outside the daily partitions"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_naming_the_culprit(args, message, tmp_path):
    done = run_cli(*args, env={**os.environ, "LINKEDIN_ASSETS_DATA_DIR": str(tmp_path)}, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr


def test_auth_login_status_and_refresh_against_the_simulator(make_simulator, tmp_path):
    sim = make_simulator(profile="small", seed=23)
    env = cli_env(sim, tmp_path)
    login = subprocess.Popen(
        [sys.executable, "-m", "linkedin_assets.cli", "auth", "login", "--port", "0", "--no-browser"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        for line in login.stdout:
            if line.startswith(sim.oauth_base_url):
                url = line.strip()
                break
        assert url, "login printed no authorization URL"
        # the simulated member consents; the simulator redirects to the CLI's listener with the code and state
        assert httpx.get(url, follow_redirects=True, timeout=10).status_code == 200
        out, err = login.communicate(timeout=60)
    finally:
        login.kill()
    assert login.returncode == 0, out + err
    assert "Tokens stored" in out and "Refresh token:  present" in out
    store = tmp_path / "linkedin_tokens.json"
    assert oct(store.stat().st_mode & 0o777) == "0o600"
    status = run_cli("auth", "status", env=env, timeout=60)
    assert status.returncode == 0 and "Scopes:" in status.stdout and "(login)" in status.stdout
    before = store.read_text()
    refreshed = run_cli("auth", "refresh", env=env, timeout=60)
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    assert "(refresh)" in refreshed.stdout and store.read_text() != before
    for text in (status.stdout, refreshed.stdout, out, err):
        assert sim.client_secret not in text
        for token in ("access_token", "refresh_token"):
            assert f'"{token}"' not in text


def _step_spans(data_dir: Path) -> list[tuple[float, float, str]]:
    """(first step start, last step end, job) of every successful run under ``data_dir``, read in a fresh process."""
    code = """
import itertools
import json
import dagster as dg
from linkedin_assets.instance import get_instance
kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
with get_instance() as instance:
    spans = []
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS])):
        stamps = [e.timestamp for e in instance.all_logs(run.run_id, of_type=kinds)]
        spans.append((min(stamps), max(stamps), run.job_name))
print(json.dumps(spans))
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "LINKEDIN_ASSETS_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return sorted(tuple(span) for span in json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_two_syncs_at_once_run_one_after_the_other(make_simulator, tmp_path):
    sim = make_simulator(profile="small", seed=24, latency_ms=20)
    env = cli_env(sim, tmp_path)
    start = (YESTERDAY - dt.timedelta(days=1)).isoformat()
    command = [sys.executable, "-m", "linkedin_assets.cli", "sync", "--start", start]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = [process.communicate(timeout=400)[0] for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    # one of them waited: for the other's queued or running run, or for the warehouse's sync lock
    assert any("Waiting for LinkedIn sync run" in o or "holds the sync lock" in o for o in outputs), outputs
    spans = _step_spans(tmp_path)
    assert [job for *_, job in spans].count("linkedin_daily_sync") == 2 and len(spans) == 4
    for (_, end, _), (begin, _, _) in itertools.pairwise(spans):
        assert begin >= end, f"two syncs executed steps at the same time: {spans}"
