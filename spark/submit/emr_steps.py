"""What the EMR backend asks of EMR: the step's ``spark-submit`` command, the transient cluster and its bootstrap
script, and the naming conventions that let a poller find a run again (step names ``ecap:<job>:<run_id>``)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from spark.submit.base import RUN_ID, JobSpec, SubmitError

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"
DEFAULT_RELEASE_LABEL = "emr-7.5.0"
RELEASE_LABEL = re.compile(r"^emr-7\.\d+\.\d+$")  # EMR 7.x runs Spark 3.5, the version the jobs are written for
STEP_NAME_PREFIX = "ecap:"
COMMAND_RUNNER = "command-runner.jar"
# Step arguments are readable by anyone allowed DescribeStep, so secrets must reach the job some other way.
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|PRIVATE|(^|_)KEY($|_)")


def pinned_version(distribution: str, requirements: Path = REQUIREMENTS) -> str:
    """The version ``requirements.txt`` pins a distribution to (the installed one when there is no file)."""
    pattern = re.compile(rf"^\s*{re.escape(distribution)}\s*==\s*([^\s;#]+)", re.IGNORECASE)
    if requirements.exists():
        for line in requirements.read_text().splitlines():
            match = pattern.match(line)
            if match:
                return match.group(1)
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        raise SubmitError(f"no pinned version of {distribution} to install on EMR", code="invalid_config") from None


def run_id_of(step_name: str) -> str | None:
    """The run id in a step name ``ecap:<job>:<run_id>``; None for steps not submitted by this backend."""
    if not step_name.startswith(STEP_NAME_PREFIX):
        return None
    parts = step_name.split(":", 2)
    return parts[2] if len(parts) == 3 and RUN_ID.match(parts[2]) else None


def split_s3(uri: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key`` (EMR also reports ``s3n://`` and ``s3a://``)."""
    scheme, _, rest = uri.partition("://")
    if scheme not in ("s3", "s3n", "s3a") or not rest:
        raise SubmitError(f"not an S3 location: {uri!r}", code="invalid_config")
    bucket, _, key = rest.partition("/")
    return bucket, key


def check_env_for_emr(env: Mapping[str, str]) -> None:
    """Refuse environment variables that look like secrets: they would be readable in the step's arguments."""
    for name in env:
        if SECRET_NAME.search(name.upper()):
            raise SubmitError(
                f"{name} looks like a secret; EMR step arguments are readable by anyone who can describe the step",
                code="invalid_env",
            )


