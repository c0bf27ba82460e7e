"""Writes of the on-call set-up: teams, schedules (layers with their turns), overrides, escalation policies (steps),
contact methods and notification rules, the personal iCal feed, and a test message to a contact method.

The public surface for pages, the API, the admin and the demo data. Every service validates its whole input and
raises ``OncallInvalid`` (a ``DomainError``) naming the fields at fault, so bad input is a 400 with
``{code, detail, fields}`` and never a 500. Changes are recorded by the audit capture of the app's models
(``apps.py``); contact addresses and webhook secrets are masked there and never logged here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from apps.common.errors import Conflict, DomainError
from apps.common.models import User, validate_time_zone
from apps.oncall.choices import ContactKind, DeliveryPurpose, OverrideMode, RuleUrgency, ShiftUnit, StepKind
from apps.oncall.models import (
    ContactMethod,
    Delivery,
    EscalationPolicy,
    EscalationStep,
    Layer,
    LayerMember,
    NotificationRule,
    Override,
    Schedule,
    Team,
)
from apps.oncall.schedules import restrictions_validate

MAX_OVERRIDE = timedelta(days=366)
MAX_LAYERS = 20
MAX_TURNS = 100
MAX_STEPS = 30
MAX_SHIFT_HOURS = 8760
MAX_WAIT_MINUTES = 24 * 60
MIN_SECRET_LENGTH = 16
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_PUNCTUATION = re.compile(r"[\s().\-]")
_URL = URLValidator(schemes=["https", "http"])


class OncallInvalid(DomainError):
    """Input the on-call set-up refuses; ``fields`` names where."""

    code = "validation_error"


def _invalid(detail: str, field_name: str, message: str | None = None) -> OncallInvalid:
    return OncallInvalid(detail, fields={field_name: [message or detail]})


def _errors_of(exc: ValidationError) -> list[str]:
    return [str(m) for m in exc.messages]


def _time_zone(value: str, field_name: str) -> str:
    try:
        validate_time_zone(value)
    except ValidationError as exc:
        raise _invalid(f"{field_name}: {_errors_of(exc)[0]}.", field_name, _errors_of(exc)[0]) from exc
    return value


def _aware(value: datetime | None, field_name: str) -> None:
    if value is not None and timezone.is_naive(value):
        raise _invalid(f"{field_name} needs a time zone offset.", field_name, "needs a time zone offset")


def _active_user(user: User | None, field_name: str) -> User:
    if user is None or not user.is_active:
        raise _invalid(f"{field_name}: no such active user.", field_name, "no such active user")
    return user


# --- contact addresses ------------------------------------------------------------------------------------------
def address_normalise(*, kind: str, address: str) -> str:
    """The address in its stored form, or ``OncallInvalid`` naming ``address``: an e-mail address for e-mail, an
    E.164 phone number for SMS (spaces, dashes, dots and brackets dropped), an http(s) URL for Slack and webhooks."""
    value = (address or "").strip()
    if not value:
        raise _invalid("The address is required.", "address", "required")
    if kind == ContactKind.EMAIL:
        try:
            validate_email(value)
        except ValidationError as exc:
            raise _invalid("Not a valid e-mail address.", "address") from exc
        local, _, domain = value.rpartition("@")
        return f"{local}@{domain.lower()}"
    if kind == ContactKind.SMS:
        phone = _PHONE_PUNCTUATION.sub("", value)
        if not E164.match(phone):
            raise _invalid("Not an E.164 phone number (e.g. +14155550142).", "address")
        return phone
    if kind in (ContactKind.SLACK, ContactKind.WEBHOOK):
        try:
            _URL(value)
        except ValidationError as exc:
            raise _invalid("Not a valid http or https URL.", "address") from exc
        return value
    raise _invalid(f"Unknown contact kind {kind!r}.", "kind", "unknown kind")


def address_mask(*, kind: str, address: str) -> str:
    """What lists show of an address: enough to recognise it, not enough to use it."""
    if not address:
        return ""
    if kind == ContactKind.EMAIL:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}•••@{domain}" if local else "•••"
    if kind == ContactKind.SMS:
        return f"{address[:2]}{'•' * max(len(address) - 6, 3)}{address[-4:]}" if len(address) > 6 else "•••"
    scheme, sep, rest = address.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}{sep}{host}/•••" if sep else "•••"


def secret_check(*, kind: str, secret: str) -> str:
    """The signing secret a method of ``kind`` keeps: webhooks need one of at least 16 characters, others none."""
    if kind == ContactKind.WEBHOOK:
        if len(secret) < MIN_SECRET_LENGTH:
            raise _invalid(
                f"A webhook needs a signing secret of at least {MIN_SECRET_LENGTH} characters.",
                "secret",
                f"at least {MIN_SECRET_LENGTH} characters",
            )
        return secret
    if secret:
        raise _invalid("Only webhooks take a signing secret.", "secret", "only for webhooks")
    return ""


def contact_method_create(
    *, user: User, kind: str, address: str, label: str = "", secret: str = "", enabled: bool = True
) -> ContactMethod:
    """Somewhere ``user`` can be paged."""
    if kind not in ContactKind.values:
        raise _invalid(f"Unknown contact kind {kind!r}.", "kind", "unknown kind")
    _active_user(user, "user")
    return ContactMethod.objects.create(
        user=user,
        kind=kind,
        label=label.strip()[:100],
        address=address_normalise(kind=kind, address=address),
        secret=secret_check(kind=kind, secret=secret),
        enabled=enabled,
    )


def contact_method_update(
    *,
    contact_method: ContactMethod,
    address: str | None = None,
    label: str | None = None,
    secret: str | None = None,
    enabled: bool | None = None,
) -> ContactMethod:
    """Change a contact method; its kind is fixed (a new kind is a new method). ``None`` keeps a value."""
    with transaction.atomic():
        method = ContactMethod.objects.select_for_update().get(pk=contact_method.pk)
        if address is not None:
            method.address = address_normalise(kind=method.kind, address=address)
        if secret is not None:
            method.secret = secret_check(kind=method.kind, secret=secret)
        if label is not None:
            method.label = label.strip()[:100]
        if enabled is not None:
            method.enabled = enabled
        method.save()
    return method


def contact_method_delete(*, contact_method: ContactMethod) -> None:
    """Remove a contact method with its rules (past deliveries go with it)."""
    contact_method.delete()


def notification_rule_create(
    *, user: User, contact_method: ContactMethod, delay_minutes: int = 0, urgency: str = RuleUrgency.ANY
) -> NotificationRule:
    """Page ``contact_method`` ``delay_minutes`` after ``user`` is notified; the method must be the user's own."""
    if contact_method.user_id != user.pk:
        raise _invalid("The contact method belongs to someone else.", "contact_method", "not yours")
    _rule_values(delay_minutes, urgency)
    try:
        with transaction.atomic():
            return NotificationRule.objects.create(
                user=user, contact_method=contact_method, delay_minutes=delay_minutes, urgency=urgency
            )
    except IntegrityError as exc:
        raise Conflict(
            "This contact method already has a rule with this delay and urgency.",
            fields={"delay_minutes": ["already has a rule"]},
        ) from exc


