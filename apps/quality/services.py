"""Data-quality services: rules, scan requests, consumption of finished scans (results, scores, trends, alerts).

A scan is a ``quality_scan`` Spark run (``apps.sparkruns``) over one lake dataset with all of its enabled rules.
The ``QualityScan`` row is stored with the run, in one transaction; when the run finishes the sparkruns app sends
``spark_run_finished`` and ``quality.consume_run`` records the results (``scan_consume``: once, under a row lock).
``quality.consume_pending_scans`` picks up scans whose consumption task was lost.

Alerts: a FAIL raises ``DataQualityRuleFailed`` through ``alert_raise`` with one dedup key per rule, so a rule that
keeps failing stays one incident; the first later scan where the rule no longer fails (PASS, or WARN: below the fail
threshold) resolves it. WARN never alerts. An ERROR (the rule could not be evaluated) leaves the alert as it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.catalog.models import Dataset
from apps.catalog.models import Field as CatalogField
from apps.common.errors import Conflict, DomainError
from apps.common.models import User
from apps.configuration.services import config_get
from apps.quality.choices import Outcome, ScanState, ScanTrigger
from apps.quality.models import QualityResult, QualityRule, QualityScan
from apps.quality.rules import (
    MAX_RULES_PER_SCAN,
    RuleInvalid,
    RuleSpec,
    rule_argument,
    rule_document,
    rule_validate,
)
from apps.quality.scores import daily_record, quality_score, trust_score
from apps.sparkruns.choices import FINAL_STATES, Job, RunState
from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import spark_run_request

logger = structlog.get_logger(__name__)

ALERT_NAME = "DataQualityRuleFailed"
ALERT_SOURCE = "quality"
DEFAULT_SAMPLES = 10
TEST_SAMPLE_ROWS = 10_000
MAX_SAMPLES = 100


class ScanInvalid(DomainError):
    """A scan that cannot be requested as asked."""

    code = "scan_invalid"


# --- rules ------------------------------------------------------------------------------------------------------
def rule_save(*, rule: QualityRule) -> QualityRule:
    """Validate and save a rule (new or changed); the audit trail records the change. A name the dataset already
    uses is refused as invalid input, also when a concurrent save takes it first."""
    rule_validate(RuleSpec.of(rule))
    clash = RuleInvalid(
        f"{rule.dataset.name} already has a rule named {rule.name}.", fields={"name": ["already used in this dataset"]}
    )
    if QualityRule.objects.filter(dataset=rule.dataset, name=rule.name).exclude(pk=rule.pk).exists():
        raise clash
    rule.full_clean(exclude=["dataset", "reference_dataset", "owner"], validate_constraints=False)
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError as exc:
        if "quality_rule_unique_name" in str(exc):
            raise clash from exc
        raise
    return rule


def _alert_resolve(rule: QualityRule, summary: str) -> None:
    from apps.incidents.services import alert_raise

    alert_raise(
        source=ALERT_SOURCE,
        name=ALERT_NAME,
        summary=summary,
        severity=rule.severity,
        dedup_key=rule_alert_key(rule),
        status="resolved",
    )


def rule_delete(*, rule: QualityRule) -> None:
    """Delete a rule; an alert it left open is resolved, so no incident waits for a rule that is gone."""
    with transaction.atomic():
        if rule.alert_open:
            _alert_resolve(rule, f"{rule.dataset.name}: quality rule {rule.name} was deleted")
        rule.delete()


def rule_alert_key(rule: QualityRule) -> str:
    """The dedup key of a rule's alert: one incident per rule."""
    return f"quality:rule:{rule.public_id}"


# --- scan requests ----------------------------------------------------------------------------------------------
def dataset_lake_path(dataset: Dataset) -> str:
    """The dataset's path under the configured lake, refusing datasets that live elsewhere."""
    from spark.paths import LakePathError, lineage_pair

    try:
        namespace, path = lineage_pair(str(config_get("lake.root")), dataset.name)
    except LakePathError as exc:
        raise ScanInvalid(f"{dataset.name} is not a lake path: {exc}.", fields={"dataset": [str(exc)]}) from exc
    if namespace != dataset.namespace:
        raise ScanInvalid(
            f"{dataset.name} lives in {dataset.namespace}, not in the lake the portal scans ({namespace}).",
            fields={"dataset": ["not in the configured lake"]},
        )
    return path


