"""The script ``spark-submit`` runs: ``entry.py [--package P] [--summary-uri URI] <job> <job args…>``.

It runs ``<package>.<job>`` exactly as ``python -m`` would (the job's ``__main__`` block calls the harness) and, when
``--summary-uri`` is given, copies the job's JSON summary there through Hadoop's file systems. That is how a summary
leaves an EMR driver running in cluster mode, whose stdout never reaches the step's log. Standard library and
pyspark only: on EMR this file runs before anything else of ours is on the path but the ``--py-files`` zip.
"""

from __future__ import annotations

import argparse
import os
import re
import runpy
import sys
import tempfile
from pathlib import Path
from typing import Any

JOB_NAME = re.compile(r"^[a-z_]+$")
PACKAGE_NAME = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="entry.py", description="Run one ECAP Spark job under spark-submit.")
    parser.add_argument("--package", default="spark.jobs", help="Package of the job modules.")
    parser.add_argument("--summary-uri", default=None, help="Copy the job's JSON summary to this Hadoop URI.")
    parser.add_argument("job")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    namespace = parser.parse_args(argv)
    if not JOB_NAME.match(namespace.job) or not PACKAGE_NAME.match(namespace.package):
        parser.error(f"refusing job {namespace.package}.{namespace.job}")
    return namespace


def summary_path(args: list[str]) -> tuple[list[str], Path, bool]:
    """The job's arguments with a ``--summary`` path (the caller's, or a temporary one added here), that path, and
    whether it was added here."""
    for index, arg in enumerate(args):
        if arg == "--summary" and index + 1 < len(args):
            return args, Path(args[index + 1]), False
        if arg.startswith("--summary="):
            return args, Path(arg.partition("=")[2]), False
    handle, name = tempfile.mkstemp(prefix="ecap-summary-", suffix=".json")
    os.close(handle)
    os.unlink(name)  # the harness writes it only on success; an empty file must not pass for a summary
    return [*args, "--summary", name], Path(name), True


def copy_to(local: Path, uri: str) -> None:
    """Copy a local file to a Hadoop URI (``s3://`` through EMRFS on EMR, ``file://`` locally)."""
    from pyspark import SparkContext

    context: Any = SparkContext._active_spark_context
    if context is None:
        raise RuntimeError("no active Spark context to write the summary with")
    hadoop_fs = context._jvm.org.apache.hadoop.fs
    target = hadoop_fs.Path(uri)
    file_system = target.getFileSystem(context._jsc.hadoopConfiguration())
    file_system.copyFromLocalFile(False, True, hadoop_fs.Path(local.resolve().as_uri()), target)


def exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Run the job; its exit status is this script's."""
    options = parse(sys.argv[1:] if argv is None else argv)
    module = f"{options.package}.{options.job}"
    args = list(options.args)
    local_summary: Path | None = None
    temporary = False
    if options.summary_uri:
        args, local_summary, temporary = summary_path(args)
    sys.argv = [module, *args]
    # spark.session starts local[*] unless it sees spark-submit's environment marker, which a YARN cluster-mode
    # driver (an EMR step) does not inherit; this script only ever runs under spark-submit.
    os.environ.setdefault("SPARK_ENV_LOADED", "1")
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        status = 0
    except SystemExit as exc:
        status = exit_code(exc)
    if status == 0 and local_summary is not None and options.summary_uri:
        try:
            if local_summary.exists():
                copy_to(local_summary, options.summary_uri)
        except Exception as exc:  # the job succeeded; a lost summary copy is reported, not turned into a failure
            print(f"entry: could not copy the summary to {options.summary_uri}: {exc}", file=sys.stderr)
    if temporary and local_summary is not None:
        local_summary.unlink(missing_ok=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
