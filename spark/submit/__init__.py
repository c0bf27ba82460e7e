"""Submitting Spark jobs: ``backend_for("local" | "emr", **config)`` gives a backend to submit, poll, cancel and read
runs of ``spark.jobs.<name>``. Pure Python and boto3; never imports Django."""

from spark.submit.base import (
    Backend,
    JobSpec,
    RunState,
    RunStatus,
    Submission,
    SubmitError,
    backend_for,
)

__all__ = ["Backend", "JobSpec", "RunState", "RunStatus", "Submission", "SubmitError", "backend_for"]
