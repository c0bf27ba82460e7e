"""Terraform parsed with python-hcl2 and the Dockerfile parsed with dockerfile-parse: the rules `make lint-infra`
enforces hold today, and they fail when the files break them."""

from __future__ import annotations

import copy
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def parsed(lint_infra: ModuleType) -> dict:
    files, problems = lint_infra.parse_terraform()
    assert problems == []
    return files


def test_every_tf_file_parses_and_the_terraform_policy_passes(lint_infra: ModuleType, parsed: dict) -> None:
    assert len(parsed) >= 40
    assert lint_infra.terraform_policy(parsed) == []


def test_an_untagged_resource_is_reported(lint_infra: ModuleType, parsed: dict) -> None:
    broken = copy.deepcopy(parsed)
    path = next(p for p in broken if p.parent.name == "rds" and p.name == "main.tf")
    for entry in broken[path]["resource"]:
        for body in entry.get('"aws_db_subnet_group"', {}).values():
            del body["tags"]
    assert any("aws_db_subnet_group.this has no tags" in p for p in lint_infra.terraform_policy(broken))


def test_a_secret_variable_and_a_single_az_prod_database_are_reported(lint_infra: ModuleType, parsed: dict) -> None:
    broken = copy.deepcopy(parsed)
    variables = next(p for p in broken if p.parent.name == "elasticache" and p.name == "variables.tf")
    broken[variables]["variable"].append({'"auth_token"': {"description": '"the token"', "type": "string"}})
    prod_main = next(p for p in broken if p.parent.name == "prod" and p.name == "main.tf")
    for entry in broken[prod_main]["module"]:
        if '"portal"' in entry:
            entry['"portal"']["rds_multi_az"] = False
    problems = lint_infra.terraform_policy(broken)
    assert any("variable auth_token looks secret" in p for p in problems)
    assert "prod: RDS must be multi-AZ with 30 days of backups" in problems


def test_each_environment_composes_the_stack_through_the_portal_module_with_its_own_values(
    lint_infra: ModuleType, parsed: dict
) -> None:
    composed = {
        env: lint_infra.composed_modules(parsed, lint_infra.INFRA / "environments" / env)
        for env in lint_infra.ENVIRONMENTS
    }
    for env, modules in composed.items():
        assert set(modules) == {"portal", "vpc", "eks", "rds", "elasticache", "s3", "emr", "iam"}, env
        assert lint_infra.unquote(modules["portal"]["source"]) == "../../modules/portal"
    cidrs = {env: lint_infra.unquote(modules["vpc"]["cidr"]) for env, modules in composed.items()}
    assert cidrs == {"dev": "10.10.0.0/16", "staging": "10.20.0.0/16", "prod": "10.30.0.0/16"}
    assert [composed[env]["rds"]["multi_az"] for env in ("dev", "staging", "prod")] == [False, False, True]
    assert sorted(composed["prod"]["eks"]["node_groups"]) == ["burst", "general"]
    assert composed["dev"]["s3"]["replica_bucket_arn"] is None
    assert lint_infra.unquote(composed["dev"]["emr"]["release_label"]) == "emr-7.5.0"  # the portal module's default


def test_prod_without_replication_or_a_composed_module_is_reported(lint_infra: ModuleType, parsed: dict) -> None:
    broken = copy.deepcopy(parsed)
    prod_main = next(p for p in broken if p.parent.name == "prod" and p.name == "main.tf")
    for entry in broken[prod_main]["module"]:
        entry.get('"portal"', {}).pop("lake_replica_bucket_arn", None)
    portal_main = next(p for p in broken if p.parent.name == "portal" and p.name == "main.tf")
    broken[portal_main]["module"] = [e for e in broken[portal_main]["module"] if '"emr"' not in e]
    problems = lint_infra.terraform_policy(broken)
    assert "prod: the lake must replicate to another region" in problems
    assert {f"{env}: does not compose the emr module" for env in ("dev", "staging", "prod")} <= set(problems)


def test_every_environment_tags_through_default_tags_and_keeps_state_in_s3(
    parsed: dict, lint_infra: ModuleType
) -> None:
    for env in ("dev", "staging", "prod"):
        versions = next(v for p, v in parsed.items() if p.parent.name == env and p.name == "versions.tf")
        assert all("default_tags" in body for entry in versions["provider"] for body in entry.values())
        assert any('"s3"' in b for t in versions["terraform"] for b in t["backend"][0])


def test_the_dockerfile_follows_the_image_rules(lint_infra: ModuleType) -> None:
    assert lint_infra.dockerfile_policy(lint_infra.ROOT / "Dockerfile") == []


def test_a_root_unpinned_single_stage_dockerfile_is_rejected(lint_infra: ModuleType, tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:latest\nENV DJANGO_SECRET_KEY=abc\nRUN apt-get update && apt-get install -y curl\n"
        'CMD ["gunicorn", "ecap_site.wsgi:application"]\n'
    )
    problems = lint_infra.dockerfile_policy(bad)
    joined = "\n".join(problems)
    for expected in ("multi-stage", "not pinned", "no USER", "HEALTHCHECK", "DJANGO_SECRET_KEY", "apt lists"):
        assert expected in joined
