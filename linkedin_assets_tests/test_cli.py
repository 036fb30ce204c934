"""``linkedin-assets``: runs through the queue with the code location's origin, progress, failures, crash safety.

Every test runs the real command in a subprocess, with ``DAGSTER_HOME`` and the data directory in a temporary folder
and no daemon: the command starts its own queued runs.
"""

import datetime as dt
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest

from linkedin_assets.defs.partitions import daily_partitions
from linkedin_assets.settings import Settings
from linkedin_assets_tests.dagster_services import REPO_ROOT, REPOSITORY_LABEL

YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
SYNC_JOBS = ["linkedin_daily_sync", "linkedin_monthly_sync", "linkedin_reports"]


def cli_env(sim, root: Path, **extra: str) -> dict[str, str]:
    """The environment of a user who ran ``make dev``'s set-up in ``root``: DAGSTER_HOME with the repo's dagster.yaml."""
    home = root / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINKEDIN_", "DAGSTER_"))}
    env.update(sim.client_env(), DAGSTER_HOME=str(home), LINKEDIN_ASSETS_DATA_DIR=str(root / "data"), **extra)
    env.pop("LINKEDIN_ACCESS_TOKEN")  # runs start from the refresh token
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "linkedin_assets.cli", *args]


def run_cli(*args: str, env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def instance_of(env: dict[str, str]) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(env["DAGSTER_HOME"])


def runs_of(env: dict[str, str]) -> list[dg.DagsterRun]:
    """The instance's runs, oldest first."""
    with instance_of(env) as instance:
        return list(reversed(instance.get_runs()))


def wait_for(predicate, what: str, timeout: float = 120.0, poll_s: float = 0.2):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll_s)
    return value


