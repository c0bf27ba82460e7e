"""Validation of incoming OpenLineage events (RunEvent, DatasetEvent, JobEvent), one or a JSON array of them.

Only what the specification requires, and what processing relies on, is checked: ``eventTime`` (ISO 8601 with a
zone), ``producer``, ``schemaURL``; for a RunEvent ``run.runId`` (a UUID), ``eventType`` (when given) and
``job.namespace``/``job.name``; for a DatasetEvent ``dataset.namespace``/``dataset.name``; every input and output
dataset's ``namespace``/``name``; facets must be objects. Anything else the producer sends is kept as received.
Problems are reported per field, prefixed with the event's index in the array form (``0.run.runId``).

The dedup key makes intake idempotent: a RunEvent is identified by (runId, eventType, eventTime in UTC), any other
event by the SHA-256 of its canonical JSON.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from apps.common.errors import DomainError
from apps.lineage.choices import EventKind, RunState

MAX_NAME = 500
MAX_EVENTS = 1000  # per request; a larger batch is refused with 413 so clients split it
FACET_HOLDERS = ("facets", "inputFacets", "outputFacets")


class EventsInvalid(DomainError):
    """The body is not an OpenLineage event (or array of events) the portal can accept."""

    code = "validation_error"
    status = 400


class TooManyEvents(DomainError):
    """The array holds more events than one request may carry."""

    code = "payload_too_large"
    status = 413


@dataclass(frozen=True)
class ParsedEvent:
    """A validated event and the columns it is stored under."""

    kind: str
    event_type: str
    event_time: datetime
    run_id: uuid.UUID | None
    job_namespace: str
    job_name: str
    producer: str
    dedup_key: str
    payload: dict[str, Any]


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from an ISO 8601 string with a zone (``Z`` or an offset), else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    return moment.astimezone(UTC)


def canonical_json(value: Any) -> str:
    """The JSON text two equal payloads share (sorted keys, no whitespace)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def dedup_key_for(*, kind: str, run_id: uuid.UUID | None, event_type: str, event_time: datetime, payload: Any) -> str:
    """SHA-256 of (runId, eventType, eventTime) for run events, of the canonical payload for the others."""
    if kind == EventKind.RUN:
        material = f"run|{run_id}|{event_type}|{event_time.astimezone(UTC).isoformat()}"
    else:
        material = f"{kind}|{canonical_json(payload)}"
    return hashlib.sha256(material.encode()).hexdigest()


def climbs_out(name: str) -> bool:
    """True when a path-like name has a ``..`` segment, also percent-encoded (once or more) or behind backslashes."""
    text = name
    for _ in range(3):
        text = unquote(text)
    return ".." in text.replace("\\", "/").split("/")