def notification_rule_update(
    *, rule: NotificationRule, delay_minutes: int | None = None, urgency: str | None = None
) -> NotificationRule:
    """Change a rule's delay or urgency."""
    delay = rule.delay_minutes if delay_minutes is None else delay_minutes
    level = rule.urgency if urgency is None else urgency
    _rule_values(delay, level)
    rule.delay_minutes, rule.urgency = delay, level
    try:
        with transaction.atomic():
            rule.save(update_fields=["delay_minutes", "urgency"])
    except IntegrityError as exc:
        raise Conflict(
            "This contact method already has a rule with this delay and urgency.",
            fields={"delay_minutes": ["already has a rule"]},
        ) from exc
    return rule


def _rule_values(delay_minutes: int, urgency: str) -> None:
    if not 0 <= delay_minutes <= MAX_WAIT_MINUTES:
        raise _invalid(f"The delay is 0 to {MAX_WAIT_MINUTES} minutes.", "delay_minutes", "out of range")
    if urgency not in RuleUrgency.values:
        raise _invalid(f"Unknown urgency {urgency!r}.", "urgency", "unknown urgency")


def contact_test_send(*, user: User, actor: User) -> list[Delivery]:
    """Send ``user`` a test message now, through the same notice path as hand-off notices (every enabled method but
    SMS, or SMS when it is the only one), so it also shows that throttles and channels work."""
    from apps.oncall.notify import notice_send  # the engine's module: imported late, it pulls in the channels

    if not ContactMethod.objects.filter(user=user, enabled=True).exists():
        raise Conflict("Add an enabled contact method first.", code="no_contact_method")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    return notice_send(
        user=user,
        purpose=DeliveryPurpose.TEST,
        subject="Test message from the ECAP on-call pages",
        body=f"{actor} asked for this test message. If you read it, pages reach you here too.",
        dedup_key=f"test:{user.public_id}:{stamp}",
    )


