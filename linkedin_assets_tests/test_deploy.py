"""The Kubernetes deployment on paper: ``Dockerfile``, ``deploy/helm/values.yaml`` (Dagster's official chart) and
``deploy/celery-worker.yaml`` agree with each other and with the code.

helm is not installed here (and there is no network), so nothing is rendered by the chart: the values file and the
manifests it carries (``extraManifests``) are parsed and checked as data.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from linkedin_assets.settings import VARIABLES as ENV
from linkedin_assets.settings import Settings

EXECUTORS = get_args(Settings.model_fields["executor"].annotation)

REPO = Path(__file__).resolve().parents[1]
CODE_MODULE = "linkedin_assets.definitions"
SECRET_NAME = "linkedin-assets-secrets"
ENV_CONFIG_MAP = "linkedin-assets-env"

# Variables whose values are secrets or may carry a password: they must come from a Secret, never a ConfigMap.
SECRET_VARIABLES = frozenset(
    {
        "LINKEDIN_CLIENT_SECRET",
        "LINKEDIN_REFRESH_TOKEN",
        "LINKEDIN_ACCESS_TOKEN",
        ENV["database_url"],
        ENV["celery_broker_url"],
        ENV["celery_backend_url"],
        ENV["redis_url"],
    }
)


CODE_VARIABLES = set(ENV.values()) - {"DAGSTER_HOME"}


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> dict[str, Any]:
    """FROM, EXPOSE, CMD (as a list) and the RUN/COPY lines of the Dockerfile."""
    text = (REPO / "Dockerfile").read_text()
    logical = re.sub(r"\\\n", " ", "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#")))
    instructions: dict[str, list[str]] = {}
    for line in logical.splitlines():
        if line.strip():
            instruction, _, rest = line.strip().partition(" ")
            instructions.setdefault(instruction.upper(), []).append(" ".join(rest.split()))
    return instructions


def manifest(values: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    found = [m for m in values.get("extraManifests", []) if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"one {kind} {name} in extraManifests"
    return found[0]


def user_deployment(values: dict[str, Any]) -> dict[str, Any]:
    deployments = values["dagster-user-deployments"]["deployments"]
    assert [d["name"] for d in deployments] == ["linkedin-assets"]
    return deployments[0]


def worker_container(values: dict[str, Any]) -> dict[str, Any]:
    workers = manifest(values, "Deployment", "linkedin-assets-celery-workers")
    (container,) = workers["spec"]["template"]["spec"]["containers"]
    return container


def test_the_image_serves_the_code_location_the_chart_points_at(values, dockerfile) -> None:
    deployment = user_deployment(values)
    cmd = yaml.safe_load(dockerfile["CMD"][0])
    assert cmd[:3] == ["dagster", "api", "grpc"]
    assert cmd[cmd.index("-m") + 1] == CODE_MODULE
    assert deployment["dagsterApiGrpcArgs"] == ["-m", CODE_MODULE]
    assert str(deployment["port"]) == dockerfile["EXPOSE"][0] == cmd[cmd.index("-p") + 1]
    # the same module is the code location of `dagster dev` (workspace.yaml)
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["module_name"] == CODE_MODULE


def test_the_image_installs_the_celery_extra_and_not_the_simulator(dockerfile) -> None:
    installs = [line for line in dockerfile["RUN"] if "pip install" in line]
    assert len(installs) == 1 and '".[celery]"' in installs[0]
    assert "simulator" not in installs[0]
    assert "linkedin_assets/simulator" in (REPO / ".dockerignore").read_text().splitlines()
    assert dockerfile["FROM"][0].startswith("python:3.11")
    assert dockerfile["USER"] and dockerfile["USER"][0] != "root"


def test_workers_run_the_same_image_with_dagsters_worker_command(values, dockerfile) -> None:
    image = user_deployment(values)["image"]
    container = worker_container(values)
    assert container["image"] == f"{image['repository']}:{image['tag']}"
    command = container["command"]
    assert command[:5] == ["dagster-celery", "worker", "start", "-A", "dagster_celery.app"]
    config_path = command[command.index("-y") + 1]
    # the worker config is copied into the image at that path, and it is the repo's deploy/celery-worker.yaml
    copies = [shlex.split(line) for line in dockerfile["COPY"]]
    assert ["deploy/celery-worker.yaml", "./deploy/celery-worker.yaml"] in copies
    assert config_path == "/opt/dagster/app/deploy/celery-worker.yaml"
    assert command[command.index("-i") + 1] == CODE_MODULE
    worker_config = yaml.safe_load((REPO / "deploy" / "celery-worker.yaml").read_text())
    execution = worker_config["execution"]["config"]
    assert execution["broker"] == {"env": ENV["celery_broker_url"]}
    assert execution["backend"] == {"env": ENV["celery_backend_url"]}


def test_every_variable_set_is_one_the_code_reads(values) -> None:
    settings = manifest(values, "ConfigMap", ENV_CONFIG_MAP)["data"]
    assert set(settings) <= CODE_VARIABLES, set(settings) - CODE_VARIABLES
    assert settings[ENV["executor"]] in EXECUTORS and settings[ENV["executor"]] == "celery"
    assert int(settings[ENV["accounts_per_step"]]) >= 1  # shards are what spreads over the workers
    plain = {e["name"] for e in worker_container(values).get("env", [])}
    assert plain <= {"DAGSTER_HOME", "DAGSTER_PG_PASSWORD"}


def test_secrets_come_from_kubernetes_secrets_only(values) -> None:
    settings = manifest(values, "ConfigMap", ENV_CONFIG_MAP)["data"]
    assert not SECRET_VARIABLES & set(settings)
    assert SECRET_VARIABLES <= CODE_VARIABLES  # the names the Secret must hold are ones the code reads
    # the same Secret and ConfigMap reach the code location, the run pods and the workers
    deployment = user_deployment(values)
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    for holder in (deployment, launcher):
        assert holder["envSecrets"] == [{"name": SECRET_NAME}]
        assert holder["envConfigMaps"] == [{"name": ENV_CONFIG_MAP}]
    assert worker_container(values)["envFrom"] == [
        {"configMapRef": {"name": ENV_CONFIG_MAP}},
        {"secretRef": {"name": SECRET_NAME}},
    ]
    # Dagster's own database password: from the Secret the chart is told about, none generated from values
    assert values["generatePostgresqlPasswordSecret"] is False
    postgres_secret = values["global"]["postgresqlSecretName"]
    password = next(e for e in worker_container(values)["env"] if e["name"] == "DAGSTER_PG_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"]["name"] == postgres_secret
    assert "postgresqlPassword" not in values["postgresql"]


def test_no_literal_secret_anywhere_in_the_values(values) -> None:
    suspicious = re.compile(r"(password|secret|token|credential)", re.IGNORECASE)

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                where = f"{path}.{key}"
                if suspicious.search(str(key)) and isinstance(value, str | int) and not isinstance(value, bool):
                    # only names of Secrets/keys and file paths may sit under such keys
                    assert key in ("postgresqlSecretName",) or "/" in str(value), f"{where} holds a value"
                walk(value, where)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")
        elif isinstance(node, str):
            assert not re.search(r"://[^/\s:@]+:[^@\s]+@", node), f"{path} holds a URL with a password"

    walk(values, "values")


def test_step_outputs_and_tokens_are_on_storage_every_pod_shares(values) -> None:
    claim = manifest(values, "PersistentVolumeClaim", "linkedin-assets-shared")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    settings = manifest(values, "ConfigMap", ENV_CONFIG_MAP)["data"]
    mounts = {
        "deployment": user_deployment(values)["volumeMounts"],
        "worker": worker_container(values)["volumeMounts"],
    }
    for who, volume_mounts in mounts.items():
        paths = {m["mountPath"] for m in volume_mounts if m["name"] == "linkedin-assets-shared"}
        assert f"{values.get('dagsterHome', '/opt/dagster/dagster_home')}/storage" in paths, who
        assert any(settings[ENV["token_store_path"]].startswith(p + "/") for p in paths), who
        assert any(settings[ENV["data_dir"]].startswith(p + "/") for p in paths), who
    assert user_deployment(values)["includeConfigInLaunchedRuns"]["enabled"] is True


_WITHOUT_SIMULATOR = """
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("starlette", "uvicorn") or name.startswith("linkedin_assets.simulator"):
            raise ImportError(f"{name} is not in the image")
        return None

sys.meta_path.insert(0, Block())
import linkedin_assets.definitions  # noqa: E402
import linkedin_assets.cli  # noqa: E402
import dagster_celery  # noqa: E402
"""


def test_the_code_location_loads_without_the_simulator() -> None:
    """The image leaves out the simulator and its web server: nothing on the production path may import them."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _WITHOUT_SIMULATOR], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_repository_path_the_deployment_files_name_exists() -> None:
    """The Dockerfile and the deployment files name files of this repository (in comments too): each must exist."""
    named = set()
    for source in (REPO / "Dockerfile", *sorted((REPO / "deploy").rglob("*.yaml")), REPO / "dagster.yaml"):
        text = source.read_text()
        named |= {
            (source.name, path)
            for path in re.findall(r"\b((?:deploy|linkedin_assets|benchmarks)/[\w./-]+\.(?:yaml|py|md|toml))", text)
        }
    assert named, "the deployment files should name the files they use"
    missing = sorted((source, path) for source, path in named if not (REPO / path).exists())
    assert not missing, missing