def _primary_key(dataset: Dataset) -> list[str]:
    return list(
        CatalogField.objects.filter(dataset=dataset, is_primary_key=True, is_active=True)
        .order_by("ordinal", "name")
        .values_list("name", flat=True)
    )


def _previous_rows(dataset: Dataset) -> int | None:
    previous = (
        QualityScan.objects.filter(dataset=dataset, state=ScanState.SUCCEEDED, rows_scanned__isnull=False)
        .exclude(trigger=ScanTrigger.TEST)
        .order_by("-finished_at", "-pk")
        .values_list("rows_scanned", flat=True)
        .first()
    )
    return int(previous) if previous is not None else None


def _job_args(
    *, path: str, documents: Sequence[dict[str, Any]], samples: int, key: list[str], partitions: Sequence[str]
) -> list[str]:
    args = ["--dataset", path, "--samples", str(samples)]
    if key:
        args += ["--primary-key", ",".join(key)]
    if partitions:
        args += ["--partitions", *partitions]
    return args + [rule_argument(d) for d in documents]


def _check_partitions(partitions: Sequence[str]) -> list[str]:
    from spark.quality.scan import PARTITION_SPEC

    checked = []
    for index, spec in enumerate(partitions):
        if not isinstance(spec, str) or not PARTITION_SPEC.match(spec) or len(spec) > 300:
            raise ScanInvalid(
                f"Bad partition filter {spec!r}: expected column OP value, e.g. order_date>=2025-03-01.",
                fields={f"partitions.{index}": ["column OP value"]},
            )
        checked.append(spec.strip())
    return checked


