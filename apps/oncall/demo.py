"""Demo data of the on-call app: the platform's on-call set-up (SEED_FACTS "Escalation and on-call").

- People: the demo ``oncall`` user and three more on-call engineers take the rotations; a senior engineer, an SRE
  lead, an engineering manager and a CTO are the later escalation steps. All in team "SRE", all in US Pacific time.
- Schedules "Primary" (weekly hand-off, Monday 09:00) and "Secondary" (daily hand-off, 09:00), America/Los_Angeles.
- Escalation policies named as the incidents' classification rules name them:
  ``critical`` (level 1): primary at once, secondary at 5 minutes, SRE lead at 10, engineering manager at 15, CTO at
  30, all of it once more if nobody acknowledged; ``high`` (level 2): primary, then the senior engineer after 15
  minutes; ``standard`` (level 3, low urgency): primary, within business hours 09:00-17:00 Monday to Friday Pacific.
- Contact methods: an e-mail address for everyone (example.com / example.org); for the demo on-call user also a Slack
  webhook and an SMS number in the reserved fictional range 555-0100 to 555-0199. Rules: e-mail and Slack at once,
  SMS after 5 minutes.
- An override next Saturday: another engineer covers the demo user's primary shift for the day.

Idempotent: what exists (by name, username or address) is kept as it is; only what is missing is created. Uses no
PostgreSQL-only feature, so it also runs on the SQLite database of ``make run``.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from apps.common import roles
from apps.common.models import User
from apps.oncall import services
from apps.oncall.choices import ContactKind, OverrideMode, RuleUrgency, ShiftUnit, StepKind
from apps.oncall.models import ContactMethod, EscalationPolicy, NotificationRule, Override, Schedule, Team

PACIFIC = "America/Los_Angeles"
DEMO_ONCALL = "oncall"  # the demo login of the on-call engineer role (apps.common.demo)

# username, display name, job (for the description), e-mail
PEOPLE = (
    ("jordan.lee", "Jordan Lee", "on-call engineer", "jordan.lee@example.com"),
    ("maria.garcia", "Maria Garcia", "on-call engineer", "maria.garcia@example.com"),
    ("kenji.watanabe", "Kenji Watanabe", "senior engineer", "kenji.watanabe@example.com"),
    ("riley.chen", "Riley Chen", "SRE lead", "riley.chen@example.org"),
    ("morgan.patel", "Morgan Patel", "engineering manager", "morgan.patel@example.org"),
    ("taylor.kim", "Taylor Kim", "CTO", "taylor.kim@example.org"),
)
PRIMARY_TURNS = (DEMO_ONCALL, "jordan.lee", "maria.garcia", "kenji.watanabe")
SECONDARY_TURNS = ("maria.garcia", "kenji.watanabe", DEMO_ONCALL, "jordan.lee")
DEMO_EMAIL = "oli.oncall@example.com"
DEMO_SLACK = "https://hooks.slack.example.com/services/T0DEMO/B0DEMO/ecapdemo"
DEMO_SMS = "+14155550142"  # 555-0100 to 555-0199 are reserved for fiction


def _people() -> dict[str, User] | None:
    demo = User.objects.filter(username=DEMO_ONCALL).first()
    if demo is None:
        return None
    group = Group.objects.get(name=roles.ONCALL_ENGINEER)
    people = {DEMO_ONCALL: demo}
    for username, display_name, _, email in PEOPLE:
        user, created = User.objects.get_or_create(
            username=username, defaults={"display_name": display_name, "email": email, "time_zone": PACIFIC}
        )
        if created:
            user.set_unusable_password()  # people of the story, not logins: the role logins are printed by make run
            user.save(update_fields=["password"])
            user.groups.add(group)
        people[username] = user
    return people


def _monday_nine(now: datetime) -> datetime:
    """The latest Monday 09:00 Pacific at or before ``now``: the weekly hand-off and the rotations' start (on a Monday
    morning before nine, last week's, so the rotations have begun and someone is on call)."""
    tz = ZoneInfo(PACIFIC)
    today = timezone.localtime(now, tz).date()
    start = datetime.combine(today - timedelta(days=today.weekday()), time(9), tzinfo=tz)
    return start if start <= now else start - timedelta(weeks=1)


def _schedules(people: dict[str, User], team: Team, start: datetime) -> tuple[Schedule, Schedule]:
    primary = Schedule.objects.filter(name="Primary").first() or services.schedule_create(
        name="Primary",
        time_zone=PACIFIC,
        team=team,
        description="Weekly primary rotation; hands off on Mondays at 09:00 Pacific.",
        layers=[
            services.LayerIn(
                name="Weekly rotation",
                rotation_start=start,
                members=[people[u] for u in PRIMARY_TURNS],
                time_zone=PACIFIC,
                shift_length=1,
                shift_unit=ShiftUnit.WEEKS,
            )
        ],
    )
    secondary = Schedule.objects.filter(name="Secondary").first() or services.schedule_create(
        name="Secondary",
        time_zone=PACIFIC,
        team=team,
        description="Daily secondary rotation; hands off every day at 09:00 Pacific.",
        layers=[
            services.LayerIn(
                name="Daily rotation",
                rotation_start=start,
                members=[people[u] for u in SECONDARY_TURNS],
                time_zone=PACIFIC,
                shift_length=1,
                shift_unit=ShiftUnit.DAYS,
            )
        ],
    )
    return primary, secondary


