"""The ``dsr_export`` job: builds the access/portability package ("right to know" under the CCPA) of many data
subjects, finding their rows in one scan per dataset.

``python -m spark.jobs.dsr_export --lake URI --plan JSON_OR_FILE --out DIR [--max-rows N] [--max-resolved N]``

The plan (inline JSON or a file) is the ``dsr_erase`` document with ``"action": "export"`` on every dataset::

    {"subjects": [{"id": "<uuid>", "keys": {"customer_id": ["c-1"], "email": ["a@x.com"]}}],
     "datasets": [{"dataset": "raw/customers", "keys": {"customer_id": "customer_id", "email": "email"},
                   "action": "export"},
                  {"dataset": "raw/orders", "keys": {"customer_id": "customer_id"}, "action": "export"}]}

``fields`` may be given and is ignored: every column of a subject's rows is exported. Rows are matched exactly as
erasure matches them, identity resolution included: a subject known by its email alone also gets the orders of the
customer id its ``raw/customers`` row holds (more than ``--max-resolved``, default 100, values of one kind for one
subject fails the run). ``--out`` is a local directory or ``file://`` URI outside the lake (created 0700 when absent);
each subject gets ``<out>/<subject-id>.zip`` (0600) holding ``manifest.json`` and, per dataset with rows,
``raw__orders.json`` and ``raw__orders.csv`` (the dataset path with ``/`` as ``__``). A subject with more than
``--max-rows`` rows (default 1,000,000) in one dataset fails the run and nothing is left in ``--out``. See
``spark.privacy.export`` for the package format.

The summary holds, per subject, its package's name, SHA-256, size and rows per dataset, the total rows and
datasets, and ``resolved``: per subject id the number of identity values resolution added per kind
(``{"<uuid>": {"customer_id": 1}}``); identity values, given or resolved, never appear in it or in the log.
Lineage lists every dataset of the plan as an input and none as an output (a package is not a lake dataset).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pyspark.sql.utils import AnalysisException

from spark.jobs.base import JobContext, JobResult, main
from spark.lineage import input_dataset
from spark.privacy.erase import DEFAULT_MAX_RESOLVED, ErasePlan, PlanError
from spark.privacy.export import DEFAULT_MAX_ROWS, ExportReport, export, load_export_plan, output_dir

NAME = "dsr_export"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's own arguments."""
    parser.add_argument("--plan", required=True, help="The export plan: inline JSON or the path of a JSON file.")
    parser.add_argument("--out", required=True, help="Local directory (or file:// URI) for the subjects' zips.")
    parser.add_argument(
        "--max-rows",
        type=_positive,
        default=DEFAULT_MAX_ROWS,
        help=f"Most rows one subject may have in one dataset (default {DEFAULT_MAX_ROWS}).",
    )
    parser.add_argument(
        "--max-resolved",
        type=_positive,
        default=DEFAULT_MAX_RESOLVED,
        help=f"Most identity values of one kind resolution may add to one subject (default {DEFAULT_MAX_RESOLVED}).",
    )


def summarise(ctx: JobContext, plan: ErasePlan, report: ExportReport) -> dict[str, Any]:
    subjects = {s.id: report.packages[s.id].as_dict() for s in plan.subjects}
    return {
        "job": NAME,
        "run_id": ctx.lineage.run_id,
        "lake": ctx.lake,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "subjects": subjects,
        "totals": {
            "rows": sum(n for s in subjects.values() for n in s["rows"].values()),
            "datasets": len(plan.datasets),
        },
        "resolved": report.resolved,
    }


def run(ctx: JobContext) -> JobResult:
    """Parse the plan and ``--out``, export; lineage names each dataset as an input."""
    plan = load_export_plan(ctx.args.plan)
    out = output_dir(ctx.args.out, ctx.lake)
    try:
        report = export(
            ctx.spark, ctx.lake, plan, out, ctx.lineage.run_id, ctx.args.max_rows, max_resolved=ctx.args.max_resolved
        )
    except AnalysisException as exc:
        raise PlanError(f"a dataset of the plan cannot be read: {str(exc).splitlines()[0]}") from exc
    inputs = [input_dataset(*ctx.pair(rule.dataset), report.schemas[rule.dataset]) for rule in plan.datasets]
    return JobResult(inputs=inputs, outputs=[], summary=summarise(ctx, plan, report))


if __name__ == "__main__":
    sys.exit(main(NAME, add_arguments, run))
