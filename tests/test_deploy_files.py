"""The deployment files (deploy/, Dockerfile), validated here where no container or cluster can run:
the instance config by Dagster's own validation, the Helm values against the schema of Dagster's
chart (the parts these values set), the compose file and the Dockerfile by what they must agree on."""

import re
import shutil
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MODULE = PROJECT["tool"]["dagster"]["module_name"]
LOCATION = PROJECT["tool"]["dagster"]["code_location_name"]
SECRETS = ("REPLENIT_API_KEY", "REPLENIT_STATE_URL", "DAGSTER_POSTGRES_URL", "POSTGRES_PASSWORD", "REPLENIT_TENANT_ID")


def test_the_production_instance_config_validates_and_keeps_todays_pools_and_monitoring(tmp_path, monkeypatch):
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", "postgresql+psycopg2://dagster:pw@db:5432/dagster")
    config, _ = dagster_instance_config(str(tmp_path))  # Dagster's own validation: raises on a bad key or value
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_POSTGRES_URL"}}}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    today = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert config["concurrency"]["pools"] == today["concurrency"]["pools"]
    assert config["run_monitoring"] == today["run_monitoring"] and config["run_monitoring"]["enabled"]
    assert config["run_retries"] == today["run_retries"]


# The parts of the chart's values.schema.json (helm/dagster/values.schema.json in dagster-io/dagster,
# release 1.13) that these values set, restated: the chart validates the values merged with its own
# defaults, so required fields the defaults fill are left out; unknown keys are refused where the
# chart refuses them (additionalProperties: false).
_IMAGE = {"type": "object", "required": ["repository", "pullPolicy"],
          "properties": {"repository": {"type": "string"}, "tag": {"type": ["string", "integer", "null"]},
                         "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]}}}
_ENV_SOURCES = {"type": "array", "items": {"type": "object", "required": ["name"]}}
CHART_SCHEMA = {
    "type": "object",
    "propertyNames": {"enum": ["dagsterWebserver", "dagster-user-deployments", "postgresql", "generatePostgresqlPasswordSecret",
                               "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "imagePullSecrets",
                               "computeLogManager", "scheduler", "runLauncher", "pythonLogs", "dagsterDaemon", "busybox",
                               "migrate", "telemetry", "serviceAccount", "global", "retention", "additionalInstanceConfig"]},
    "properties": {
        "postgresql": {"type": "object", "properties": {
            "enabled": {"type": "boolean"}, "postgresqlHost": {"type": "string"}, "postgresqlUsername": {"type": "string"},
            "postgresqlDatabase": {"type": "string"}, "postgresqlParams": {"type": "object"},
            "postgresqlScheme": {"type": ["string", "null"]},
            "service": {"type": "object", "required": ["port"], "properties": {"port": {"type": "integer"}}}},
            "not": {"required": ["postgresqlPassword"]}},  # ours: the password comes from a secret, never the values
        "generatePostgresqlPasswordSecret": {"type": "boolean"},
        "dagster-user-deployments": {"type": "object", "required": ["enabled", "deployments"], "properties": {
            "enabled": {"type": "boolean"}, "enableSubchart": {"type": "boolean"},
            "deployments": {"type": "array", "items": {
                "type": "object", "required": ["name", "image", "dagsterApiGrpcArgs", "port"],
                "properties": {"name": {"type": "string"}, "image": _IMAGE, "port": {"type": "integer"},
                               "dagsterApiGrpcArgs": {"type": "array", "items": {"type": "string"}},
                               "envSecrets": _ENV_SOURCES, "envConfigMaps": _ENV_SOURCES,
                               "env": {"anyOf": [{"type": "object"}, {"type": "array", "items": {"type": "object", "required": ["name"]}}]},
                               "includeConfigInLaunchedRuns": {"type": "object", "properties": {"enabled": {"type": "boolean"}}},
                               "resources": {"type": "object"}}}}}},
        "runLauncher": {
            "type": "object", "required": ["type", "config"], "additionalProperties": False,
            "properties": {"type": {"enum": ["CeleryK8sRunLauncher", "K8sRunLauncher", "CustomRunLauncher"]},
                           "config": {"type": "object", "properties": {"k8sRunLauncher": {
                               "type": "object", "additionalProperties": False,
                               "required": ["imagePullPolicy", "loadInclusterConfig", "envConfigMaps", "envSecrets", "envVars",
                                            "volumeMounts", "volumes"],
                               "properties": {k: {} for k in (
                                   "image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile", "envConfigMaps",
                                   "envSecrets", "envVars", "volumeMounts", "volumes", "labels", "failPodOnRunFailure", "resources",
                                   "schedulerName", "securityContext", "runK8sConfig")} | {"envSecrets": _ENV_SOURCES}}}}},
            "if": {"properties": {"type": {"const": "K8sRunLauncher"}}},
            "then": {"properties": {"config": {"required": ["k8sRunLauncher"]}}}},
        "dagsterDaemon": {"type": "object", "properties": {
            "enabled": {"type": "boolean"}, "runMonitoring": {"type": "object"}, "runRetries": {"type": "object"},
            "runCoordinator": {
                "type": "object", "required": ["enabled", "type", "config"], "additionalProperties": False,
                "properties": {"enabled": {"type": "boolean"}, "type": {"enum": ["QueuedRunCoordinator", "CustomRunCoordinator"]},
                               "config": {"type": "object", "properties": {"queuedRunCoordinator": {
                                   "type": "object", "additionalProperties": False,
                                   "properties": {k: {} for k in ("maxConcurrentRuns", "tagConcurrencyLimits", "dequeueIntervalSeconds",
                                                                  "dequeueNumWorkers", "dequeueUseThreads",
                                                                  "blockOpConcurrencyLimitedRuns")}}}}}}}},
        "additionalInstanceConfig": {"type": "object"},
    },
}


def test_the_helm_values_fit_the_charts_schema_and_run_this_code_location_with_the_k8s_launcher():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    jsonschema.validate(values, CHART_SCHEMA)
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", MODULE] and deployment["name"] == "replenit-pipelines"
    assert {s["name"] for s in deployment["envSecrets"]} == {s["name"] for s in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]}
    assert not {e["name"] for e in deployment["env"]} & set(SECRETS)  # secrets only through envSecrets
    assert values["additionalInstanceConfig"]["concurrency"]["pools"] == {"default_limit": 1}


def test_the_compose_file_wires_every_service_to_the_shared_instance_and_holds_no_secret():
    text = (DEPLOY / "docker-compose.yaml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert set(services) == {"postgres", "code-server", "webserver", "daemon"}
    for name in ("code-server", "webserver", "daemon"):
        service = services[name]
        assert "./dagster.yaml:/opt/dagster/dagster_home/dagster.yaml:ro" in service["volumes"], name
        assert service["environment"]["DAGSTER_HOME"] == "/opt/dagster/dagster_home", name
        assert service["environment"]["DAGSTER_POSTGRES_URL"].startswith("postgresql+psycopg2://"), name
    for name in ("webserver", "daemon"):
        assert "/opt/dagster/workspace.yaml" in services[name]["command"]
        assert "REPLENIT_API_KEY" not in services[name]["environment"]  # only the code server and its runs need the key
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"][0]["grpc_server"]
    assert (workspace["host"], workspace["location_name"]) == ("code-server", LOCATION)
    # Every secret is interpolated from deploy/.env (kept out of git), never written in the file.
    for name in SECRETS:
        for value in re.findall(rf"^\s*{name}:\s*(.+)$", text, flags=re.M):
            assert value.strip().startswith(("${", "postgresql")) and "${" in value, (name, value)
    assert "deploy/.env" in (ROOT / ".gitignore").read_text().split()


def test_the_dockerfile_serves_this_code_location():
    text = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*?\])\s*$", text.replace("\\\n", " "), flags=re.M | re.S)
    assert cmd is not None
    args = yaml.safe_load(cmd.group(1))
    assert args[:3] == ["dagster", "code-server", "start"]
    assert args[args.index("--module-name") + 1] == MODULE and args[args.index("--location-name") + 1] == LOCATION
    assert args[args.index("--port") + 1] == "3030"
    assert not re.search(r"^(ENV|ARG)\b.*(API_KEY|STATE_URL|POSTGRES_URL|PASSWORD)", text, flags=re.M)  # no secret baked in
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert ignored[0] == "*" and "!replenit_pipelines/" in ignored  # nothing else (.venv, state, tests) reaches the image


@pytest.mark.parametrize("path", ["deploy/docker-compose.yaml", "deploy/helm/values.yaml", "deploy/dagster.yaml", "deploy/workspace.yaml"])
def test_the_deploy_files_are_documented(path):
    assert path in (ROOT / "docs" / "deploying.md").read_text()
