"""The ``retention`` job: deletes or anonymises the rows of lake datasets older than a policy's cut-off.

``python -m spark.jobs.retention --lake URI --policy JSON_OR_FILE [--dry-run]``

The policy (inline JSON or a file)::

    {"datasets": [{"dataset": "raw/user_events", "time_column": "event_date",
                   "older_than": "2025-11-07T00:00:00+00:00", "action": "delete"},
                  {"dataset": "raw/customers", "time_column": "updated_at",
                   "older_than": "2025-11-07T00:00:00+00:00", "action": "anonymise",
                   "fields": {"email": "hash", "first_name": "nullify", "phone": "mask"}}],
     "hash_key_env": "ECAP_DSR_HASH_KEY"}

Rows whose time column (a timestamp or a date column, a partition column included) is before ``older_than`` expire.
The strategies are the erasure job's (``hash`` keyed by the environment variable ``hash_key_env``, never by
arguments). A file whose rows all expire under a delete is removed; other files holding expired rows are rewritten,
each atomically; see ``spark.privacy.retention`` for expiry and idempotence and ``spark.privacy.rewrite`` for the
storage. ``--dry-run`` only counts: it writes nothing.

The summary holds ``dry_run``, start and end times and, per dataset: rows expired and still pending, files affected
and fully expired, bytes of the affected files, the oldest and newest expiring time; after a run also rows deleted or
anonymised, every rewritten file (path under the dataset, rows, SHA-256 before and after), every removed file (path,
rows, SHA-256 before), the untouched file count and a verification (expired rows still pending: 0); and totals. The
hash key never appears in it. Lineage lists every dataset as an input and, unless a dry run, as an output.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from pyspark.sql.utils import AnalysisException

from spark.jobs.base import JobContext, JobResult, main
from spark.lineage import ColumnSource, input_dataset, output_dataset
from spark.privacy.retention import (
    RetentionPolicy,
    RetentionPolicyError,
    RetentionReport,
    apply_retention,
    load_policy,
)

NAME = "retention"
TOTALS = (
    "rows_expired",
    "rows_pending",
    "rows_deleted",
    "rows_anonymised",
    "files_affected",
    "files_fully_expired",
    "bytes_affected",
    "files_rewritten_count",
    "files_removed_count",
    "files_untouched",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's own arguments."""
    parser.add_argument("--policy", required=True, help="The retention policy: inline JSON or the path of a JSON file.")
    parser.add_argument("--dry-run", action="store_true", help="Count what would expire; write nothing.")


def hash_key(policy: RetentionPolicy, dry_run: bool) -> bytes | None:
    """The HMAC key from the environment variable the policy names; a dry run hashes nothing and needs none."""
    value = os.environ.get(policy.hash_key_env, "")
    if not value and policy.uses_hash and not dry_run:
        raise RetentionPolicyError(
            f"the policy hashes values but the environment variable {policy.hash_key_env} is not set"
        )
    return value.encode("utf-8") if value else None


def summarise(ctx: JobContext, policy: RetentionPolicy, report: RetentionReport) -> dict[str, Any]:
    datasets = {d.rule.dataset: d.as_dict() for d in report.datasets}
    totals = {name.removesuffix("_count"): sum(d[name] for d in datasets.values()) for name in TOTALS}
    return {
        "job": NAME,
        "run_id": ctx.lineage.run_id,
        "lake": ctx.lake,
        "dry_run": report.dry_run,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "hash_key_env": policy.hash_key_env,
        "datasets": datasets,
        "verified": None if report.dry_run else all(d["verification"]["verified"] for d in datasets.values()),
        "totals": totals,
    }


def run(ctx: JobContext) -> JobResult:
    """Parse the policy, then count or apply it; lineage names each dataset as input and, when written, as output
    (anonymised columns masked)."""
    policy = load_policy(ctx.args.policy)
    key = hash_key(policy, ctx.args.dry_run)
    try:
        report = apply_retention(ctx.spark, ctx.lake, policy, key, ctx.lineage.run_id, dry_run=ctx.args.dry_run)
    except AnalysisException as exc:
        raise RetentionPolicyError(f"a dataset of the policy cannot be read: {str(exc).splitlines()[0]}") from exc
    inputs, outputs = [], []
    for rule, done in zip(policy.datasets, report.datasets, strict=True):
        namespace, name = ctx.pair(rule.dataset)
        schema = done.schema
        inputs.append(input_dataset(namespace, name, schema))
        if report.dry_run:
            continue
        columns = {
            column: [
                ColumnSource(namespace, name, column, subtype="TRANSFORMATION", description=strategy, masking=True)
            ]
            for column, strategy in rule.fields.items()
        }
        outputs.append(
            output_dataset(
                namespace,
                name,
                schema,
                rows=done.rows_deleted + done.rows_anonymised,
                files=len(done.files_rewritten) + len(done.files_removed),
                columns=columns,
            )
        )
    return JobResult(inputs=inputs, outputs=outputs, summary=summarise(ctx, policy, report))


if __name__ == "__main__":
    sys.exit(main(NAME, add_arguments, run))
