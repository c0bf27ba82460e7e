"""The ``dsr_erase`` job: erases or rectifies many data subjects in the lake in one pass per dataset.

``python -m spark.jobs.dsr_erase --lake URI --plan JSON_OR_FILE [--max-resolved N]``

The plan (inline JSON or a file)::

    {"subjects": [{"id": "<uuid>", "keys": {"customer_id": ["c-1"], "email": ["a@x.com"]}}],
     "datasets": [{"dataset": "raw/customers", "keys": {"customer_id": "customer_id", "email": "email"},
                   "action": "delete"},
                  {"dataset": "raw/orders", "keys": {"customer_id": "customer_id"}, "action": "anonymise",
                   "fields": {"customer_id": "hash", "ip_address": "mask"}}],
     "hash_key_env": "ECAP_DSR_HASH_KEY"}

A rectification is a rule with the action ``update`` and new values (as strings) per subject id::

    {"dataset": "raw/customers", "keys": {"customer_id": "customer_id"}, "action": "update",
     "updates": {"<uuid>": {"email": "new@example.com", "marketing_opt_in": "false"}}}

Strategies: ``hash`` (HMAC-SHA256 hex, key from the environment variable ``hash_key_env``, never from arguments),
``mask`` (first and last character kept, ``*`` between), ``postal_prefix`` (first 3 characters), ``year_only``
(January 1 of the year / the year's start), ``random`` (random letters and digits of the same length), ``nullify``.
An ``update`` (rectification) sets the given columns of each listed subject's rows, each value cast to its column's
type. Only the Parquet files holding subjects' rows are rewritten, each replaced atomically; see
``spark.privacy.erase`` for matching and idempotence and ``spark.privacy.rewrite`` for the replacement.

Identity resolution: before anything is written, the rows a subject matches in a dataset whose rule keys two or more
identity kinds (``raw/customers`` above) give that subject's other identities (an email-only subject gets its
customer id, and so its orders); see ``spark.privacy.erase``. More than ``--max-resolved`` (default 100) values of
one kind for one subject fails the run with a ``PlanError``: a key column is then not a personal identifier. A re-run
finds nothing more to resolve once the linking rows are gone, so it relies on the first run being complete (whose
verification covered the resolved values); a plan may list every value the portal already knows.

The summary holds, per dataset, rows matched per subject, rows deleted, anonymised or updated (``rows_deleted``,
``rows_anonymised``, ``rows_updated``), every replaced file with its SHA-256 before and after, the untouched file
count, start and end times; and a final verification scan per dataset (rows still matching raw identity values, or
their keyed hashes, and rows still pending; an update is verified when nothing is pending); and ``resolved``, per
subject id the number of identity values resolution added per kind (``{"<uuid>": {"customer_id": 1}}``). Identity
values (given or resolved), new values and the hash key never appear in it. Lineage lists every dataset of the plan
as both input and output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql.utils import AnalysisException

from spark.jobs.base import JobContext, JobResult, main
from spark.lineage import ColumnSource, input_dataset, output_dataset
from spark.privacy.erase import (
    DEFAULT_MAX_RESOLVED,
    DatasetReport,
    ErasePlan,
    EraseReport,
    PlanError,
    erase,
    load_plan,
)

NAME = "dsr_erase"


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's own arguments."""
    parser.add_argument("--plan", required=True, help="The erasure plan: inline JSON or the path of a JSON file.")
    parser.add_argument(
        "--max-resolved",
        type=positive,
        default=DEFAULT_MAX_RESOLVED,
        help=f"Most identity values of one kind resolution may add to one subject (default {DEFAULT_MAX_RESOLVED}).",
    )
    parser.add_argument(
        "--progress",
        default=None,
        help="A local file to append one JSON line to per phase (resolved, each dataset done, verified), for the "
        "portal to follow the run; counts only, never identity values.",
    )


def progress_writer(path: str | None) -> Callable[[str, DatasetReport | None], None] | None:
    """Appends ``{"phase", "at"[, "dataset", "action", "rows_changed", "files_rewritten"]}`` lines to ``path``."""
    if not path:
        return None
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)

    def write(phase: str, report: DatasetReport | None) -> None:
        line: dict[str, Any] = {"phase": phase, "at": datetime.now(UTC).isoformat()}
        if report is not None:
            line.update(
                dataset=report.dataset,
                action=report.action,
                rows_changed=report.rows_changed,
                files_rewritten=len(report.files_rewritten),
            )
        with target.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(line) + "\n")

    return write


def hash_key(plan: ErasePlan) -> bytes | None:
    """The HMAC key from the environment variable the plan names; None when unset and not needed."""
    value = os.environ.get(plan.hash_key_env, "")
    if not value and plan.uses_hash:
        raise PlanError(f"the plan hashes values but the environment variable {plan.hash_key_env} is not set")
    return value.encode("utf-8") if value else None


def summarise(ctx: JobContext, plan: ErasePlan, report: EraseReport) -> dict[str, Any]:
    datasets = {d.dataset: d.as_dict() for d in report.datasets}
    return {
        "job": NAME,
        "run_id": ctx.lineage.run_id,
        "lake": ctx.lake,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "subjects": [s.id for s in plan.subjects],
        "hash_key_env": plan.hash_key_env,
        "datasets": datasets,
        "verification": report.verification,
        "verified": all(v["verified"] for v in report.verification.values()),
        "resolved": report.resolved,
        "totals": {
            "files_rewritten": sum(d["files_rewritten_count"] for d in datasets.values()),
            "files_untouched": sum(d["files_untouched"] for d in datasets.values()),
            "rows_deleted": sum(d.get("rows_deleted", 0) for d in datasets.values()),
            "rows_anonymised": sum(d.get("rows_anonymised", 0) for d in datasets.values()),
            "rows_updated": sum(d.get("rows_updated", 0) for d in datasets.values()),
        },
    }


def run(ctx: JobContext) -> JobResult:
    """Parse the plan, erase, verify; lineage names each dataset as input and output (anonymised columns masked,
    updated columns transformed)."""
    plan = load_plan(ctx.args.plan)
    key = hash_key(plan)
    try:
        report = erase(
            ctx.spark,
            ctx.lake,
            plan,
            key,
            ctx.lineage.run_id,
            max_resolved=ctx.args.max_resolved,
            progress=progress_writer(ctx.args.progress),
        )
    except AnalysisException as exc:
        raise PlanError(f"a dataset of the plan cannot be read: {str(exc).splitlines()[0]}") from exc
    inputs, outputs = [], []
    for rule, done in zip(plan.datasets, report.datasets, strict=True):
        namespace, name = ctx.pair(rule.dataset)
        schema = ctx.spark.read.parquet(ctx.uri(rule.dataset)).schema
        inputs.append(input_dataset(namespace, name, schema))
        columns = {
            column: [
                ColumnSource(namespace, name, column, subtype="TRANSFORMATION", description=strategy, masking=True)
            ]
            for column, strategy in rule.fields.items()
        }
        columns.update(
            {
                column: [ColumnSource(namespace, name, column, subtype="TRANSFORMATION", description="update")]
                for column in rule.updated_columns
            }
        )
        outputs.append(
            output_dataset(
                namespace,
                name,
                schema,
                rows=done.rows_changed,
                files=len(done.files_rewritten),
                columns=columns,
            )
        )
    return JobResult(inputs=inputs, outputs=outputs, summary=summarise(ctx, plan, report))


if __name__ == "__main__":
    sys.exit(main(NAME, add_arguments, run))