# --- teams ------------------------------------------------------------------------------------------------------
def team_create(*, name: str, description: str = "", members: Sequence[User] = ()) -> Team:
    """A team a "notify a team" step can page."""
    name = name.strip()
    if not name:
        raise _invalid("The name is required.", "name", "required")
    if Team.objects.filter(name=name).exists():
        raise Conflict(f"A team named {name!r} exists.", fields={"name": ["already exists"]})
    with transaction.atomic():
        team = Team.objects.create(name=name, description=description)
        team.members.set([_active_user(u, "members") for u in members])
    return team


def team_update(
    *, team: Team, name: str | None = None, description: str | None = None, members: Sequence[User] | None = None
) -> Team:
    """Rename, describe or re-staff a team (``None`` keeps a value)."""
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        if name is not None:
            name = name.strip()
            if not name:
                raise _invalid("The name is required.", "name", "required")
            if Team.objects.filter(name=name).exclude(pk=team.pk).exists():
                raise Conflict(f"A team named {name!r} exists.", fields={"name": ["already exists"]})
            team.name = name
        if description is not None:
            team.description = description
        team.save()
        if members is not None:
            team.members.set([_active_user(u, "members") for u in members])
    return team


def team_delete(*, team: Team) -> None:
    """Remove a team no escalation step names."""
    try:
        team.delete()
    except ProtectedError as exc:
        raise Conflict("An escalation policy step notifies this team; change the policy first.") from exc


# --- schedules --------------------------------------------------------------------------------------------------
@dataclass
class LayerIn:
    """One layer as given: the members are the turns in order (a user may appear more than once)."""

    name: str
    rotation_start: datetime
    members: list[User]
    position: int | None = None
    time_zone: str = "UTC"
    shift_length: int = 1
    shift_unit: str = ShiftUnit.WEEKS
    restrictions: list[dict[str, Any]] = field(default_factory=list)
    active_from: datetime | None = None
    active_until: datetime | None = None


def _layers_clean(layers: Sequence[LayerIn]) -> list[tuple[LayerIn, int, list[dict[str, Any]]]]:
    """Each layer with its position (its index when none is given) and its normalised restrictions."""
    if len(layers) > MAX_LAYERS:
        raise _invalid(f"At most {MAX_LAYERS} layers.", "layers", "too many")
    out: list[tuple[LayerIn, int, list[dict[str, Any]]]] = []
    seen: set[int] = set()
    for index, layer in enumerate(layers):
        where = f"layers.{index}"
        if not layer.name.strip():
            raise _invalid(f"Layer {index + 1} needs a name.", f"{where}.name", "required")
        position = index if layer.position is None else layer.position
        if not 0 <= position <= 32767:
            raise _invalid(f"Layer {index + 1}: position out of range.", f"{where}.position", "0 to 32767")
        if position in seen:
            raise _invalid(f"Two layers have position {position}.", f"{where}.position", "used by another layer")
        seen.add(position)
        _time_zone(layer.time_zone, f"{where}.time_zone")
        for name in ("rotation_start", "active_from", "active_until"):
            _aware(getattr(layer, name), f"{where}.{name}")
        if layer.shift_unit not in ShiftUnit.values:
            raise _invalid(f"Unknown shift unit {layer.shift_unit!r}.", f"{where}.shift_unit", "unknown unit")
        if not 1 <= layer.shift_length <= MAX_SHIFT_HOURS:
            raise _invalid(f"Layer {index + 1}: a shift is 1 to {MAX_SHIFT_HOURS} units long.", f"{where}.shift_length")
        if layer.active_from and layer.active_until and layer.active_until <= layer.active_from:
            raise _invalid(
                f"Layer {index + 1}: active_until must be after active_from.", f"{where}.active_until", "too early"
            )
        if not layer.members:
            raise _invalid(f"Layer {index + 1} needs at least one member.", f"{where}.members", "required")
        if len(layer.members) > MAX_TURNS:
            raise _invalid(f"Layer {index + 1}: at most {MAX_TURNS} turns.", f"{where}.members", "too many")
        for user in layer.members:
            _active_user(user, f"{where}.members")
        try:
            restrictions = restrictions_validate(layer.restrictions)
        except ValidationError as exc:
            raise _invalid(
                f"Layer {index + 1}: {'; '.join(_errors_of(exc))}", f"{where}.restrictions", "; ".join(_errors_of(exc))
            ) from exc
        out.append((layer, position, restrictions))
    return out


