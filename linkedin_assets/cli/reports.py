"""linkedin-assets reports prepare: install the dbt packages and parse the dbt project ahead of the first load."""

import time
from collections.abc import Callable

from linkedin_assets.cli.errors import UsageError


def prepare(echo: Callable[[str], None] = print) -> int:
    """``dbt deps`` (the hub, or LINKEDIN_ASSETS_DBT_PACKAGES_DIR) and ``dbt parse`` of the reports' dbt project when needed."""
    from linkedin_assets.defs.assets.dbt_models import ReportsSetupError, prepare_reports_project
    from linkedin_assets.settings import load_settings

    started = time.monotonic()
    try:
        settings = load_settings()
        project = prepare_reports_project(settings)
    except ReportsSetupError as exc:
        raise UsageError(str(exc)) from None
    source = settings.dbt_packages_dir or "the packages installed before, else hub.getdbt.com"
    echo(
        f"dbt project {project.project_dir}: manifest {project.manifest_path} "
        f"({time.monotonic() - started:.1f} s; packages from {source})"
    )
    return 0