def test_sync_submits_runs_of_the_code_location_and_prints_progress(make_simulator, tmp_path):
    sim = make_simulator(profile="small", seed=21)
    env = cli_env(sim, tmp_path)
    start = YESTERDAY - dt.timedelta(days=2)
    done = run_cli("sync", "--start", start.isoformat(), "--end", YESTERDAY.isoformat(), env=env, cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    expected_in_order = [
        "== linkedin_daily_sync",
        "accounts                 done in",
        "campaign_daily_metrics/summarize done in",
        "== linkedin_monthly_sync",
        "demographic_metrics/summarize done in",
        "snapshot                 done in",
    ]
    positions = [out.find(text) for text in expected_in_order]
    assert -1 not in positions, [t for t, p in zip(expected_in_order, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    # one line per step: the request plans and passed checks only with --verbose
    assert "Found 1 ad account(s)" not in out and ": passed" not in out
    steps = [line for line in out.splitlines() if " done in " in line]
    assert len(out.splitlines()) == len(steps) + 3 * 4, out  # three runs: a header, the run id, started, finished
    assert (tmp_path / "data" / "snapshots" / "latest.json").exists()
    assert sim.refresh_token not in out + done.stderr and sim.client_secret not in out + done.stderr
    assert "Traceback" not in out + done.stderr

    runs = runs_of(env)
    assert [run.job_name for run in runs] == SYNC_JOBS
    for run in runs:
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.remote_job_origin is not None and run.remote_job_origin.location_name == "linkedin_assets"
        assert run.run_id in out
        # what the UI's job page asks for: the job's runs of this code location
        with instance_of(env) as instance:
            listed = instance.get_runs(
                dg.RunsFilter(job_name=run.job_name, tags={".dagster/repository": REPOSITORY_LABEL})
            )
        assert [r.run_id for r in listed] == [run.run_id]
    # the instance is DAGSTER_HOME's; the data went to the data directory; the package got nothing
    assert (Path(env["DAGSTER_HOME"]) / "history" / "runs.db").is_file()
    assert not (REPO_ROOT / "linkedin_assets" / "data").exists()


def test_a_failed_sync_prints_one_short_block_and_the_trace_only_with_verbose(make_simulator, tmp_path):
    sim = make_simulator(profile="small", seed=22)
    sim.state.revoke_refresh_tokens()
    env = cli_env(sim, tmp_path)
    done = run_cli("sync", env=env, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    block = done.stdout[done.stdout.index("linkedin_daily_sync FAILED") :]
    assert "what:  asset linkedin_ads/accounts" in block
    assert "why:   " in block and "LinkedInAuthError" in block
    assert "do:    Re-authorize with `linkedin-assets auth login`" in block
    assert block.rstrip().endswith("exit status 1")
    assert len(block.splitlines()) <= 8, block
    assert "Traceback" not in output
    assert sim.refresh_token not in output and sim.client_secret not in output
    # the day the failed run was to fetch is a failed partition of the metric assets (what the UI's partition bar
    # shows first): Dagster knows it from the run's per-partition planned events
    day = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    with instance_of(env) as instance:
        for table in ("campaign_daily_metrics", "creative_daily_metrics"):
            status = instance.get_status_by_partition(
                dg.AssetKey(["linkedin_ads", table]), [day], daily_partitions(Settings().start_date)
            )
            assert status == {day: dg.AssetPartitionStatus.FAILED}, (table, status)

    verbose = run_cli("sync", "--verbose", env=env, cwd=tmp_path)
    assert verbose.returncode == 1
    assert 'File "' in verbose.stdout and "raise LinkedInAuthError" in verbose.stdout  # the stack trace
    assert sim.refresh_token not in verbose.stdout + verbose.stderr
    # the text the CLI printed is the step's failure message in the event log (the UI shows the same)
    with instance_of(env) as instance:
        failed = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]), limit=1)[0]
        failures = instance.all_logs(failed.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    messages = [record.dagster_event.step_failure_data.error.to_string() for record in failures]
    why = next(line for line in block.splitlines() if line.startswith("  why:")).removeprefix("  why:   ")
    assert any(why.split(": ", 1)[-1][:60] in message for message in messages), (why, messages)


def test_one_refused_account_fails_the_sync_naming_it_and_the_others_land(make_simulator, tmp_path):
    """LinkedIn refuses one account of two: every run of the sync runs, the other account's rows land, the command
    exits 1 with one block per sync run naming the account (id and name), the endpoint, LinkedIn's message and what
    to do."""
    import duckdb

    sim = make_simulator(profile="custom", accounts=2, campaigns_per_account=2, creatives_per_campaign=1, days=5,
                         seed=23)  # fmt: skip
    healthy, refused = sim.state.dataset.accounts
    sim.state.refuse_account(refused["id"])
    env = cli_env(sim, tmp_path)
    done = run_cli("sync", env=env, cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert [run.job_name for run in runs_of(env)] == SYNC_JOBS
    # the two sync runs fail naming the account; the reports run then rebuilds the reports of what landed
    assert "linkedin_reports FAILED" not in out and 'Finished execution of run for "linkedin_reports"' in out
    for job in SYNC_JOBS[:2]:
        block = out[out.index(f"{job} FAILED") :]
        why = next(line for line in block.splitlines() if line.startswith("  why:"))
        assert f"ad account {refused['id']} {refused['name']!r}: 403 ACCESS_DENIED on adCampaign" in why, why
        assert "Not enough permissions" in why and str(healthy["id"]) not in why
        todo = next(line for line in block.splitlines() if line.startswith("  do:"))
        assert "LINKEDIN_ACCOUNT_IDS" in todo and "The other accounts' rows landed" in todo, todo
    assert "Traceback" not in out + done.stderr and sim.refresh_token not in out + done.stderr
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as conn:
        rows = dict(conn.execute(
            "SELECT account_id, count(*) FROM linkedin_ads.campaign_daily_metrics GROUP BY 1"
        ).fetchall())  # fmt: skip
        campaigns = dict(conn.execute("SELECT account_id, count(*) FROM linkedin_ads.campaigns GROUP BY 1").fetchall())
    assert set(rows) == {healthy["id"]} and rows[healthy["id"]] > 0
    assert campaigns == {healthy["id"]: len([c for c in sim.state.dataset.campaigns if c["account"].endswith(
        f":{healthy['id']}")])}  # fmt: skip
    assert (tmp_path / "data" / "snapshots" / "latest.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sync", "--start", "2025-02-30"], "is not a date (expected YYYY-MM-DD)"),
        (["sync", "--accounts", "12,abc"], "--accounts: 'abc'"),
        (["sync", "--start", "2026-11-20", "--end", "2026-11-10"], "is after"),
        (["sync", "--start", "1999-01-01", "--end", "1999-01-02"], "outside the daily partitions"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_naming_the_culprit(args, message, tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "LINKEDIN_ASSETS_DATA_DIR": str(tmp_path)}
    done = run_cli(*args, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr


def test_a_bad_setting_exits_2_naming_the_variable(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "LINKEDIN_ASSETS_LOOKBACK_DAYS": "lots"}
    done = run_cli("sync", env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert "LINKEDIN_ASSETS_LOOKBACK_DAYS" in done.stderr and "Traceback" not in done.stderr


def test_help_is_plain_text_with_date_formats(tmp_path):
    done = run_cli("sync", "--help", env=dict(os.environ), cwd=tmp_path, timeout=60)
    assert done.returncode == 0
    assert "YYYY-MM-DD" in done.stdout and "DAGSTER_HOME" in done.stdout
    assert "``" not in done.stdout and ":class:" not in done.stdout


def test_auth_login_status_and_refresh_against_the_simulator(make_simulator, tmp_path):
    sim = make_simulator(profile="small", seed=23)
    env = cli_env(sim, tmp_path)
    login = subprocess.Popen(
        command("auth", "login", "--port", "0", "--no-browser"),
        env=env,
        cwd=tmp_path,
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
    store = tmp_path / "data" / "linkedin_tokens.json"
    assert oct(store.stat().st_mode & 0o777) == "0o600"
    status = run_cli("auth", "status", env=env, cwd=tmp_path, timeout=60)
    assert status.returncode == 0 and "Scopes:" in status.stdout and "(login)" in status.stdout
    before = store.read_text()
    refreshed = run_cli("auth", "refresh", env=env, cwd=tmp_path, timeout=60)
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    assert "(refresh)" in refreshed.stdout and store.read_text() != before
    for text in (status.stdout, refreshed.stdout, out, err):
        assert sim.client_secret not in text
        for token in ("access_token", "refresh_token"):
            assert f'"{token}"' not in text


def _step_spans(env: dict[str, str]) -> list[tuple[float, float, str]]:
    """(first step start, last step end, job) of every successful run of the instance."""
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
    with instance_of(env) as instance:
        spans = []
        for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS])):
            stamps = [e.timestamp for e in instance.all_logs(run.run_id, of_type=kinds)]
            spans.append((min(stamps), max(stamps), run.job_name))
    return sorted(spans)


def _statuses(env: dict[str, str]) -> dict[str, dg.DagsterRunStatus]:
    return {run.run_id: run.status for run in runs_of(env)}


@pytest.mark.slow
def test_a_sync_started_while_another_runs_waits_queued(make_simulator, tmp_path):
    sim = make_simulator(profile="small", seed=24, latency_ms=30)
    env = cli_env(sim, tmp_path)
    args = command("sync", "--start", (YESTERDAY - dt.timedelta(days=1)).isoformat())
    first = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        running = wait_for(
            lambda: [r for r in runs_of(env) if r.status == dg.DagsterRunStatus.STARTED], "the first sync to start"
        )
        # Slow LinkedIn down while the second command starts, so the first run cannot finish before it queues.
        sim.state.configure(latency_ms=1500)
        second = subprocess.Popen(
            args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        # the second run exists and waits in the queue while the first one runs
        seen = wait_for(
            lambda: (
                (statuses := _statuses(env)).get(running[0].run_id) == dg.DagsterRunStatus.STARTED
                and sum(s == dg.DagsterRunStatus.QUEUED for s in statuses.values()) >= 1
            ),
            "a queued run beside the running one",
        )
        assert seen
        sim.state.configure(latency_ms=30)
        outputs = [process.communicate(timeout=400)[0] for process in (first, second)]
    finally:
        for process in (first, locals().get("second")):
            if process is not None and process.poll() is None:
                process.kill()
    assert [first.returncode, second.returncode] == [0, 0], "\n---\n".join(outputs)
    assert "queued behind" in outputs[1], outputs[1]
    spans = _step_spans(env)
    assert [job for *_, job in spans].count("linkedin_daily_sync") == 2 and len(spans) == 2 * len(SYNC_JOBS)
    for (_, end, _), (begin, _, _) in itertools.pairwise(spans):
        assert begin >= end, f"two syncs executed steps at the same time: {spans}"


@pytest.mark.slow
def test_a_sync_killed_with_sigkill_does_not_block_the_next(make_simulator, tmp_path):
    """SIGKILL to the command and every process it started (its code server, the daemon, the run's worker): the run
    stays STARTED, nothing of Dagster's can see it is dead; the next sync marks it failed and runs."""
    sim = make_simulator(profile="small", seed=25, latency_ms=50)
    env = cli_env(sim, tmp_path)
    killed = subprocess.Popen(
        command("sync"), env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        (started,) = wait_for(
            lambda: [r for r in runs_of(env) if r.status == dg.DagsterRunStatus.STARTED], "the sync to start"
        )
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    assert _statuses(env)[started.run_id] == dg.DagsterRunStatus.STARTED

    done = run_cli("sync", env=env, cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Run {started.run_id[:8]}" in done.stdout and "Marked failed" in done.stdout
    statuses = _statuses(env)
    assert statuses[started.run_id] == dg.DagsterRunStatus.FAILURE
    assert list(statuses.values()).count(dg.DagsterRunStatus.SUCCESS) == len(SYNC_JOBS)


@pytest.mark.slow
def test_a_wheel_install_keeps_its_state_in_dagster_home_and_the_working_directory(make_simulator, tmp_path):
    """``pip install .`` (not editable) into a fresh venv, then a sync from another folder with a fresh DAGSTER_HOME:
    the instance lands in DAGSTER_HOME, the data under the working directory, nothing in site-packages."""
    source = tmp_path / "source"  # a copy: building in the repo would leave build/ and *.egg-info there
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(
        REPO_ROOT / "linkedin_assets", source / "linkedin_assets", ignore=shutil.ignore_patterns("__pycache__")
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(source)], capture_output=True, text=True, timeout=1800
    )
    assert install.returncode == 0, install.stderr[-3000:]
    site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import linkedin_assets, os; print(os.path.dirname(linkedin_assets.__file__))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert site.startswith(str(venv)), site
    before = {path for path in Path(site).rglob("*") if "__pycache__" not in path.parts}

    sim = make_simulator(profile="small", seed=26)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINKEDIN_", "DAGSTER_", "VIRTUAL_ENV"))}
    env.update(sim.client_env(), DAGSTER_HOME=str(tmp_path / "fresh_home"))
    if packages := os.environ.get("LINKEDIN_ASSETS_DBT_PACKAGES_DIR"):  # no dbt hub on a machine without internet
        env["LINKEDIN_ASSETS_DBT_PACKAGES_DIR"] = packages
    done = subprocess.run(
        [str(venv / "bin" / "linkedin-assets"), "sync"], env=env, cwd=work, capture_output=True, text=True, timeout=600
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "fresh_home" / "history" / "runs.db").is_file()
    assert (work / "data" / "warehouse.duckdb").is_file() and (work / "data" / "snapshots" / "latest.json").is_file()
    after = {path for path in Path(site).rglob("*") if "__pycache__" not in path.parts}
    assert after == before, sorted(map(str, after - before))


def test_a_failure_raised_through_the_shared_helper_reads_the_same_in_the_block_and_the_event_log():
    from linkedin_assets.cli.sync import failure_report
    from linkedin_assets.defs.failures import actionable_failures
    from linkedin_assets.linkedin.errors import LinkedInConnectionError

    @dg.asset(key=["linkedin_ads", "campaigns"])
    def campaigns() -> None:
        with actionable_failures():
            raise LinkedInConnectionError("http://127.0.0.1:9/rest/adCampaigns", "connection refused")

    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([campaigns], instance=instance, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        events = [record.event_log_entry for record in instance.get_records_for_run(result.run_id).records]
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    ui_text = failure.step_failure_data.user_failure_data.description

    block = failure_report(run, events, verbose=False)

    assert block[1] == "  what:  asset linkedin_ads/campaigns, url http://127.0.0.1:9/rest/adCampaigns"
    assert block[2] == f"  why:   {ui_text}"
    assert ui_text == "LinkedInConnectionError: cannot reach http://127.0.0.1:9/rest/adCampaigns: connection refused"
    assert block[3].startswith("  do:    Check LINKEDIN_API_BASE_URL")
    assert block[-1] == "exit status 1" and len(block) <= 6


def test_a_legitimate_oddity_is_a_warning_and_the_sync_succeeds(make_simulator, tmp_path):
    """LinkedIn's odd but legitimate numbers (clicks above impressions, ...) land; the CLI calls the check a warning."""
    sim = make_simulator(profile="small", seed=21, oddities=True)
    env = cli_env(sim, tmp_path)
    start = YESTERDAY - dt.timedelta(days=sim.state.config.sizes.days - 1)
    done = run_cli("sync", "--start", start.isoformat(), "--end", YESTERDAY.isoformat(), env=env, cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "check clicks_within_impressions: warning" in out
    assert "FAILED" not in out
    assert [run.status for run in runs_of(env)] == [dg.DagsterRunStatus.SUCCESS] * len(SYNC_JOBS)
