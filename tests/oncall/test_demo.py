"""The on-call demo data: the platform's set-up (SEED_FACTS), idempotent, on PostgreSQL and on the SQLite database
of ``make run``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.oncall.choices import ContactKind, ShiftUnit, StepKind
from apps.oncall.demo import _monday_nine, seed
from apps.oncall.models import ContactMethod, EscalationPolicy, NotificationRule, Override, Schedule, Team
from apps.oncall.schedules import who_is_on_call

ROOT = Path(__file__).resolve().parents[2]
LA = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def seeded(db: None, settings, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    call_command("create_demo_users", stdout=io.StringIO())
    seed()


def counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count() for model in (Schedule, Team, EscalationPolicy, ContactMethod, NotificationRule, Override)
    )


def test_the_rotations_are_weekly_and_daily_in_pacific_time(seeded) -> None:
    primary, secondary = Schedule.objects.get(name="Primary"), Schedule.objects.get(name="Secondary")
    assert primary.time_zone == secondary.time_zone == "America/Los_Angeles"
    (weekly,) = primary.layers.all()
    (daily,) = secondary.layers.all()
    assert (weekly.shift_unit, daily.shift_unit) == (ShiftUnit.WEEKS, ShiftUnit.DAYS)
    assert weekly.rotation_start.astimezone(LA).time() == time(9)
    assert weekly.rotation_start.astimezone(LA).weekday() == 0
    assert weekly.turns.filter(user__username="oncall").exists()
    now = timezone.now()
    assert len(who_is_on_call(primary, now)) == 1
    assert len(who_is_on_call(secondary, now)) == 1
    assert set(Team.objects.get(name="SRE").members.values_list("username", flat=True)) >= {
        "oncall", "riley.chen", "morgan.patel", "taylor.kim",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 12, 7, 3, 15, tzinfo=LA), datetime(2026, 11, 30, 9, tzinfo=LA)),  # Monday before nine
        (datetime(2026, 12, 7, 9, tzinfo=LA), datetime(2026, 12, 7, 9, tzinfo=LA)),
        (datetime(2026, 12, 13, 23, 59, tzinfo=LA), datetime(2026, 12, 7, 9, tzinfo=LA)),  # Sunday night
        (datetime(2026, 11, 2, 1, 30, tzinfo=LA), datetime(2026, 10, 26, 9, tzinfo=LA)),  # a week across fall-back
    ],
)
def test_the_rotations_start_at_the_last_monday_nine_so_someone_is_on_call(now: datetime, expected: datetime) -> None:
    start = _monday_nine(now)
    assert start == expected
    assert start.astimezone(LA).time() == time(9)


def test_the_critical_policy_follows_the_escalation_timeline(seeded) -> None:
    critical = EscalationPolicy.objects.get(name="critical")
    steps = list(critical.steps.order_by("position"))
    elapsed, reached = 0, []
    for step in steps:
        if step.kind == StepKind.WAIT:
            elapsed += step.wait_minutes
        elif step.kind == StepKind.NOTIFY_SCHEDULE:
            reached.append((elapsed, step.schedule.name))
        else:
            reached.append((elapsed, step.users.get().username))
    assert reached == [
        (0, "Primary"), (5, "Secondary"), (10, "riley.chen"), (15, "morgan.patel"), (30, "taylor.kim"),
    ]  # fmt: skip
    assert critical.repeat_count == 1


def test_high_and_standard_policies_and_business_hours(seeded) -> None:
    names = set(EscalationPolicy.objects.values_list("name", flat=True))
    from apps.incidents.defaults import RULES

    assert {rule[-1] for rule in RULES} <= names  # every policy the classification rules name exists
    high = list(EscalationPolicy.objects.get(name="high").steps.order_by("position"))
    assert [(s.kind, s.wait_minutes) for s in high] == [
        (StepKind.NOTIFY_SCHEDULE, 0), (StepKind.WAIT, 15), (StepKind.NOTIFY_USERS, 0),
    ]  # fmt: skip
    standard = EscalationPolicy.objects.get(name="standard")
    assert (standard.business_time_zone, standard.business_start, standard.business_end) == (
        "America/Los_Angeles", time(9), time(17),
    )  # fmt: skip
    assert standard.business_weekdays == [0, 1, 2, 3, 4]


def test_contact_methods_rules_and_the_upcoming_override(seeded) -> None:
    demo = {m.kind: m for m in ContactMethod.objects.filter(user__username="oncall")}
    assert set(demo) == {ContactKind.EMAIL, ContactKind.SLACK, ContactKind.SMS}
    assert demo[ContactKind.SMS].address.startswith("+1")
    assert "55501" in demo[ContactKind.SMS].address
    for method in ContactMethod.objects.filter(kind=ContactKind.EMAIL):
        assert method.address.endswith(("@example.com", "@example.org"))
    delays = {r.contact_method.kind: r.delay_minutes for r in NotificationRule.objects.filter(user__username="oncall")}
    assert delays == {ContactKind.EMAIL: 0, ContactKind.SLACK: 0, ContactKind.SMS: 5}
    (override,) = Override.objects.all()
    assert override.start > timezone.now()
    assert override.start.astimezone(LA).weekday() == 5


def test_seeding_twice_changes_nothing(seeded) -> None:
    before = counts()
    lines = seed()
    assert counts() == before
    assert any("Primary" in line for line in lines)


def test_seeding_without_the_demo_users_says_so(db: None) -> None:
    assert seed() == ["oncall skipped: run create_demo_users first"]
    assert not Schedule.objects.exists()


@pytest.mark.slow
def test_seed_demo_runs_twice_on_the_sqlite_database_of_make_run(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_KEY_PREFIX")}
    env |= {"DJANGO_SETTINGS_MODULE": "ecap_site.settings.dev", "PORTAL_VAR_DIR": str(tmp_path)}

    def manage(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True,
            timeout=300,
        ).stdout  # fmt: skip

    manage("migrate", "--noinput")
    manage("create_demo_users")
    first = manage("seed_demo")
    assert "[oncall] schedules: Primary, Secondary" in first
    manage("seed_demo")
    script = (
        "import json; from apps.oncall.models import *; "
        "print(json.dumps([m.objects.count() for m in (Schedule, EscalationPolicy, ContactMethod, Override)]))"
    )
    counted = json.loads(manage("shell", "-c", script).strip().splitlines()[-1])
    assert counted[0] == 2
    assert counted[1] >= 3
    assert counted[2] >= 9
    assert counted[3] == 1