def _layers_write(schedule: Schedule, layers: list[tuple[LayerIn, int, list[dict[str, Any]]]]) -> None:
    schedule.layers.all().delete()  # turns go with them
    for given, position, restrictions in layers:
        layer = Layer.objects.create(
            schedule=schedule,
            name=given.name.strip()[:100],
            position=position,
            time_zone=given.time_zone,
            rotation_start=given.rotation_start,
            shift_length=given.shift_length,
            shift_unit=given.shift_unit,
            restrictions=restrictions,
            active_from=given.active_from,
            active_until=given.active_until,
        )
        LayerMember.objects.bulk_create(
            [LayerMember(layer=layer, user=user, position=turn) for turn, user in enumerate(given.members)]
        )


def _schedule_name(name: str, exclude: int | None = None) -> str:
    name = name.strip()
    if not name:
        raise _invalid("The name is required.", "name", "required")
    taken = Schedule.objects.filter(name=name)
    if (taken.exclude(pk=exclude) if exclude is not None else taken).exists():
        raise Conflict(f"A schedule named {name!r} exists.", fields={"name": ["already exists"]})
    return name


def schedule_create(
    *,
    name: str,
    time_zone: str = "UTC",
    description: str = "",
    team: Team | None = None,
    layers: Sequence[LayerIn] = (),
) -> Schedule:
    """A schedule with its layers (and their turns), all or nothing."""
    name = _schedule_name(name)
    _time_zone(time_zone, "time_zone")
    cleaned = _layers_clean(layers)
    with transaction.atomic():
        schedule = Schedule.objects.create(name=name, time_zone=time_zone, description=description, team=team)
        _layers_write(schedule, cleaned)
    return schedule


_UNSET: Any = object()


def schedule_update(
    *,
    schedule: Schedule,
    name: str | None = None,
    time_zone: str | None = None,
    description: str | None = None,
    team: Team | None = _UNSET,
    layers: Sequence[LayerIn] | None = None,
) -> Schedule:
    """Change a schedule; given ``layers`` replace all of its layers (with their turns) at once."""
    cleaned = _layers_clean(layers) if layers is not None else None
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
        if name is not None:
            schedule.name = _schedule_name(name, exclude=schedule.pk)
        if time_zone is not None:
            schedule.time_zone = _time_zone(time_zone, "time_zone")
        if description is not None:
            schedule.description = description
        if team is not _UNSET:
            schedule.team = team
        schedule.save()
        if cleaned is not None:
            _layers_write(schedule, cleaned)
    return schedule


def schedule_delete(*, schedule: Schedule) -> None:
    """Remove a schedule no escalation step names (with its layers and overrides)."""
    try:
        schedule.delete()
    except ProtectedError as exc:
        raise Conflict("An escalation policy step notifies this schedule; change the policy first.") from exc


# --- overrides --------------------------------------------------------------------------------------------------
def _override_check(user: User | None, start: datetime, end: datetime, mode: str, *, now: datetime) -> None:
    _active_user(user, "user")
    _aware(start, "start")
    _aware(end, "end")
    if end <= start:
        raise _invalid("The end must be after the start.", "end", "must be after the start")
    if end <= now:
        raise _invalid("The override would be over already.", "end", "in the past")
    if end - start > MAX_OVERRIDE:
        raise _invalid("An override lasts at most a year.", "end", "too long")
    if mode not in OverrideMode.values:
        raise _invalid(f"Unknown mode {mode!r}.", "mode", "unknown mode")


