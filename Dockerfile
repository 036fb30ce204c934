# The linkedin_assets code location, for Dagster's official Helm chart (deploy/helm/values.yaml).
#
# One image, three roles, all with the same code and the same environment:
#   - the user-code deployment: `dagster api grpc` (the CMD below) serves the definitions to the webserver and daemon;
#   - run pods (K8sRunLauncher): the chart starts them from this image with `dagster api execute_run`;
#   - Celery workers (the linkedin-assets-celery-workers Deployment in deploy/helm/values.yaml): `dagster-celery
#     worker start ...` executes the steps.
# Installed: the package with the `celery` extra (dagster-celery, redis). Not installed: the simulator extra; the
# simulator's sources are left out by .dockerignore (nothing on a production path imports them).
#
#   docker build -t linkedin-assets:0.1.0 .
FROM python:3.11-slim

# DAGSTER_EVENT_BATCH_SIZE: a range run's per-partition materializations go to the PostgreSQL instance in one INSERT
# per batch instead of one per event.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    DAGSTER_EVENT_BATCH_SIZE=1000

WORKDIR /opt/dagster/app

# Dependencies first (a layer that changes only with pyproject.toml), then the package itself, then the dbt project
# of the reports, prepared at build time (dbt deps from hub.getdbt.com, or from a packages folder passed as the
# build argument DBT_PACKAGES_DIR, then dbt parse): the code location loads without the network.
ARG DBT_PACKAGES_DIR=
ENV LINKEDIN_ASSETS_DBT_PROJECT_DIR=/opt/dagster/app/dbt_project
COPY pyproject.toml README.md ./
COPY linkedin_assets ./linkedin_assets
COPY linkedin_assets/dbt_project ./dbt_project
COPY deploy/celery-worker.yaml ./deploy/celery-worker.yaml
RUN pip install ".[celery]" \
    && LINKEDIN_ASSETS_DBT_PACKAGES_DIR="$DBT_PACKAGES_DIR" linkedin-assets reports prepare \
    && useradd --uid 10001 --create-home dagster \
    && mkdir -p "$DAGSTER_HOME" \
    && chown -R dagster /opt/dagster

USER 10001

# The gRPC port the chart's user-code deployment (dagster-user-deployments.deployments[].port) points at.
EXPOSE 3030

CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "-m", "linkedin_assets.definitions"]
