"""Retention: rules per dataset or per data category, applied to the lake by the ``retention`` Spark job, always
after a dry run.

A rule keeps rows for ``days`` by a date or timestamp column (``time_field``); older rows are deleted, or their
personal fields anonymised (strategies by category, as erasure plans choose them). A category rule covers every
active dataset with an active field in that category (a parent category covers its children); its anonymisation
touches only the fields in that category. Where several rules reach one dataset, one wins and the others are listed
as skipped: a delete rule over an anonymise rule, then the shorter period. A dataset without the rule's time column is
skipped with that reason, never guessed.

The cycle (``privacy.retention_cycle``, daily): a dry run counts what would expire (rows, files, bytes, oldest and
newest expiring times) and writes nothing; when it succeeds the applied run follows with exactly the dry run's policy
and moment (``privacy.retention_auto_apply``; otherwise staff apply a reviewed dry run from ``/privacy/retention/``).
Both runs, their reports and who started them are kept; every rule change and run is in the audit log.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from apps.catalog.choices import RetentionAction
from apps.catalog.models import Dataset, Field
from apps.catalog.services import PERSONAL_ROOT
from apps.common.errors import Conflict
from apps.common.models import User
from apps.configuration.services import config_get
from apps.privacy.choices import RetentionMode, RunStatus
from apps.privacy.execution import private_file_write
from apps.privacy.models import RetentionRule, RetentionRun
from apps.privacy.planning import _strategy
from apps.sparkruns.choices import FINAL_STATES, Backend, Job, RunState
from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import spark_run_request, work_dir

logger = structlog.get_logger(__name__)

HASH_KEY_ENV = "ECAP_DSR_HASH_KEY"
TIME_TYPES = ("date", "timestamp", "timestamp_ntz")


def _covers(category: str, key: str) -> bool:
    return key == category or key.startswith(category + ".")


def _fields_by_dataset(dataset_ids: set[int] | None = None) -> dict[int, list[Field]]:
    fields = Field.objects.filter(is_active=True, dataset__is_active=True).prefetch_related("category_links__category")
    if dataset_ids is not None:
        fields = fields.filter(dataset_id__in=dataset_ids)
    out: dict[int, list[Field]] = {}
    for f in fields.order_by("dataset_id", "ordinal"):
        out.setdefault(f.dataset_id, []).append(f)
    return out


def _categories(f: Field) -> list[str]:
    return [link.category.key for link in f.category_links.all()]


def _targets(rule: RetentionRule, fields: dict[int, list[Field]]) -> list[int]:
    if rule.dataset_id is not None:
        return [rule.dataset_id]
    if rule.category is None:
        return []
    key = rule.category.key
    return [pk for pk, rows in fields.items() if any(_covers(key, c) for f in rows for c in _categories(f))]


def _anonymised_fields(rule: RetentionRule, rows: list[Field]) -> dict[str, str]:
    chosen = {}
    for f in rows:
        categories = _categories(f)
        if rule.category is not None:
            wanted = any(_covers(rule.category.key, c) for c in categories)
        else:
            wanted = bool(f.identity_kind) or any(c.startswith(PERSONAL_ROOT + ".") for c in categories)
        if wanted and f.name != rule.time_field:
            chosen[f.name] = _strategy(categories, f.identity_kind)
    return chosen


def retention_policy(*, as_of: datetime) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The policy document for the ``retention`` job at ``as_of``, and what was left out and why."""
    rules = list(RetentionRule.objects.filter(enabled=True).select_related("dataset", "category").order_by("name"))
    fields = _fields_by_dataset()
    names = dict(Dataset.objects.filter(is_active=True).values_list("pk", "name"))
    chosen: dict[int, RetentionRule] = {}
    skipped: list[dict[str, str]] = []
    for rule in rules:
        for pk in _targets(rule, fields):
            if pk not in names:
                skipped.append({"rule": rule.name, "dataset": "", "reason": "the dataset is no longer active"})
                continue
            column = next((f for f in fields.get(pk, []) if f.name == rule.time_field), None)
            if column is None or not column.data_type.lower().startswith(TIME_TYPES):
                reason = f"no date or timestamp column {rule.time_field!r}"
                skipped.append({"rule": rule.name, "dataset": names[pk], "reason": reason})
                continue
            current = chosen.get(pk)
            if current is None or _wins(rule, current):
                if current is not None:
                    skipped.append({"rule": current.name, "dataset": names[pk], "reason": f"{rule.name} applies"})
                chosen[pk] = rule
            else:
                skipped.append({"rule": rule.name, "dataset": names[pk], "reason": f"{current.name} applies"})
    datasets = []
    for pk, rule in sorted(chosen.items(), key=lambda item: names[item[0]]):
        entry: dict[str, Any] = {
            "dataset": names[pk],
            "time_column": rule.time_field,
            "older_than": (as_of - timedelta(days=rule.days)).isoformat(),
            "action": rule.action,
            "rule": rule.name,
        }
        if rule.action == RetentionAction.ANONYMISE:
            entry["fields"] = _anonymised_fields(rule, fields.get(pk, []))
            if not entry["fields"]:
                skipped.append({"rule": rule.name, "dataset": names[pk], "reason": "no personal field to anonymise"})
                continue
        datasets.append(entry)
    return {"datasets": datasets, "hash_key_env": HASH_KEY_ENV}, skipped


