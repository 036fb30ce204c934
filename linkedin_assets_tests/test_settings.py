"""One configuration layer: every setting declared once in ``linkedin_assets.settings``, read once, passed down."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from linkedin_assets.definitions import build_definitions
from linkedin_assets.defs.resources import linkedin_resource
from linkedin_assets.settings import VARIABLES, Settings, SettingsError, load_settings, markdown_table

REPO = Path(__file__).resolve().parents[1]


def test_the_readme_metric_table_is_the_catalogues():
    from linkedin_assets.linkedin import catalogue

    table = catalogue.markdown_table()
    assert table in (REPO / "README.md").read_text(), "README's metric table drifted: paste catalogue.markdown_table()"
    assert table.count("\n") == len(catalogue.DAILY_METRICS) + 1


def test_every_setting_has_one_variable_a_description_and_the_readme_shows_them():
    assert len(set(VARIABLES.values())) == len(VARIABLES)  # one variable per setting, none shared
    assert all(field.description for field in Settings.model_fields.values())
    assert markdown_table() in (REPO / "README.md").read_text(), (
        "README's settings table drifted: paste markdown_table()"
    )


def test_empty_variables_mean_unset_and_unrelated_variables_are_ignored():
    settings = load_settings({"LINKEDIN_ASSETS_LOOKBACK_DAYS": "  ", "LINKEDIN_API_VERSION": "", "PATH": "/bin"})
    assert settings == Settings()


def test_several_bad_variables_are_each_named_and_a_secret_is_never_shown():
    with pytest.raises(SettingsError) as bad:
        load_settings(
            {
                "LINKEDIN_ASSETS_LOOKBACK_DAYS": "-3",
                "LINKEDIN_MAX_CONCURRENCY": "0",
                "LINKEDIN_CLIENT_SECRET": "s3cret-value",
                "LINKEDIN_ASSETS_EXECUTOR": "dask",
            }
        )
    text = str(bad.value)
    assert "LINKEDIN_ASSETS_LOOKBACK_DAYS='-3'" in text and "LINKEDIN_MAX_CONCURRENCY='0'" in text
    assert "LINKEDIN_ASSETS_EXECUTOR='dask'" in text and "in_process" in text
    assert "s3cret-value" not in text
    settings = load_settings(
        {"LINKEDIN_CLIENT_SECRET": "s3cret-value", "LINKEDIN_ASSETS_DATABASE_URL": "postgresql://u:pw@h/db"}
    )
    assert "s3cret-value" not in repr(settings) and "pw@" not in repr(settings)


def test_secrets_reach_the_resources_as_env_vars_only_when_they_came_from_the_environment(monkeypatch):
    given = load_settings(
        {"LINKEDIN_CLIENT_SECRET": "s3cret-value", "LINKEDIN_API_BASE_URL": "http://127.0.0.1:1/rest"}
    )
    resource = linkedin_resource(given)
    assert (resource.client_secret, resource.api_base_url) == ("s3cret-value", "http://127.0.0.1:1/rest")
    monkeypatch.setenv("LINKEDIN_CLIENT_SECRET", "s3cret-value")  # the code location's own input: its environment
    from_env = linkedin_resource(load_settings())
    assert (
        isinstance(from_env.client_secret, dg.EnvVar)
        and from_env.client_secret.env_var_name == "LINKEDIN_CLIENT_SECRET"
    )
    assert linkedin_resource(load_settings(), env_vars=False).client_secret == "s3cret-value"


def test_the_start_date_setting_is_the_first_partition_of_every_partitioned_asset_and_job():
    defs = build_definitions(load_settings({"LINKEDIN_ASSETS_START_DATE": "2024-06-15"}))
    firsts = {
        key.to_user_string(): defs.resolve_assets_def(key).partitions_def.get_first_partition_key()
        for key in defs.resolve_all_asset_keys()
        if defs.resolve_assets_def(key).partitions_def is not None
    }
    assert firsts["linkedin_ads/campaign_daily_metrics"] == "2024-06-15"
    assert firsts["linkedin_ads/demographic_metrics"] == "2024-06-01"
    assert set(firsts.values()) == {"2024-06-15", "2024-06-01"}
    assert defs.resolve_job_def("linkedin_daily_sync").partitions_def.get_first_partition_key() == "2024-06-15"


def test_no_module_reads_a_setting_when_it_is_imported():
    code = """
