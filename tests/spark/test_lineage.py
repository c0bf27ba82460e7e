"""The jobs' OpenLineage events (START, COMPLETE, FAIL with schema, statistics and column lineage) validate against
the published schemas, and lake paths never leave the lake root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql.types import LongType, StringType, StructField, StructType

from spark.lineage import ColumnSource, Lineage, input_dataset, output_dataset
from spark.paths import LakePathError, dataset_uri, lineage_pair, normalize_root

SCHEMA = StructType([StructField("customer_id", StringType()), StructField("orders", LongType())])


def test_start_complete_and_fail_events_validate(tmp_path: Path, validate_openlineage) -> None:
    out = tmp_path / "events.jsonl"
    lineage = Lineage(job_name="rfm", run_id="0190b8c2-1b7a-7c4e-9f1e-1234567890ab", file=str(out), spark_version="3.5")
    lineage.start()
    lineage.complete(
        [input_dataset("file:///lake", "raw/orders", SCHEMA)],
        [
            output_dataset(
                "file:///lake",
                "analytics/rfm_segments",
                SCHEMA,
                rows=10,
                size=2048,
                files=1,
                columns={"orders": [ColumnSource("file:///lake", "raw/orders", "order_id", subtype="AGGREGATION")]},
            )
        ],
    )
    try:
        raise RuntimeError("executor lost")
    except RuntimeError as exc:
        lineage.fail(exc)
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE", "FAIL"]
    for event in events:
        validate_openlineage(event)
    complete = events[1]
    assert complete["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 10
    assert (
        complete["outputs"][0]["facets"]["columnLineage"]["fields"]["orders"]["inputFields"][0]["field"] == "order_id"
    )
    assert "executor lost" in events[2]["run"]["facets"]["errorMessage"]["message"]


def test_an_invalid_event_is_refused_by_the_validator(validate_openlineage) -> None:
    from jsonschema import ValidationError

    with pytest.raises(ValidationError):
        validate_openlineage({"eventType": "START", "eventTime": "now", "producer": "x", "schemaURL": "y"})


@pytest.mark.parametrize(
    ("root", "expected"),
    [
        ("/srv/lake/", "file:///srv/lake"),
        ("file:///srv/lake", "file:///srv/lake"),
        ("s3a://ecap-lake/prod/", "s3://ecap-lake/prod"),
        ("s3://ecap-lake", "s3://ecap-lake"),
    ],
)
def test_lake_roots_are_normalised(root: str, expected: str) -> None:
    assert normalize_root(root) == expected


@pytest.mark.parametrize("root", ["lake", "file://relative/x", "/srv/../etc", "hdfs://x/y", "s3://", ""])
def test_bad_lake_roots_are_refused(root: str) -> None:
    with pytest.raises(LakePathError):
        normalize_root(root)


@pytest.mark.parametrize("path", ["../etc/passwd", "raw/../../x", "", "raw/or ders", "/"])
def test_dataset_paths_cannot_escape_the_root(path: str) -> None:
    with pytest.raises(LakePathError):
        dataset_uri("file:///srv/lake", path)


def test_lineage_identity_is_root_and_path() -> None:
    assert lineage_pair("s3a://ecap-lake/", "/raw/orders/") == ("s3://ecap-lake", "raw/orders")
