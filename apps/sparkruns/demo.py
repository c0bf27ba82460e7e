"""Demo data of Spark runs: a generated lake and a run of every job on it, queued in order (the generator first,
then validation, RFM segmentation, profiling and the PII scan, one local run at a time), run by the worker."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.sparkruns.choices import Backend
from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import spark_run_request

DEMO_ORDERS = "20000"


def seed() -> list[str]:
    """Idempotent: the demo runs are requested once (by their idempotency keys)."""
    if SparkRun.objects.filter(idempotency_key="demo:generate").exists():
        states = ", ".join(f"{r.job} {r.state}" for r in SparkRun.objects.filter(idempotency_key__startswith="demo:"))
        return [f"spark runs present: {states}"]
    today = timezone.now().date()
    generate = spark_run_request(
        job="generate",
        args=["--rows", DEMO_ORDERS, "--seed", "42", "--start", (today - timedelta(days=365)).isoformat()],
        backend=Backend.LOCAL,
        idempotency_key="demo:generate",
    )
    as_of = today.isoformat()
    follow_ups = [("validate", []), ("rfm", ["--as-of", as_of]), ("profile", []), ("pii_scan", [])]
    for job, args in follow_ups:
        spark_run_request(job=job, args=args, backend=Backend.LOCAL, after=generate, idempotency_key=f"demo:{job}")
    return [f"spark runs queued: generate ({DEMO_ORDERS} orders into {generate.lake_root}), then validate, rfm, "
            "profile and pii_scan; the worker runs them one at a time"]  # fmt: skip