import linkedin_assets.settings, linkedin_assets.defs.assets, linkedin_assets.defs.checks, linkedin_assets.defs.jobs
import linkedin_assets.defs.sensors, linkedin_assets.defs.schedules, linkedin_assets.cli.sync
print("imported")
"""
    # a bad value anywhere would fail an import that reads the settings
    assert _in_a_fresh_process(code, LINKEDIN_ASSETS_START_DATE="not a date") == "imported"


def test_settings_are_read_from_the_environment_when_asked():
    env = {
        "LINKEDIN_ASSETS_LOOKBACK_DAYS": "7",
        "LINKEDIN_ASSETS_SNAPSHOT_DAYS": "30",
        "LINKEDIN_ASSETS_DEMOGRAPHICS_LEVEL": "campaign",
        "LINKEDIN_ASSETS_START_DATE": "2024-02-01",
        "LINKEDIN_ASSETS_EXECUTOR": "multiprocess",
        "LINKEDIN_ASSETS_ACCOUNTS_PER_STEP": "5",
        "LINKEDIN_REQUESTS_PER_SECOND": "2.5",
        "LINKEDIN_ASSETS_DATA_DIR": "/srv/linkedin",
        "LINKEDIN_ASSETS_SCHEDULE_CRON": "30 4 * * 1-5",
        "LINKEDIN_ASSETS_FRESHNESS_HOUR": "11",
    }
    settings = load_settings(env)
    assert (settings.lookback_days, settings.snapshot_days, settings.demographics_level) == (7, 30, "campaign")
    assert (settings.start_date, settings.executor, settings.accounts_per_step) == (
        dt.date(2024, 2, 1),
        "multiprocess",
        5,
    )
    assert settings.requests_per_second == 2.5
    assert settings.warehouse_file == "/srv/linkedin/warehouse.duckdb"
    assert settings.token_store == "/srv/linkedin/linkedin_tokens.json"
    assert settings.schedule_cron == "30 4 * * 1-5"
    assert settings.freshness_hour == 11
    defaults = load_settings({})
    assert (defaults.lookback_days, defaults.snapshot_days, defaults.demographics_level) == (30, 90, "account")
    assert (defaults.executor, defaults.accounts_per_step, defaults.requests_per_second) == ("in_process", 0, None)
    assert defaults.freshness_hour == 9


def test_state_paths_default_to_the_working_directory_not_the_package(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.warehouse_file == str(tmp_path / "data" / "warehouse.duckdb")
    assert settings.snapshots == str(tmp_path / "data" / "snapshots")
    assert settings.token_store == str(tmp_path / "data" / "linkedin_tokens.json")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LINKEDIN_ASSETS_LOOKBACK_DAYS", "a week"),
        ("LINKEDIN_ASSETS_SNAPSHOT_DAYS", "0"),
        ("LINKEDIN_ASSETS_DEMOGRAPHICS_LEVEL", "member"),
        ("LINKEDIN_ASSETS_START_DATE", "2024-13-01"),
        ("LINKEDIN_ASSETS_EXECUTOR", "dask"),
        ("LINKEDIN_ASSETS_ACCOUNTS_PER_STEP", "-1"),
        ("LINKEDIN_REQUESTS_PER_SECOND", "0"),
        ("LINKEDIN_ASSETS_FRESHNESS_HOUR", "24"),
    ],
)
def test_a_bad_setting_names_its_variable(variable: str, value: str):
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


def _in_a_fresh_process(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LINKEDIN_", "DAGSTER_"))}
    done = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_code_location_takes_its_settings_from_the_environment_it_loads_in(tmp_path: Path):
    code = """
import json
import dagster as dg
from linkedin_assets.definitions import defs
settings = defs.resources["settings"]
linkedin = defs.resources["linkedin"]
print(json.dumps({
    "first_day": defs.resolve_job_def("linkedin_daily_sync").partitions_def.get_first_partition_key(),
    "lookback": settings.lookback_days, "snapshot": settings.snapshot_days,
    "level": settings.demographics_level, "per_step": settings.accounts_per_step,
    "freshness_hour": settings.freshness_hour,
    "secret_is_env_var": isinstance(linkedin.client_secret, dg.EnvVar),
    "secret_shown_as": linkedin.client_secret.env_var_name,
    "rps": linkedin.requests_per_second,
    "duckdb": defs.resources["warehouse"].duckdb_path,
    "executor": defs.resolve_job_def("linkedin_daily_sync").executor_def.name,
    "cron": [s.cron_schedule for s in defs.schedules][0],
}))
"""
    import json

    out = json.loads(
        _in_a_fresh_process(
            code,
            LINKEDIN_ASSETS_START_DATE="2024-03-05",
            LINKEDIN_ASSETS_LOOKBACK_DAYS="3",
            LINKEDIN_ASSETS_SNAPSHOT_DAYS="14",
            LINKEDIN_ASSETS_DEMOGRAPHICS_LEVEL="campaign",
            LINKEDIN_ASSETS_ACCOUNTS_PER_STEP="2",
            LINKEDIN_CLIENT_SECRET="s3cret-value",
            LINKEDIN_REQUESTS_PER_SECOND="4",
            LINKEDIN_ASSETS_DATA_DIR=str(tmp_path),
            LINKEDIN_ASSETS_EXECUTOR="multiprocess",
            LINKEDIN_ASSETS_SCHEDULE_CRON="15 3 * * *",
            LINKEDIN_ASSETS_FRESHNESS_HOUR="7",
        )
    )
    assert out == {
        "first_day": "2024-03-05",
        "lookback": 3,
        "snapshot": 14,
        "level": "campaign",
        "per_step": 2,
        "freshness_hour": 7,
        "secret_is_env_var": True,
        "secret_shown_as": "LINKEDIN_CLIENT_SECRET",
        "rps": 4.0,
        "duckdb": str(tmp_path / "warehouse.duckdb"),
        "executor": "multiprocess",
        "cron": "15 3 * * *",
    }


def test_the_production_import_path_needs_no_simulator():
    code = """
import sys
import linkedin_assets.definitions, linkedin_assets.cli, linkedin_assets.cli.runs
print(sorted(m for m in sys.modules if m.split(".")[0] in ("starlette", "uvicorn") or ".simulator" in m))
"""
    assert _in_a_fresh_process(code) == "[]"