def _wins(rule: RetentionRule, current: RetentionRule) -> bool:
    if rule.action != current.action:
        return rule.action == RetentionAction.DELETE
    return rule.days < current.days


def policy_file(run: RetentionRun) -> Path:
    return work_dir() / "retention-policies" / f"{run.public_id}.json"


def retention_run_start(
    *, mode: str, actor: User | None, as_of: datetime | None = None, dry_run: RetentionRun | None = None
) -> RetentionRun:
    """Start a dry run (the policy of now), or apply a succeeded dry run (its very policy and moment)."""
    if mode not in RetentionMode.values:
        raise Conflict(f"Unknown mode {mode!r}.", code="bad_mode")
    with transaction.atomic():
        if RetentionRun.objects.select_for_update().filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists():
            raise Conflict("A retention run has not finished.", code="retention_active")
        if mode == RetentionMode.APPLY:
            if dry_run is None or dry_run.mode != RetentionMode.DRY_RUN or dry_run.status != RunStatus.SUCCEEDED:
                raise Conflict("Apply a succeeded dry run.", code="dry_run_required")
            if RetentionRun.objects.filter(dry_run=dry_run).exists():
                raise Conflict("This dry run was applied already.", code="dry_run_applied")
            policy, skipped, moment = dry_run.policy, dry_run.skipped, dry_run.as_of
        else:
            moment = as_of or timezone.now()
            policy, skipped = retention_policy(as_of=moment)
        if not policy.get("datasets"):
            raise Conflict("No retention rule applies to any dataset.", code="nothing_to_retain")
        run = RetentionRun.objects.create(
            mode=mode, as_of=moment, policy=policy, skipped=skipped, dry_run=dry_run, requested_by=actor
        )
        args = ["--policy", str(policy_file(run))] + (["--dry-run"] if mode == RetentionMode.DRY_RUN else [])
        run.spark_run = spark_run_request(
            job=Job.RETENTION,
            args=args,
            backend=Backend.LOCAL,
            requested_by=actor,
            idempotency_key=f"retention:{run.public_id}",
        )
        run.save(update_fields=["spark_run"])
    logger.info("privacy.retention_started", mode=mode, run=str(run.public_id), datasets=len(policy["datasets"]))
    return run


def retention_environment(run: SparkRun) -> dict[str, str]:
    """Write the policy file of a retention run on the submitting machine; the key for anonymisation."""
    retention = RetentionRun.objects.filter(spark_run=run).first()
    if retention is None:
        return {}
    private_file_write(policy_file(retention), json.dumps(retention.policy))
    return {HASH_KEY_ENV: str(config_get("secrets.anonymisation_key"))}


def retention_run_consume(*, spark_run: SparkRun) -> RetentionRun | None:
    """Record a finished retention run once; a succeeded dry run is applied when automatic application is on."""
    from apps.incidents.services import alert_raise

    with transaction.atomic():
        run = RetentionRun.objects.select_for_update().filter(spark_run=spark_run).first()
        if run is None or run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            return run
        if spark_run.state not in FINAL_STATES:
            return run
        run.finished_at = timezone.now()
        if spark_run.state == RunState.SUCCEEDED and isinstance(spark_run.summary, dict):
            run.status, run.summary = RunStatus.SUCCEEDED, spark_run.summary
        else:
            run.status, run.error = RunStatus.FAILED, (spark_run.error or f"the Spark run {spark_run.state}")[-4000:]
        run.save()
        path = policy_file(run)
        transaction.on_commit(lambda: path.unlink(missing_ok=True))
    alert_raise(
        source="privacy",
        name="RetentionRunFailed",
        summary=f"Retention {run.get_mode_display().lower()} {'failed' if run.status == RunStatus.FAILED else 'ran'}",
        severity="error",
        dedup_key="privacy:retention",
        status="firing" if run.status == RunStatus.FAILED else "resolved",
        details={"run": str(run.public_id), "error": run.error[-500:]},
    )
    if (
        run.status == RunStatus.SUCCEEDED
        and run.mode == RetentionMode.DRY_RUN
        and bool(config_get("privacy.retention_auto_apply"))
        and run.requested_by is None
    ):
        try:
            retention_run_start(mode=RetentionMode.APPLY, actor=None, dry_run=run)
        except Conflict as exc:
            logger.warning("privacy.retention_apply_skipped", run=str(run.public_id), reason=exc.code)
    return run


def retention_cycle(*, now: datetime | None = None) -> RetentionRun | None:
    """The daily beat: a dry run of today's policy (its success applies it); nothing when one ran today."""
    moment = now or timezone.now()
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if RetentionRun.objects.filter(mode=RetentionMode.DRY_RUN, requested_by=None, created_at__gte=start).exists():
        return None
    try:
        return retention_run_start(mode=RetentionMode.DRY_RUN, actor=None, as_of=moment)
    except Conflict as exc:
        logger.info("privacy.retention_cycle_skipped", reason=exc.code)
        return None


def retention_runs_sweep() -> int:
    """Record retention runs whose consumption task was lost."""
    count = 0
    for run in RetentionRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).select_related(
        "spark_run"
    ):
        if run.spark_run is not None and run.spark_run.state in FINAL_STATES:
            retention_run_consume(spark_run=run.spark_run)
            count += 1
    return count