@dataclass(frozen=True)
class ClusterShape:
    """How runs are laid out on EMR: the Spark deploy mode and Python, and the transient cluster per the platform
    (EMR 7.x with Spark, master m5.xlarge, core 2 x m5.large, terminating when its step ends)."""

    release_label: str = DEFAULT_RELEASE_LABEL
    service_role: str = "EMR_DefaultRole"
    job_flow_role: str = "EMR_EC2_DefaultRole"
    master_instance_type: str = "m5.xlarge"
    core_instance_type: str = "m5.large"
    core_instance_count: int = 2
    deploy_mode: str = "cluster"
    python: str = "/usr/bin/python3.11"  # the jobs need 3.11; EMR 7's default python3 is 3.9
    openlineage_version: str | None = None
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    subnet_id: str | None = None
    security_configuration: str | None = None
    idle_timeout_seconds: int = 3600

    def __post_init__(self) -> None:
        if self.deploy_mode not in ("cluster", "client"):
            raise SubmitError(f"deploy mode must be cluster or client, not {self.deploy_mode!r}", code="invalid_config")

    def check_release(self) -> None:
        """Transient clusters run EMR 7.x only."""
        if not RELEASE_LABEL.match(self.release_label):
            raise SubmitError(f"release {self.release_label!r} is not EMR 7.x", code="invalid_config")

    def spark_submit_args(self, spec: JobSpec, run_uri: str) -> list[str]:
        """The ``spark-submit`` command line of a run whose files are under ``run_uri``."""
        conf = {
            "spark.pyspark.python": self.python,
            "spark.pyspark.driver.python": self.python,
            **{f"spark.yarn.appMasterEnv.{k}": v for k, v in spec.env.items()},
            **{f"spark.executorEnv.{k}": v for k, v in spec.env.items()},
            **self.spark_conf,
        }
        confs = [item for key, value in sorted(conf.items()) for item in ("--conf", f"{key}={value}")]
        return [
            "spark-submit",
            "--deploy-mode",
            self.deploy_mode,
            "--name",
            f"ecap-{spec.job}",
            *confs,
            "--py-files",
            f"{run_uri}/spark.zip",
            f"{run_uri}/entry.py",
            "--summary-uri",
            f"{run_uri}/summary.json",
            spec.job,
            *spec.args,
        ]

    def step(self, spec: JobSpec, run_uri: str, *, transient: bool) -> dict[str, Any]:
        """The EMR step of a run; a transient cluster has nothing else to do once it fails."""
        return {
            "Name": f"{STEP_NAME_PREFIX}{spec.job}:{spec.run_id}",
            "ActionOnFailure": "TERMINATE_CLUSTER" if transient else "CONTINUE",
            "HadoopJarStep": {"Jar": COMMAND_RUNNER, "Args": self.spark_submit_args(spec, run_uri)},
        }

    def bootstrap_script(self) -> str:
        """The bootstrap action of transient clusters: the jobs' Python and their OpenLineage client on every node."""
        version = self.openlineage_version or pinned_version("openlineage-python")
        python = shlex.quote(self.python)
        package = shlex.quote(Path(self.python).name)
        requirement = shlex.quote(f"openlineage-python=={version}")
        return (
            "#!/bin/bash\n"
            "# Installs what the ECAP Spark jobs import beyond Spark itself, on every node of the cluster.\n"
            "set -euo pipefail\n"
            f"if [ ! -x {python} ]; then\n"
            f"  sudo dnf install -y {package} {package}-pip\n"
            "fi\n"
            f"sudo {python} -m pip install --quiet {requirement}\n"
        )

    def job_flow(self, spec: JobSpec, step: dict[str, Any], *, log_uri: str, bootstrap_uri: str) -> dict[str, Any]:
        """The ``run_job_flow`` parameters of a transient cluster that runs one step and terminates."""
        instances: dict[str, Any] = {
            "InstanceGroups": [
                {
                    "Name": "master",
                    "InstanceRole": "MASTER",
                    "Market": "ON_DEMAND",
                    "InstanceType": self.master_instance_type,
                    "InstanceCount": 1,
                },
                {
                    "Name": "core",
                    "InstanceRole": "CORE",
                    "Market": "ON_DEMAND",
                    "InstanceType": self.core_instance_type,
                    "InstanceCount": self.core_instance_count,
                },
            ],
            "KeepJobFlowAliveWhenNoSteps": False,
            "TerminationProtected": False,
        }
        if self.subnet_id:
            instances["Ec2SubnetId"] = self.subnet_id
        tags = {"project": "ecap", "ecap:component": "spark", "ecap:job": spec.job, "ecap:run-id": spec.run_id}
        tags.update(self.tags)
        parameters: dict[str, Any] = {
            "Name": f"ecap-{spec.job}-{spec.run_id}",
            "LogUri": log_uri,
            "ReleaseLabel": self.release_label,
            "Applications": [{"Name": "Spark"}],
            "Instances": instances,
            "Steps": [step],
            "BootstrapActions": [
                {"Name": "ecap-python-dependencies", "ScriptBootstrapAction": {"Path": bootstrap_uri, "Args": []}}
            ],
            "ServiceRole": self.service_role,
            "JobFlowRole": self.job_flow_role,
            "VisibleToAllUsers": True,
            "StepConcurrencyLevel": 1,
            # A backstop: the cluster already ends with its step; this ends it if it somehow sits idle.
            "AutoTerminationPolicy": {"IdleTimeout": self.idle_timeout_seconds},
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        }
        if self.security_configuration:
            parameters["SecurityConfiguration"] = self.security_configuration
        return parameters