def override_create(
    *,
    schedule: Schedule,
    user: User,
    start: datetime,
    end: datetime,
    mode: str = OverrideMode.REPLACE,
    reason: str = "",
    created_by: User | None = None,
    now: datetime | None = None,
) -> Override:
    """``user`` on call on ``schedule`` for [start, end), instead of (replace) or beside (add) the layers' user."""
    _override_check(user, start, end, mode, now=now or timezone.now())
    return Override.objects.create(
        schedule=schedule,
        user=user,
        start=start,
        end=end,
        mode=mode,
        reason=reason.strip()[:200],
        created_by=created_by,
    )


def override_update(
    *,
    override: Override,
    user: User | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    mode: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Override:
    """Change an override (``None`` keeps a value)."""
    with transaction.atomic():
        found = Override.objects.select_for_update().select_related("user").get(pk=override.pk)
        found.user = user or found.user
        found.start, found.end = start or found.start, end or found.end
        found.mode = mode or found.mode
        if reason is not None:
            found.reason = reason.strip()[:200]
        _override_check(found.user, found.start, found.end, found.mode, now=now or timezone.now())
        found.save()
    return found


def override_delete(*, override: Override) -> None:
    """Remove an override: the layers decide again for its time."""
    override.delete()


# --- escalation policies ----------------------------------------------------------------------------------------
@dataclass
class StepIn:
    """One step as given; only the target of its kind may be set."""

    kind: str
    users: list[User] = field(default_factory=list)
    schedule: Schedule | None = None
    team: Team | None = None
    wait_minutes: int = 0


NOTIFY_KINDS = (StepKind.NOTIFY_USERS, StepKind.NOTIFY_SCHEDULE, StepKind.NOTIFY_TEAM)


def _steps_clean(steps: Sequence[StepIn]) -> None:
    if not steps:
        raise _invalid("A policy needs at least one step.", "steps", "required")
    if len(steps) > MAX_STEPS:
        raise _invalid(f"At most {MAX_STEPS} steps.", "steps", "too many")
    for index, step in enumerate(steps):
        where, n = f"steps.{index}", index + 1
        if step.kind not in StepKind.values:
            raise _invalid(f"Step {n}: unknown kind {step.kind!r}.", f"{where}.kind", "unknown kind")
        if step.kind == StepKind.WAIT:
            if not 0 < step.wait_minutes <= MAX_WAIT_MINUTES:
                raise _invalid(
                    f"Step {n}: a wait lasts 1 to {MAX_WAIT_MINUTES} minutes.", f"{where}.wait_minutes", "1 to 1440"
                )
        elif step.wait_minutes:
            raise _invalid(f"Step {n}: only wait steps take minutes.", f"{where}.wait_minutes", "only for wait")
        if step.kind == StepKind.NOTIFY_USERS:
            if not step.users:
                raise _invalid(f"Step {n}: name at least one user to notify.", f"{where}.users", "required")
            for user in step.users:
                _active_user(user, f"{where}.users")
        elif step.users:
            raise _invalid(f"Step {n}: only notify_users steps name users.", f"{where}.users", "only for notify_users")
        if step.kind == StepKind.NOTIFY_SCHEDULE and step.schedule is None:
            raise _invalid(f"Step {n}: name the schedule to notify.", f"{where}.schedule", "required")
        if step.kind != StepKind.NOTIFY_SCHEDULE and step.schedule is not None:
            raise _invalid(
                f"Step {n}: only notify_schedule steps name a schedule.",
                f"{where}.schedule",
                "only for notify_schedule",
            )
        if step.kind == StepKind.NOTIFY_TEAM and step.team is None:
            raise _invalid(f"Step {n}: name the team to notify.", f"{where}.team", "required")
        if step.kind != StepKind.NOTIFY_TEAM and step.team is not None:
            raise _invalid(f"Step {n}: only notify_team steps name a team.", f"{where}.team", "only for notify_team")
    if not any(step.kind in NOTIFY_KINDS for step in steps):
        raise _invalid("A policy needs at least one step that notifies someone.", "steps", "no notify step")


def _business_clean(start: time, end: time, weekdays: Any, time_zone: str) -> list[int]:
    _time_zone(time_zone, "business_time_zone")
    if end <= start:
        raise _invalid("Business hours must end after they start.", "business_end", "must be after the start")
    if (
        not isinstance(weekdays, list | tuple)
        or not weekdays
        or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in weekdays)
    ):
        raise _invalid("Business days are weekday numbers 0 (Monday) to 6.", "business_weekdays", "0 to 6")
    return sorted(set(weekdays))


