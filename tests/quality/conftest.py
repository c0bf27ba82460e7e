"""Fixtures of the quality tests: a lake root in the configuration, its datasets catalogued with the canonical
schema, and a way to finish a scan's Spark run with a given summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from apps.catalog.models import Dataset
from apps.catalog.services import FieldSpec, dataset_schema_apply, dataset_upsert
from apps.quality.models import QualityScan
from apps.quality.services import scan_consume
from apps.sparkruns.choices import RunState


@pytest.fixture
def lake(configured_lake: str) -> str:
    """The configured lake root (``tests/conftest.py``)."""
    return configured_lake


@pytest.fixture
def lake_datasets(lake: str, db: None) -> dict[str, Dataset]:
    """The canonical lake datasets, catalogued with their schema and primary keys."""
    from spark.schema import DATASETS

    out = {}
    for path, entry in DATASETS.items():
        dataset, _ = dataset_upsert(namespace=lake, name=path, defaults={"format": "parquet"})
        specs = [FieldSpec(f.name, f.dataType.simpleString(), True) for f in entry.schema.fields]
        dataset_schema_apply(dataset=dataset, fields=specs, source="test")
        dataset.fields.filter(name__in=entry.primary_key).update(is_primary_key=True)
        out[path] = dataset
    return out


@pytest.fixture
def finish() -> Callable[..., QualityScan]:
    """Finish a scan's Spark run with ``summary`` (or fail it) and consume it, as the run-finished receiver does."""

    def run(scan: QualityScan, summary: dict[str, Any] | None = None, state: str = RunState.SUCCEEDED) -> QualityScan:
        assert scan.spark_run is not None
        now = timezone.now()
        scan.spark_run.__class__.objects.filter(pk=scan.spark_run.pk).update(
            state=state, summary=summary, started_at=now, finished_at=now, error="" if summary else "boom"
        )
        scan.spark_run.refresh_from_db()
        consumed = scan_consume(run=scan.spark_run)
        assert consumed is not None
        return consumed

    return run


def reported(rule: str, outcome: str, **extra: Any) -> dict[str, Any]:
    """One rule's entry of a quality_scan summary."""
    return {"id": rule, "outcome": outcome, "message": f"{rule} {outcome}", **extra}
