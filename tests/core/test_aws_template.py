"""The AWS reference deployment (deploy/aws/guardwatch.yaml) is a valid CloudFormation template that runs
what docker-compose.yml runs, as the role docs/deployment.md documents.

Nothing here reaches AWS: cfn-lint checks the template against CloudFormation's resource schemas offline,
and the rest reads the template (docs/operations.md, "Deploying on AWS", says what that leaves unproven).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode

from tests.core.test_iam_policy import documented_policies

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "aws" / "guardwatch.yaml"
APP_CONTAINERS = {"WebTask": "web", "WorkerTask": "worker", "SyncWorkerTask": "worker-syncs",
                  "ReportWorkerTask": "worker-reports", "ExportWorkerTask": "worker-exports", "BeatTask": "beat",
                  "MigrateTask": "migrate"}
# docker-compose.yml's ${NAME:-default}: ECS passes a command as written, so the template spells the defaults.
COMPOSE_DEFAULT = re.compile(r"\$\{[A-Z_]+:-([^}]*)\}")


@pytest.fixture(scope="module")
def template() -> dict:
    decoded, problems = decode(str(TEMPLATE))
    assert not problems, problems
    return decoded


def resolve(value, parameters: dict[str, str]):
    """Fn::Sub and Ref of parameters and pseudo parameters, with the parameters' defaults (partition aws)."""
    known = {"AWS::Partition": "aws", **parameters}
    match value:
        case {"Fn::Sub": str(text)}:
            return re.sub(r"\$\{([\w:]+)\}", lambda m: known[m.group(1)], text)
        case {"Ref": str(name)} if name in known:
            return known[name]
        case dict():
            return {key: resolve(item, parameters) for key, item in value.items()}
        case list():
            return [resolve(item, parameters) for item in value]
    return value


def container(template: dict, task: str) -> dict:
    (definition,) = template["Resources"][task]["Properties"]["ContainerDefinitions"]
    assert definition["Name"] == APP_CONTAINERS[task]
    return definition


def test_cfn_lint_finds_nothing_in_the_template():
    problems = lint_file(TEMPLATE, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [f"{p.rule.id} line {p.linenumber}: {p.message}" for p in problems] == []


def test_the_task_role_holds_the_documented_administrator_policy_statement_for_statement(template):
    defaults = {name: p.get("Default", "") for name, p in template["Parameters"].items()}
    role = template["Resources"]["TaskRole"]["Properties"]
    (policy,) = [p for p in role["Policies"] if isinstance(p, dict) and p.get("PolicyName") == "GuardWatchAdministrator"]
    statements = resolve(policy["PolicyDocument"]["Statement"], defaults)
    assert statements == documented_policies()["administrator"]


def test_the_services_run_the_commands_docker_compose_runs(template):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for task, name in APP_CONTAINERS.items():
        if name == "web":  # the image's CMD (gunicorn) in both
            assert "Command" not in container(template, task) and "command" not in compose["web"]
        else:
            expected = [COMPOSE_DEFAULT.sub(r"\1", part) for part in compose[name]["command"]]
            assert container(template, task)["Command"] == expected, name


def test_exactly_one_beat_and_rolling_web_and_workers(template):
    resources = template["Resources"]
    beat = resources["BeatService"]["Properties"]
    assert beat["DesiredCount"] == 1
    assert beat["DeploymentConfiguration"] == {"MinimumHealthyPercent": 0, "MaximumPercent": 100}
    for service in ("WebService", "WorkerService", "SyncWorkerService", "ReportWorkerService", "ExportWorkerService"):  # release N+1 starts beside N (docs/operations.md)
        deployment = resources[service]["Properties"]["DeploymentConfiguration"]
        assert (deployment["MinimumHealthyPercent"], deployment["MaximumPercent"]) == (100, 200)
    migrate_runs_alone = [r for r in resources.values() if r["Type"] == "AWS::ECS::Service"]
    assert all(s["Properties"]["TaskDefinition"] != {"Ref": "MigrateTask"} for s in migrate_runs_alone)


def test_every_container_gets_the_same_settings_and_its_secrets_from_secrets_manager(template):
    env_example = (ROOT / ".env.example").read_text()
    resources = template["Resources"]
    first = container(template, "WebTask")
    for task in APP_CONTAINERS:
        definition = container(template, task)
        assert definition["Environment"] == first["Environment"], task
        assert definition["Secrets"] == first["Secrets"], task
        assert definition["LogConfiguration"]["LogDriver"] == "awslogs"
    secrets = {s["Name"]: s["ValueFrom"]["Ref"] for s in first["Secrets"]}
    assert set(secrets) == {"SECRET_KEY", "GUARDWATCH_SECRETS_KEY", "DATABASE_URL", "REDIS_URL"}
    assert {resources[ref]["Type"] for ref in secrets.values()} == {"AWS::SecretsManager::Secret"}
    names = set(secrets) | {
        item.get("Name") or item["Fn::If"][1]["Name"] for item in first["Environment"]
    }
    undocumented = {name for name in names if not re.search(rf"^#?\s*{name}=", env_example, re.M)}
    assert undocumented == set()  # only settings the product reads


def test_the_database_keeps_backups_and_survives_the_stack(template):
    database = template["Resources"]["Database"]
    assert database["DeletionPolicy"] == database["UpdateReplacePolicy"] == "Snapshot"
    properties = database["Properties"]
    assert properties["BackupRetentionPeriod"] == {"Ref": "BackupRetentionDays"}  # PITR window
    assert properties["DeletionProtection"] is True and properties["StorageEncrypted"] is True
    assert properties["PubliclyAccessible"] is False
