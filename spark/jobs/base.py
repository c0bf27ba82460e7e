"""What every job shares: its command line, the Spark session, the OpenLineage run, and the summary.

A job module defines ``add_arguments(parser)`` and ``run(ctx) -> JobResult`` and ends with
``if __name__ == "__main__": sys.exit(main(NAME, add_arguments, run))``. Common arguments:

``--lake URI`` (the lake root), ``--run-id UUID`` (the OpenLineage run id; generated when absent),
``--lineage-file PATH`` or ``--lineage-url URL`` (token from the environment variable named by
``--lineage-token-env``, default ``ECAP_LINEAGE_TOKEN``), ``--parent-job``/``--parent-run-id``,
``--summary PATH`` (the JSON summary is also printed as the last stdout line, prefixed ``ECAP_SUMMARY ``).
A ``TRACEPARENT`` environment variable (W3C trace context, set by the portal) becomes the ``ecap_trace`` run facet of
every OpenLineage event of the run.

Bad data never fails a job; errors do (exit status 1, a FAIL event with the error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import InputDataset, OutputDataset
from pyspark.sql import SparkSession

from spark.lineage import Lineage
from spark.paths import dataset_uri, lineage_pair, normalize_root
from spark.session import get_spark

SUMMARY_PREFIX = "ECAP_SUMMARY "


@dataclass
class JobResult:
    """What a job read and wrote (for lineage) and its summary (for the portal)."""

    inputs: list[InputDataset] = field(default_factory=list)
    outputs: list[OutputDataset] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobContext:
    """A running job: its session, arguments, lake root and lineage run."""

    spark: SparkSession
    args: argparse.Namespace
    lake: str
    lineage: Lineage

    def uri(self, path: str) -> str:
        """The full URI of a dataset path under the lake root."""
        return dataset_uri(self.lake, path)

    def pair(self, path: str) -> tuple[str, str]:
        """The OpenLineage (namespace, name) of a dataset path under the lake root."""
        return lineage_pair(self.lake, path)


def base_parser(name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"spark.jobs.{name}", description=f"ECAP Spark job {name}.")
    parser.add_argument("--lake", required=True, help="Lake root: file:///path or s3://bucket/prefix.")
    parser.add_argument("--run-id", default=None, help="OpenLineage run id (UUID); generated when absent.")
    parser.add_argument("--lineage-file", default=None, help="Append OpenLineage events to this JSON-lines file.")
    parser.add_argument("--lineage-url", default=None, help="Portal base URL for OpenLineage over HTTP.")
    parser.add_argument("--lineage-token-env", default="ECAP_LINEAGE_TOKEN", help="Env variable with the token.")
    parser.add_argument("--parent-job", default=None)
    parser.add_argument("--parent-run-id", default=None)
    parser.add_argument("--summary", default=None, help="Write the JSON summary to this local path.")
    return parser


def make_lineage(name: str, args: argparse.Namespace, spark_version: str = "") -> Lineage:
    return Lineage(
        job_name=name,
        run_id=args.run_id or str(uuid.uuid4()),
        file=args.lineage_file,
        url=args.lineage_url,
        token=os.environ.get(args.lineage_token_env) if args.lineage_url else None,
        parent_job=args.parent_job,
        parent_run_id=args.parent_run_id,
        spark_version=spark_version,
        traceparent=os.environ.get("TRACEPARENT"),  # set by the portal's submission when it ran inside a trace
    )


def execute(
    name: str,
    run: Callable[[JobContext], JobResult],
    args: argparse.Namespace,
    spark: SparkSession | None = None,
) -> JobResult:
    """Run a job in this process (tests call this with the shared session): START, run, COMPLETE or FAIL."""
    session = spark or get_spark(f"ecap-{name}")
    lineage = make_lineage(name, args, session.version)
    ctx = JobContext(spark=session, args=args, lake=normalize_root(args.lake), lineage=lineage)
    lineage.start()
    try:
        result = run(ctx)
    except BaseException as exc:
        lineage.fail(exc)
        raise
    lineage.complete(result.inputs, result.outputs)
    result.summary.setdefault("run_id", lineage.run_id)
    if args.summary:
        Path(args.summary).write_text(json.dumps(result.summary, default=str, sort_keys=True))
    return result


def main(
    name: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[JobContext], JobResult],
    argv: list[str] | None = None,
) -> int:
    """The command-line entry point of a job; returns the exit status."""
    parser = base_parser(name)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        result = execute(name, run, args)
    except Exception as exc:
        print(f"job {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(SUMMARY_PREFIX + json.dumps(result.summary, default=str, sort_keys=True), flush=True)
    return 0