def _policies(people: dict[str, User], primary: Schedule, secondary: Schedule) -> None:
    business = {
        "business_time_zone": PACIFIC,
        "business_start": time(9),
        "business_end": time(17),
        "business_weekdays": [0, 1, 2, 3, 4],
    }
    wanted = {
        "critical": dict(
            description="Level 1 (critical, SLA 5 min): primary, secondary at 5 min, SRE lead at 10, engineering "
            "manager at 15, CTO at 30; once more if still unacknowledged.",
            repeat_count=1,
            steps=[
                services.StepIn(kind=StepKind.NOTIFY_SCHEDULE, schedule=primary),
                services.StepIn(kind=StepKind.WAIT, wait_minutes=5),
                services.StepIn(kind=StepKind.NOTIFY_SCHEDULE, schedule=secondary),
                services.StepIn(kind=StepKind.WAIT, wait_minutes=5),
                services.StepIn(kind=StepKind.NOTIFY_USERS, users=[people["riley.chen"]]),
                services.StepIn(kind=StepKind.WAIT, wait_minutes=5),
                services.StepIn(kind=StepKind.NOTIFY_USERS, users=[people["morgan.patel"]]),
                services.StepIn(kind=StepKind.WAIT, wait_minutes=15),
                services.StepIn(kind=StepKind.NOTIFY_USERS, users=[people["taylor.kim"]]),
            ],
        ),
        "high": dict(
            description="Level 2 (high, SLA 15 min): primary, then the senior engineer after 15 minutes.",
            repeat_count=1,
            steps=[
                services.StepIn(kind=StepKind.NOTIFY_SCHEDULE, schedule=primary),
                services.StepIn(kind=StepKind.WAIT, wait_minutes=15),
                services.StepIn(kind=StepKind.NOTIFY_USERS, users=[people["kenji.watanabe"]]),
            ],
        ),
        "standard": dict(
            description="Level 3 (standard, SLA 60 min, no acknowledgement required): low-urgency incidents page "
            "the primary within business hours, 09:00-17:00 Monday to Friday Pacific.",
            repeat_count=0,
            steps=[services.StepIn(kind=StepKind.NOTIFY_SCHEDULE, schedule=primary)],
        ),
    }
    for name, fields in wanted.items():
        if not EscalationPolicy.objects.filter(name=name).exists():
            services.policy_create(name=name, **fields, **business)  # type: ignore[arg-type]


def _contacts(people: dict[str, User]) -> None:
    emails = {DEMO_ONCALL: DEMO_EMAIL, **{u: email for u, _, _, email in PEOPLE}}
    for username, email in emails.items():
        user = people[username]
        method = _method(user, ContactKind.EMAIL, email, "Work e-mail")
        _rule(user, method, 0)
    demo = people[DEMO_ONCALL]
    _rule(demo, _method(demo, ContactKind.SLACK, DEMO_SLACK, "#sre-pages"), 0)
    _rule(demo, _method(demo, ContactKind.SMS, DEMO_SMS, "Work phone"), 5)


def _method(user: User, kind: str, address: str, label: str) -> ContactMethod:
    # Addresses are encrypted (no lookup by value): compare the user's few methods of this kind in Python.
    for method in ContactMethod.objects.filter(user=user, kind=kind):
        if method.address == address:
            return method
    return services.contact_method_create(user=user, kind=kind, address=address, label=label)


def _rule(user: User, method: ContactMethod, delay: int) -> None:
    if not NotificationRule.objects.filter(
        contact_method=method, delay_minutes=delay, urgency=RuleUrgency.ANY
    ).exists():
        services.notification_rule_create(user=user, contact_method=method, delay_minutes=delay)


def _override(people: dict[str, User], primary: Schedule, now: datetime) -> None:
    if Override.objects.filter(schedule=primary, reason__startswith="Demo:").exists():
        return
    tz = ZoneInfo(PACIFIC)
    today = timezone.localtime(now, tz).date()
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    services.override_create(
        schedule=primary,
        user=people["jordan.lee"],
        start=datetime.combine(saturday, time(9), tzinfo=tz),
        end=datetime.combine(saturday, time(21), tzinfo=tz),
        mode=OverrideMode.REPLACE,
        reason="Demo: covering for the primary's family event",
        created_by=people[DEMO_ONCALL],
        now=now,
    )


def seed() -> list[str]:
    """Idempotent: the on-call set-up is created once; later runs add only what is missing."""
    now = timezone.now()
    with transaction.atomic():
        people = _people()
        if people is None:
            return ["oncall skipped: run create_demo_users first"]
        team = Team.objects.filter(name="SRE").first() or services.team_create(
            name="SRE", description="Site reliability: on call for the platform.", members=list(people.values())
        )
        primary, secondary = _schedules(people, team, _monday_nine(now))
        _policies(people, primary, secondary)
        _contacts(people)
        _override(people, primary, now)
    return [
        f"schedules: {', '.join(Schedule.objects.order_by('name').values_list('name', flat=True))} "
        f"({PACIFIC}); team SRE of {team.members.count()}",
        f"escalation policies: {', '.join(EscalationPolicy.objects.order_by('name').values_list('name', flat=True))}",
        f"contact methods: {ContactMethod.objects.count()}, notification rules: {NotificationRule.objects.count()}",
    ]