class _Problems:
    """Collects field errors under a prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.fields: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        key = f"{self.prefix}{path}" if path else (self.prefix.rstrip(".") or "non_field_errors")
        self.fields.setdefault(key, []).append(message)

    def name(self, holder: Any, path: str, key: str) -> str:
        """A required, non-empty, bounded string ``holder[key]``; returns it ('' when missing)."""
        value = holder.get(key) if isinstance(holder, dict) else None
        if value is None:
            self.add(f"{path}{key}", "This field is required.")
            return ""
        if not isinstance(value, str) or not value.strip():
            self.add(f"{path}{key}", "Must be a non-empty string.")
            return ""
        if len(value) > MAX_NAME:
            self.add(f"{path}{key}", f"Must be at most {MAX_NAME} characters.")
            return ""
        return value

    def obj(self, holder: dict[str, Any], path: str, key: str, *, required: bool) -> dict[str, Any] | None:
        value = holder.get(key)
        if value is None:
            if required:
                self.add(f"{path}{key}", "This field is required.")
            return None
        if not isinstance(value, dict):
            self.add(f"{path}{key}", "Must be an object.")
            return None
        return value

    def facets(self, holder: dict[str, Any], path: str) -> None:
        for key in FACET_HOLDERS:
            value = holder.get(key)
            if value is None:
                continue
            if not isinstance(value, dict):
                self.add(f"{path}{key}", "Facets must be an object of facet objects.")
                continue
            for facet_name, facet in value.items():
                if not isinstance(facet, dict):
                    self.add(f"{path}{key}.{facet_name}", "A facet must be an object.")

    def datasets(self, event: dict[str, Any], key: str) -> None:
        value = event.get(key)
        if value is None:
            return
        if not isinstance(value, list):
            self.add(key, "Must be an array of datasets.")
            return
        for index, dataset in enumerate(value):
            path = f"{key}.{index}."
            if not isinstance(dataset, dict):
                self.add(f"{key}.{index}", "A dataset must be an object with namespace and name.")
                continue
            self.name(dataset, path, "namespace")
            self.dataset_name(dataset, path)
            self.facets(dataset, path)

    def dataset_name(self, dataset: dict[str, Any], path: str) -> str:
        """A dataset's name: also one that never climbs out of its namespace (``..``, plain or percent-encoded), since
        the catalog makes it a location under the namespace."""
        value = self.name(dataset, path, "name")
        if value and climbs_out(value):
            self.add(f"{path}name", "Must not contain a '..' path segment.")
            return ""
        return value


def parse_event(raw: Any, *, prefix: str = "") -> ParsedEvent:
    """Validate one event; raises ``EventsInvalid`` naming every problem found (fields prefixed by ``prefix``)."""
    problems = _Problems(prefix)
    if not isinstance(raw, dict):
        problems.add("", "An OpenLineage event must be a JSON object.")
        raise _invalid(problems.fields)
    event_time = parse_time(raw.get("eventTime"))
    if "eventTime" not in raw:
        problems.add("eventTime", "This field is required.")
    elif event_time is None:
        problems.add("eventTime", "Must be an ISO 8601 date-time with a time zone, e.g. 2024-05-01T12:00:00Z.")
    for key in ("producer", "schemaURL"):
        value = raw.get(key)
        if value is None:
            problems.add(key, "This field is required.")
        elif not isinstance(value, str) or not value.strip():
            problems.add(key, "Must be a non-empty URI string.")

    run_id: uuid.UUID | None = None
    event_type = ""
    job_namespace = job_name = ""
    if "run" in raw or "eventType" in raw:
        kind = EventKind.RUN
        event_type = raw.get("eventType") or ""
        if event_type and event_type not in RunState.values:
            problems.add("eventType", f"Must be one of {', '.join(RunState.values)}.")
        run = problems.obj(raw, "", "run", required=True)
        if run is not None:
            value = run.get("runId")
            if value is None:
                problems.add("run.runId", "This field is required.")
            else:
                try:
                    run_id = uuid.UUID(str(value)) if isinstance(value, str) else None
                except ValueError:
                    run_id = None
                if run_id is None:
                    problems.add("run.runId", "Must be a UUID.")
            problems.facets(run, "run.")
        job = problems.obj(raw, "", "job", required=True)
        if job is not None:
            job_namespace = problems.name(job, "job.", "namespace")
            job_name = problems.name(job, "job.", "name")
            problems.facets(job, "job.")
        problems.datasets(raw, "inputs")
        problems.datasets(raw, "outputs")
    elif "dataset" in raw:
        kind = EventKind.DATASET
        dataset = problems.obj(raw, "", "dataset", required=True)
        if dataset is not None:
            problems.name(dataset, "dataset.", "namespace")
            problems.dataset_name(dataset, "dataset.")
            problems.facets(dataset, "dataset.")
    elif "job" in raw:
        kind = EventKind.JOB
        job = problems.obj(raw, "", "job", required=True)
        if job is not None:
            job_namespace = problems.name(job, "job.", "namespace")
            job_name = problems.name(job, "job.", "name")
            problems.facets(job, "job.")
        problems.datasets(raw, "inputs")
        problems.datasets(raw, "outputs")
    else:
        kind = EventKind.RUN
        problems.add(
            "run", "This field is required: a RunEvent has run and job, a DatasetEvent dataset, a JobEvent job."
        )
    if problems.fields:
        raise _invalid(problems.fields)
    assert event_time is not None  # noqa: S101 - no problem was found, so the time parsed
    return ParsedEvent(
        kind=kind,
        event_type=event_type,
        event_time=event_time,
        run_id=run_id,
        job_namespace=job_namespace,
        job_name=job_name,
        producer=str(raw["producer"])[:1000],
        dedup_key=dedup_key_for(kind=kind, run_id=run_id, event_type=event_type, event_time=event_time, payload=raw),
        payload=raw,
    )


def parse_body(body: Any) -> list[ParsedEvent]:
    """One event or a JSON array of events, all valid, else ``EventsInvalid`` naming every problem."""
    if isinstance(body, list):
        if not body:
            raise EventsInvalid("The array holds no events.", fields={"non_field_errors": ["The array is empty."]})
        if len(body) > MAX_EVENTS:
            raise TooManyEvents(f"At most {MAX_EVENTS} events per request; split the array.")
        parsed: list[ParsedEvent] = []
        fields: dict[str, list[str]] = {}
        for index, raw in enumerate(body):
            try:
                parsed.append(parse_event(raw, prefix=f"{index}."))
            except EventsInvalid as exc:
                fields.update(exc.fields)
        if fields:
            raise _invalid(fields)
        return parsed
    return [parse_event(body)]


def _invalid(fields: dict[str, list[str]]) -> EventsInvalid:
    first, messages = next(iter(fields.items()))
    return EventsInvalid(f"Not a valid OpenLineage event: {first}: {messages[0]}", fields=fields)
