"""OpenLineage emission for the jobs: START, then COMPLETE or FAIL, with inputs, outputs, the schema facet, output
statistics and column lineage, through the ``openlineage-python`` client.

Transports: a JSON-lines file (the Celery task ingests it after the run) or HTTP to the portal's
``POST /api/v1/lineage`` with a bearer token read from an environment variable (never from the command line).
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import attr
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    RunFacet,
    column_lineage_dataset,
    data_quality_assertions_dataset,
    data_quality_metrics_input_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport
from openlineage.client.transport.noop import NoopConfig, NoopTransport
from pyspark.sql.types import ArrayType, DataType, MapType, StructType

PRODUCER = "https://github.com/ecap/governance-portal/spark"
JOB_NAMESPACE = "ecap"
TRACE_FACET = "ecap_trace"
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


@attr.define
class EcapTraceRunFacet(RunFacet):
    """The run facet ``ecap_trace``: the W3C ``traceparent`` of the portal request or task that submitted the run, so
    a lineage event leads to the trace that started the job."""

    traceparent: str

    @staticmethod
    def _get_schema() -> str:
        return f"{PRODUCER}/facets/EcapTraceRunFacet.json"


def trace_facet(traceparent: str | None) -> EcapTraceRunFacet | None:
    """The ``ecap_trace`` facet of a well-formed ``traceparent``; None for a missing or malformed one (a job must
    never fail because of its trace context)."""
    value = (traceparent or "").strip().lower()
    if not TRACEPARENT.match(value) or value.startswith("ff") or value.split("-")[1] == "0" * 32:
        return None
    return EcapTraceRunFacet(traceparent=value)


def _type_name(data_type: DataType) -> str:
    if isinstance(data_type, StructType | ArrayType | MapType):
        return data_type.typeName()
    return data_type.simpleString()


def schema_facet(schema: StructType) -> schema_dataset.SchemaDatasetFacet:
    """The OpenLineage schema facet of a Spark schema (nested structs as nested fields)."""

    def fields(struct: StructType) -> list[schema_dataset.SchemaDatasetFacetFields]:
        out = []
        for position, item in enumerate(struct.fields, start=1):
            nested = fields(item.dataType) if isinstance(item.dataType, StructType) else []
            out.append(
                schema_dataset.SchemaDatasetFacetFields(
                    name=item.name, type=_type_name(item.dataType), ordinal_position=position, fields=nested
                )
            )
        return out

    return schema_dataset.SchemaDatasetFacet(fields=fields(schema))


@dataclass(frozen=True)
class ColumnSource:
    """One input column an output column comes from, and how."""

    namespace: str
    name: str
    field: str
    kind: str = "DIRECT"  # DIRECT or INDIRECT
    subtype: str = "IDENTITY"  # IDENTITY, TRANSFORMATION, AGGREGATION; INDIRECT: FILTER, JOIN, GROUP_BY, SORT…
    description: str = ""
    masking: bool = False


def column_lineage_facet(
    mapping: Mapping[str, Iterable[ColumnSource]],
) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    """``{"output_column": [ColumnSource, …]}`` as the column lineage facet."""
    fields = {}
    for column, sources in mapping.items():
        inputs = [
            column_lineage_dataset.InputField(
                namespace=s.namespace,
                name=s.name,
                field=s.field,
                transformations=[
                    column_lineage_dataset.Transformation(
                        type=s.kind, subtype=s.subtype, description=s.description or None, masking=s.masking
                    )
                ],
            )
            for s in sources
        ]
        fields[column] = column_lineage_dataset.Fields(inputFields=inputs)
    return column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields)


def input_dataset(namespace: str, name: str, schema: StructType | None = None) -> InputDataset:
    """An input dataset, with its schema when known."""
    facets: dict[str, Any] = {"schema": schema_facet(schema)} if schema is not None else {}
    return InputDataset(namespace=namespace, name=name, facets=facets)


def output_dataset(
    namespace: str,
    name: str,
    schema: StructType | None = None,
    *,
    rows: int | None = None,
    size: int | None = None,
    files: int | None = None,
    columns: Mapping[str, Iterable[ColumnSource]] | None = None,
) -> OutputDataset:
    """An output dataset with its schema, column lineage and output statistics."""
    facets: dict[str, Any] = {}
    if schema is not None:
        facets["schema"] = schema_facet(schema)
    if columns:
        facets["columnLineage"] = column_lineage_facet(columns)
    output_facets: dict[str, Any] = {}
    if rows is not None or size is not None or files is not None:
        output_facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows, size=size, fileCount=files
        )
    return OutputDataset(namespace=namespace, name=name, facets=facets, outputFacets=output_facets)


@dataclass(frozen=True)
class AssertionRecord:
    """One data-quality check and whether it found no issue, for the ``dataQualityAssertions`` facet."""

    assertion: str
    success: bool
    column: str | None = None
    name: str | None = None
    severity: str | None = None
    expected: str | None = None
    actual: str | None = None


def quality_input_dataset(
    namespace: str,
    name: str,
    schema: StructType | None = None,
    *,
    rows: int,
    columns: Mapping[str, Mapping[str, int]] | None = None,
    assertions: Iterable[AssertionRecord] = (),
) -> InputDataset:
    """An input dataset with ``dataQualityMetrics`` (rows; per column nullCount/distinctCount where computed) and
    ``dataQualityAssertions`` input facets."""
    metrics = data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
        rowCount=rows,
        columnMetrics={
            column: data_quality_metrics_input_dataset.ColumnMetrics(
                nullCount=values.get("nullCount"), distinctCount=values.get("distinctCount")
            )
            for column, values in (columns or {}).items()
        },
    )
    checks = data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
        assertions=[
            data_quality_assertions_dataset.Assertion(
                assertion=a.assertion,
                success=a.success,
                column=a.column,
                name=a.name,
                severity=a.severity,
                expected=a.expected,
                actual=a.actual,
            )
            for a in assertions
        ]
    )
    facets: dict[str, Any] = {"schema": schema_facet(schema)} if schema is not None else {}
    return InputDataset(
        namespace=namespace,
        name=name,
        facets=facets,
        inputFacets={"dataQualityMetrics": metrics, "dataQualityAssertions": checks},
    )


@dataclass
class Lineage:
    """The OpenLineage run of one job execution."""

    job_name: str
    run_id: str
    file: str | None = None
    url: str | None = None
    token: str | None = None
    parent_job: str | None = None
    parent_run_id: str | None = None
    spark_version: str = ""
    traceparent: str | None = None
    extra_run_facets: dict[str, Any] = field(default_factory=dict)
    client: OpenLineageClient = field(init=False)

    def __post_init__(self) -> None:
        if self.url:
            auth = ApiKeyTokenProvider({"apiKey": self.token}) if self.token else None
            config = HttpConfig(url=self.url, endpoint="api/v1/lineage", timeout=10.0)
            if auth is not None:
                config.auth = auth
            transport: Any = HttpTransport(config)
        elif self.file:
            transport = FileTransport(FileConfig(log_file_path=self.file, append=True))
        else:
            transport = NoopTransport(NoopConfig())
        self.client = OpenLineageClient(transport=transport)

    def _run(self, extra: dict[str, Any] | None = None) -> Run:
        facets: dict[str, Any] = dict(self.extra_run_facets)
        if self.spark_version:
            facets["processing_engine"] = processing_engine_run.ProcessingEngineRunFacet(
                version=self.spark_version, name="spark", openlineageAdapterVersion=None
            )
        if self.parent_job and self.parent_run_id:
            facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=self.parent_run_id),
                job=parent_run.Job(namespace=JOB_NAMESPACE, name=self.parent_job),
            )
        trace = trace_facet(self.traceparent)
        if trace is not None:
            facets[TRACE_FACET] = trace
        facets.update(extra or {})
        return Run(runId=self.run_id, facets=facets)

    def _job(self) -> Job:
        return Job(
            namespace=JOB_NAMESPACE,
            name=self.job_name,
            facets={
                "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="SPARK", jobType="JOB")
            },
        )

    def emit(
        self,
        state: RunState,
        inputs: list[InputDataset] | None = None,
        outputs: list[OutputDataset] | None = None,
        run_facets: dict[str, Any] | None = None,
    ) -> RunEvent:
        event = RunEvent(
            eventType=state,
            eventTime=datetime.now(UTC).isoformat(),
            run=self._run(run_facets),
            job=self._job(),
            producer=PRODUCER,
            inputs=inputs or [],
            outputs=outputs or [],
        )
        self.client.emit(event)
        return event

    def start(self, inputs: list[InputDataset] | None = None, outputs: list[OutputDataset] | None = None) -> RunEvent:
        return self.emit(RunState.START, inputs, outputs)

    def complete(self, inputs: list[InputDataset], outputs: list[OutputDataset]) -> RunEvent:
        return self.emit(RunState.COMPLETE, inputs, outputs)

    def fail(self, error: BaseException, inputs: list[InputDataset] | None = None) -> RunEvent:
        facet = error_message_run.ErrorMessageRunFacet(
            message=f"{type(error).__name__}: {error}"[:2000],
            programmingLanguage="PYTHON",
            stackTrace="".join(traceback.format_exception(error))[-8000:],
        )
        return self.emit(RunState.FAIL, inputs, [], {"errorMessage": facet})
