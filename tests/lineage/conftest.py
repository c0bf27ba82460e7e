"""Fixtures of the lineage tests: OpenLineage event builders, API clients per role, and the schema validator of the
Spark tests (the published OpenLineage JSON schemas from ``../shared/openlineage-spec``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from apps.lineage.services import events_sweep
from tests.spark.conftest import validate_openlineage  # noqa: F401 - the shared schema validator fixture

LAKE = "file:///lake"
PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.1.0"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACET_BASE = "https://openlineage.io/spec/facets"
T0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    """An event time ``minutes`` after T0, in the ISO form producers send."""
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def schema_facet(*columns: str | tuple[str, str]) -> dict[str, Any]:
    fields = [{"name": c, "type": "string"} if isinstance(c, str) else {"name": c[0], "type": c[1]} for c in columns]
    return {
        "_producer": PRODUCER,
        "_schemaURL": f"{FACET_BASE}/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
        "fields": fields,
    }


def column_lineage(
    mapping: dict[str, list[tuple[str, str, str]]],
    *,
    subtype: str = "IDENTITY",
    kind: str = "DIRECT",
    masking: bool = False,
    dataset_wide: list[tuple[str, str, str]] | None = None,
) -> dict[str, Any]:
    """``{"out_col": [(namespace, name, field), …]}`` as a columnLineage facet."""

    def item(ns: str, name: str, column: str, k: str = kind, st: str = subtype, mask: bool = masking) -> dict[str, Any]:
        return {
            "namespace": ns,
            "name": name,
            "field": column,
            "transformations": [{"type": k, "subtype": st, "description": "", "masking": mask}],
        }

    facet: dict[str, Any] = {
        "_producer": PRODUCER,
        "_schemaURL": f"{FACET_BASE}/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
        "fields": {out: {"inputFields": [item(*src) for src in sources]} for out, sources in mapping.items()},
    }
    if dataset_wide:
        facet["dataset"] = [item(*src, k="INDIRECT", st="FILTER", mask=False) for src in dataset_wide]
    return facet


def dataset(name: str, namespace: str = LAKE, **facets: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"namespace": namespace, "name": name}
    stats = facets.pop("outputStatistics", None)
    if facets:
        out["facets"] = facets
    if stats is not None:
        out["outputFacets"] = {
            "outputStatistics": {
                "_producer": PRODUCER,
                "_schemaURL": f"{FACET_BASE}/1-0-2/OutputStatisticsOutputDatasetFacet.json"
                "#/$defs/OutputStatisticsOutputDatasetFacet",
                **stats,
            }
        }
    return out


def run_event(
    event_type: str = "START",
    *,
    job: str = "orders_curation",
    namespace: str = "airflow",
    run_id: str | None = None,
    time: str | None = None,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    run_facets: dict[str, Any] | None = None,
    job_facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A RunEvent as an OpenLineage producer sends it."""
    return {
        "eventType": event_type,
        "eventTime": time or at(0),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_id or str(uuid.uuid4()), "facets": run_facets or {}},
        "job": {"namespace": namespace, "name": job, "facets": job_facets or {}},
        "inputs": inputs or [],
        "outputs": outputs or [],
    }


@pytest.fixture
def integrator(token_client) -> Any:
    client, _ = token_client(role="integrator")
    return client


@pytest.fixture
def steward(token_client) -> Any:
    client, _ = token_client(role="data_steward")
    return client


@pytest.fixture
def sweep() -> Callable[[], int]:
    """Process every pending event now (what the sweeper does once the broker is back)."""
    return lambda: events_sweep(older_than=timedelta(seconds=-1))
