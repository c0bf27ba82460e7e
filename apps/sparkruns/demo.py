"""Demo data of Spark runs: a generated lake and a run of every job on it, queued in order (the generator first,
then validation, RFM segmentation, profiling and the PII scan, one local run at a time), run by the worker."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.sparkruns.choices import Backend
from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import spark_run_request

DEMO_ORDERS = "20000"


def demo_generate_run() -> SparkRun:
    """The demo lake's generator run, requested (with its follow-ups) the first time; other apps' demo runs wait
    for it."""
    existing = SparkRun.objects.filter(idempotency_key="demo:generate").first()
    if existing is not None:
        return existing
    today = timezone.now().date()
    generate = spark_run_request(
        job="generate",
        args=["--rows", DEMO_ORDERS, "--seed", "42", "--start", (today - timedelta(days=365)).isoformat()],
        backend=Backend.LOCAL,
        idempotency_key="demo:generate",
    )
    follow_ups = [("validate", []), ("rfm", ["--as-of", today.isoformat()]), ("profile", []), ("pii_scan", [])]
    for job, args in follow_ups:
        spark_run_request(job=job, args=args, backend=Backend.LOCAL, after=generate, idempotency_key=f"demo:{job}")
    return generate


def seed() -> list[str]:
    """Idempotent: the demo runs are requested once (by their idempotency keys)."""
    generate = demo_generate_run()
    states = ", ".join(f"{r.job} {r.state}" for r in SparkRun.objects.filter(idempotency_key__startswith="demo:"))
    return [f"spark runs: generate ({DEMO_ORDERS} orders into {generate.lake_root}), then validate, rfm, profile and "
            f"pii_scan, one at a time on the worker: {states}"]  # fmt: skip
