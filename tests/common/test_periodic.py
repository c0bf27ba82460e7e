"""Schedules declared in code are synced into django-celery-beat by ``manage.py sync_periodic_tasks``."""

from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from apps.common.checks import periodic_tasks_check
from apps.common.periodic import PeriodicTaskSpec, declared_periodic_tasks

pytestmark = pytest.mark.django_db


def sync() -> str:
    out = io.StringIO()
    call_command("sync_periodic_tasks", stdout=out)
    return out.getvalue()


def test_sync_creates_declared_schedules_in_the_database() -> None:
    assert "created code:common.api_tokens_purge" in sync()
    task = PeriodicTask.objects.get(name="code:common.api_tokens_purge")
    assert task.task == "common.api_tokens_purge"
    assert task.enabled
    assert task.crontab is not None
    assert (task.crontab.minute, task.crontab.hour) == ("17", "3")


def test_sync_is_idempotent_and_updates_changed_schedules(monkeypatch: pytest.MonkeyPatch) -> None:
    sync()
    sync()
    assert PeriodicTask.objects.filter(name="code:common.api_tokens_purge").count() == 1
    config = apps.get_app_config("common")
    changed = PeriodicTaskSpec(name="common.api_tokens_purge", task="common.api_tokens_purge", every_seconds=600)
    monkeypatch.setattr(config, "periodic_tasks", [changed])
    assert "updated code:common.api_tokens_purge" in sync()
    task = PeriodicTask.objects.get(name="code:common.api_tokens_purge")
    assert task.crontab is None
    assert task.interval is not None
    assert task.interval.every == 600


def test_sync_deletes_code_owned_schedules_no_longer_declared_but_keeps_hand_made_ones() -> None:
    sync()
    stale = PeriodicTask.objects.get(name="code:common.api_tokens_purge")
    PeriodicTask.objects.create(name="code:gone.task", task="gone.task", crontab=stale.crontab)
    PeriodicTask.objects.create(name="made by hand", task="common.api_tokens_purge", crontab=stale.crontab)
    assert "deleted code:gone.task" in sync()
    assert set(PeriodicTask.objects.values_list("name", flat=True)) >= {"code:common.api_tokens_purge", "made by hand"}
    assert not PeriodicTask.objects.filter(name="code:gone.task").exists()


def test_dry_run_changes_nothing() -> None:
    out = io.StringIO()
    call_command("sync_periodic_tasks", "--dry-run", stdout=out)
    assert "dry run" in out.getvalue()
    assert not PeriodicTask.objects.filter(name__startswith="code:").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one"),
        ({"crontab": "* * *"}, "five fields"),
        ({"every_seconds": 0}, "positive"),
        ({"crontab": "* * * * *", "every_seconds": 5}, "exactly one"),
    ],
)
def test_malformed_schedules_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PeriodicTaskSpec(name="x", task="x", **kwargs)


def test_system_check_accepts_the_declared_schedules() -> None:
    assert declared_periodic_tasks()
    assert periodic_tasks_check(None) == []


def test_system_check_names_schedules_with_unknown_tasks_or_queues(monkeypatch: pytest.MonkeyPatch) -> None:
    config = apps.get_app_config("common")
    bad = [
        PeriodicTaskSpec(name="a", task="common.no_such_task", every_seconds=60),
        PeriodicTaskSpec(name="b", task="common.api_tokens_purge", every_seconds=60, queue="nowhere"),
    ]
    monkeypatch.setattr(config, "periodic_tasks", bad)
    errors = periodic_tasks_check(None)
    assert [e.id for e in errors] == ["common.E002", "common.E003"]
    assert "common.no_such_task" in errors[0].msg
