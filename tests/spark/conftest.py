"""One local Spark session for every Spark test, and the OpenLineage schemas for validating emitted events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "openlineage-spec"


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    from spark.session import get_spark

    session = get_spark("ecap-tests", master="local[2]")
    session.conf.set("spark.sql.shuffle.partitions", "4")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def validate_openlineage() -> Any:
    """A function that validates a run event (a dict) against the core OpenLineage schema and, for every facet,
    the facet schema its ``_schemaURL`` names; it raises ``jsonschema.ValidationError`` on the first problem."""
    if not SPEC_DIR.exists():
        pytest.skip(f"OpenLineage schemas not found at {SPEC_DIR}")
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    index = json.loads((SPEC_DIR / "index.json").read_text())
    documents = {schema_id: json.loads((SPEC_DIR / entry["file"]).read_text()) for schema_id, entry in index.items()}
    registry = Registry().with_resources((i, Resource.from_contents(d)) for i, d in documents.items())
    core = Draft202012Validator(documents["https://openlineage.io/spec/2-0-2/OpenLineage.json"], registry=registry)

    def facets_of(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield from event.get("run", {}).get("facets", {}).values()
        yield from event.get("job", {}).get("facets", {}).values()
        for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
            for key in ("facets", "inputFacets", "outputFacets"):
                yield from dataset.get(key, {}).values()

    def validate(event: dict[str, Any]) -> None:
        core.validate(event)
        for facet in facets_of(event):
            url = facet["_schemaURL"]
            document_id = url.partition("#")[0]
            if document_id not in documents:
                raise AssertionError(f"facet schema {url} is not in the specification folder")
            schema = {"$ref": url}
            Draft202012Validator(schema, registry=registry).validate(facet)

    return validate


@pytest.fixture(scope="session")
def small_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small generated lake (2,000 orders, seed 7, the default share of bad rows), shared by the Spark tests."""
    from spark.jobs.generate import generate_lake

    root = "file://" + str(tmp_path_factory.mktemp("lake"))
    generate_lake(spark, root, orders=2000, seed=7)
    return root