def scan_request(
    *,
    dataset: Dataset,
    trigger: str = ScanTrigger.MANUAL,
    requested_by: User | None = None,
    partitions: Sequence[str] = (),
    samples: int | None = None,
    idempotency_key: str | None = None,
    watermark: str = "",
    after: SparkRun | None = None,
) -> QualityScan:
    """Queue a scan of every enabled rule of ``dataset`` (after the run ``after``, when given: a run that writes the
    data); the same idempotency key returns the same scan."""
    if idempotency_key:
        existing = QualityScan.objects.filter(spark_run__idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    rules = list(QualityRule.objects.filter(dataset=dataset, enabled=True).select_related("reference_dataset"))
    if not rules:
        raise ScanInvalid(f"{dataset.name} has no enabled quality rule to scan.", fields={"dataset": ["no rules"]})
    if len(rules) > MAX_RULES_PER_SCAN:
        raise ScanInvalid(
            f"{dataset.name} has {len(rules)} enabled rules; a scan takes at most {MAX_RULES_PER_SCAN}.",
            fields={"dataset": ["too many enabled rules"]},
        )
    count = DEFAULT_SAMPLES if samples is None else samples
    if not 0 <= count <= MAX_SAMPLES:
        raise ScanInvalid(f"samples must be between 0 and {MAX_SAMPLES}.", fields={"samples": ["out of range"]})
    path = dataset_lake_path(dataset)
    checked = _check_partitions(partitions)
    previous = _previous_rows(dataset) if not checked else None
    documents = [rule_document(RuleSpec.of(r), previous_rows=previous) for r in rules]
    args = _job_args(path=path, documents=documents, samples=count, key=_primary_key(dataset), partitions=checked)
    with transaction.atomic():
        run = spark_run_request(
            job=Job.QUALITY_SCAN,
            args=args,
            requested_by=requested_by,
            idempotency_key=idempotency_key or f"quality:scan:{uuid.uuid4()}",
            after=after,
        )
        scan = QualityScan.objects.create(
            dataset=dataset,
            spark_run=run,
            trigger=trigger,
            partitions=checked,
            watermark=watermark[:300],
            rules=documents,
            requested_by=requested_by,
        )
    logger.info("quality.scan_requested", dataset=dataset.name, scan=str(scan.public_id), rules=len(documents))
    return scan


def rule_test_run(
    *, spec: RuleSpec, requested_by: User | None = None, sample_rows: int = TEST_SAMPLE_ROWS
) -> QualityScan:
    """Evaluate one rule, saved or not, on the first ``sample_rows`` rows of its dataset; changes no score or alert."""
    rule_validate(spec)
    if not 1 <= sample_rows <= 1_000_000:
        raise ScanInvalid("sample_rows must be between 1 and 1,000,000.", fields={"sample_rows": ["out of range"]})
    path = dataset_lake_path(spec.dataset)
    document = rule_document(spec, previous_rows=_previous_rows(spec.dataset))
    args = _job_args(
        path=path, documents=[document], samples=DEFAULT_SAMPLES, key=_primary_key(spec.dataset), partitions=()
    )
    args += ["--sample-rows", str(sample_rows)]
    with transaction.atomic():
        run = spark_run_request(
            job=Job.QUALITY_SCAN, args=args, requested_by=requested_by, idempotency_key=f"quality:test:{uuid.uuid4()}"
        )
        return QualityScan.objects.create(
            dataset=spec.dataset,
            spark_run=run,
            trigger=ScanTrigger.TEST,
            sample_rows=sample_rows,
            rules=[document],
            requested_by=requested_by,
        )


# --- consuming finished scans -----------------------------------------------------------------------------------
def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _sample_columns(samples: list[dict[str, Any]], key: list[str], columns: list[str]) -> list[str]:
    """The columns of a rule's samples in reading order: the primary key, the rule's columns, then the rest (a
    duplicate group's row count). The stored summary is JSON whose objects keep no key order."""
    if not samples:
        return []
    present = set().union(*(row.keys() for row in samples))
    ordered = [c for c in [*key, *columns] if c in present]
    return list(dict.fromkeys(ordered + sorted(present - set(ordered))))


def _result_rows(scan: QualityScan, summary: dict[str, Any]) -> list[QualityResult]:
    """One result per rule sent: what the job reported, or an ERROR for a rule it did not report on."""
    rules = {r.name: r for r in QualityRule.objects.filter(dataset=scan.dataset)} if scan.counts_in_scores else {}
    key = [str(c) for c in summary.get("primary_key") or []]
    reported = {str(item.get("id")): item for item in summary.get("rules") or [] if isinstance(item, dict)}
    rows = []
    for document in scan.rules:
        name = str(document.get("id"))
        item = reported.get(name)
        outcome = str(item.get("outcome")) if item else Outcome.ERROR
        samples = list(item.get("samples") or []) if item else []
        rows.append(
            QualityResult(
                scan=scan,
                rule=rules.get(name),
                rule_name=name[:100],
                kind=str(document.get("kind")),
                columns=list(document.get("columns") or []),
                severity=str(document.get("severity") or "error"),
                warn_threshold=_float(document.get("warn")),
                fail_threshold=_float(document.get("fail")),
                outcome=outcome if outcome in Outcome.values else Outcome.ERROR,
                metric=_float(item.get("metric")) if item else None,
                failing_rows=_int(item.get("failing_rows")) if item else None,
                failing_fraction=_float(item.get("failing_fraction")) if item else None,
                message=str(item.get("message") or "")[:2000] if item else "the scan reported nothing for this rule",
                details=dict(item.get("details") or {}) if item else {},
                sample_columns=_sample_columns(samples, key, list(document.get("columns") or [])),
                samples=samples,
                sample_count=len(samples),
            )
        )
    return rows


def scan_consume(*, run: SparkRun) -> QualityScan | None:
    """Record what a finished ``quality_scan`` run found, once; returns the scan (None: nothing to do)."""
    if run.job != Job.QUALITY_SCAN or run.state not in FINAL_STATES:
        return None
    with transaction.atomic():
        scan = QualityScan.objects.select_for_update().filter(spark_run=run).select_related("dataset").first()
        if scan is None or scan.state != ScanState.QUEUED:
            return None
        scan.finished_at = run.finished_at or timezone.now()
        scan.duration_seconds = run.duration_seconds
        summary = run.summary if isinstance(run.summary, dict) else None
        if run.state != RunState.SUCCEEDED or summary is None:
            scan.state = ScanState.FAILED
            scan.error = (run.error or f"the Spark run ended {run.state}")[-2000:]
            scan.save()
            logger.warning("quality.scan_failed", scan=str(scan.public_id), run_state=run.state)
            return scan
        results = _result_rows(scan, summary)
        QualityResult.objects.bulk_create(results)
        scan.state = ScanState.SUCCEEDED
        scan.rows_scanned = _int(summary.get("rows_scanned"))
        scan.outcomes = {o: sum(1 for r in results if r.outcome == o) for o in Outcome.values}
        if scan.counts_in_scores:
            _score(scan, results)
        scan.save()
        if scan.counts_in_scores:
            _rules_update(scan, results)
            _schedule_advance(scan)
    logger.info("quality.scan_consumed", scan=str(scan.public_id), dataset=scan.dataset.name, **scan.outcomes)
    return scan


def _score(scan: QualityScan, results: list[QualityResult]) -> None:
    assert scan.finished_at is not None  # noqa: S101 - set by the caller
    scan.quality_score = quality_score(results)
    scan.trust_score, scan.score_details = trust_score(scan.dataset, scan.quality_score, results, now=scan.finished_at)
    daily_record(
        dataset=scan.dataset,
        day=scan.finished_at.astimezone(UTC).date(),
        quality=scan.quality_score,
        trust=scan.trust_score,
        outcomes=scan.outcomes,
        rows_scanned=scan.rows_scanned,
    )


def _rules_update(scan: QualityScan, results: list[QualityResult]) -> None:
    """Each rule's last outcome, and its alert raised on FAIL or resolved once it stops failing."""
    from apps.incidents.services import alert_raise

    moment = scan.finished_at or timezone.now()
    for result in results:
        rule = result.rule
        if rule is None:
            continue
        QualityRule.objects.filter(pk=rule.pk).update(last_outcome=result.outcome, last_result_at=moment)
        if result.outcome == Outcome.FAIL:
            alert_raise(
                source=ALERT_SOURCE,
                name=ALERT_NAME,
                summary=f"{scan.dataset.name}: quality rule {rule.name} fails — {result.message}",
                severity=rule.severity,
                dedup_key=rule_alert_key(rule),
                labels={
                    "dataset": scan.dataset.name[:200],
                    "rule": rule.name,
                    "kind": rule.kind,
                    "service": "data-quality",
                },
                details={
                    "scan": str(scan.public_id),
                    "metric": result.metric,
                    "failing_rows": result.failing_rows,
                    "failing_fraction": result.failing_fraction,
                    "fail_threshold": result.fail_threshold,
                },
                service="data-quality",
            )
            QualityRule.objects.filter(pk=rule.pk).update(alert_open=True)
        elif result.outcome in (Outcome.PASS, Outcome.WARN) and rule.alert_open:
            _alert_resolve(rule, f"{scan.dataset.name}: quality rule {rule.name} no longer fails ({result.outcome})")
            QualityRule.objects.filter(pk=rule.pk).update(alert_open=False)


def _schedule_advance(scan: QualityScan) -> None:
    """After a partition-triggered scan, the schedule's watermark moves to the newest partition it covered."""
    from apps.quality.models import ScanSchedule

    if scan.trigger != ScanTrigger.PARTITION or not scan.watermark:
        return
    watermark = scan.watermark
    schedule = ScanSchedule.objects.select_for_update().filter(dataset=scan.dataset).first()
    if schedule is not None and (not schedule.last_partition or watermark > schedule.last_partition):
        schedule.last_partition = watermark
        schedule.save(update_fields=["last_partition", "updated_at"])


def scans_consume_pending(*, within: timedelta = timedelta(days=7)) -> int:
    """Consume scans whose run finished but whose consumption was lost; fail scans whose run vanished."""
    since = timezone.now() - within
    count = 0
    pending = QualityScan.objects.filter(
        state=ScanState.QUEUED, created_at__gte=since, spark_run__state__in=[s.value for s in FINAL_STATES]
    ).select_related("spark_run")
    for scan in pending:
        try:
            if scan.spark_run is not None and scan_consume(run=scan.spark_run) is not None:
                count += 1
        except Exception:  # one malformed summary must not block the others
            logger.exception("quality.consume_failed", scan=str(scan.public_id))
    orphans = QualityScan.objects.filter(
        state=ScanState.QUEUED, spark_run__isnull=True, created_at__lt=timezone.now() - timedelta(hours=1)
    )
    count += orphans.update(
        state=ScanState.FAILED, error="the Spark run of this scan was deleted", finished_at=timezone.now()
    )
    return count


def scan_cancel(*, scan: QualityScan, actor: User | None = None) -> QualityScan:
    """Cancel a queued scan through its Spark run."""
    from apps.sparkruns.services import spark_run_cancel

    if scan.state != ScanState.QUEUED or scan.spark_run is None:
        raise Conflict("Only a queued or running scan can be cancelled.", code="scan_finished")
    spark_run_cancel(run=scan.spark_run, actor=actor)
    return scan


def scan_due_key(dataset: Dataset, *, at: datetime | None = None) -> str:
    """One scheduled scan per dataset and minute, however often beat delivers the task."""
    moment = (at or timezone.now()).replace(second=0, microsecond=0)
    return f"quality:schedule:{dataset.public_id}:{moment.isoformat()}"