def _steps_write(policy: EscalationPolicy, steps: Sequence[StepIn]) -> None:
    policy.steps.all().delete()
    for position, given in enumerate(steps):
        step = EscalationStep.objects.create(
            policy=policy,
            position=position,
            kind=given.kind,
            schedule=given.schedule,
            team=given.team,
            wait_minutes=given.wait_minutes,
        )
        if given.users:
            step.users.set(given.users)


def _policy_name(name: str, exclude: int | None = None) -> str:
    name = name.strip()
    if not name:
        raise _invalid("The name is required.", "name", "required")
    taken = EscalationPolicy.objects.filter(name=name)
    if (taken.exclude(pk=exclude) if exclude is not None else taken).exists():
        raise Conflict(f"An escalation policy named {name!r} exists.", fields={"name": ["already exists"]})
    return name


def _repeat(repeat_count: int) -> int:
    if not 0 <= repeat_count <= 9:
        raise _invalid("A policy repeats 0 to 9 times.", "repeat_count", "0 to 9")
    return repeat_count


def policy_create(
    *,
    name: str,
    steps: Sequence[StepIn],
    description: str = "",
    repeat_count: int = 0,
    business_time_zone: str = "UTC",
    business_start: time = time(9),
    business_end: time = time(17),
    business_weekdays: Sequence[int] = (0, 1, 2, 3, 4),
) -> EscalationPolicy:
    """An escalation policy (the name incidents refer to) with its ordered steps."""
    name = _policy_name(name)
    _steps_clean(steps)
    weekdays = _business_clean(business_start, business_end, list(business_weekdays), business_time_zone)
    with transaction.atomic():
        policy = EscalationPolicy.objects.create(
            name=name,
            description=description,
            repeat_count=_repeat(repeat_count),
            business_time_zone=business_time_zone,
            business_start=business_start,
            business_end=business_end,
            business_weekdays=weekdays,
        )
        _steps_write(policy, steps)
    return policy


def policy_update(
    *, policy: EscalationPolicy, steps: Sequence[StepIn] | None = None, **changes: Any
) -> EscalationPolicy:
    """Change a policy; given ``steps`` replace all of them. Running escalations keep their snapshot."""
    allowed = {
        "name", "description", "repeat_count", "business_time_zone", "business_start", "business_end",
        "business_weekdays",
    }  # fmt: skip
    unknown = set(changes) - allowed
    if unknown:
        raise OncallInvalid(f"Unknown fields: {', '.join(sorted(unknown))}.", fields={n: ["unknown"] for n in unknown})
    if steps is not None:
        _steps_clean(steps)
    with transaction.atomic():
        policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
        if "name" in changes:
            policy.name = _policy_name(changes["name"], exclude=policy.pk)
        if "description" in changes:
            policy.description = changes["description"]
        if "repeat_count" in changes:
            policy.repeat_count = _repeat(changes["repeat_count"])
        for key in ("business_time_zone", "business_start", "business_end", "business_weekdays"):
            if key in changes:
                setattr(policy, key, changes[key])
        policy.business_weekdays = _business_clean(
            _as_time(policy.business_start),
            _as_time(policy.business_end),
            list(policy.business_weekdays),
            policy.business_time_zone,
        )
        policy.save()
        if steps is not None:
            _steps_write(policy, steps)
    return policy


def _as_time(value: time | str) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


def policy_delete(*, policy: EscalationPolicy) -> None:
    """Remove a policy (running escalations keep their snapshot)."""
    policy.delete()
