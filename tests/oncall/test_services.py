"""The on-call set-up services: every write validates its whole input and names the field at fault."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.common.errors import Conflict, DomainError
from apps.common.models import User
from apps.oncall import services
from apps.oncall.choices import ContactKind, DeliveryPurpose, OverrideMode, ShiftUnit, StepKind
from apps.oncall.models import Delivery, EscalationPolicy, Layer, NotificationRule, Schedule
from apps.oncall.schedules import who_is_on_call
from apps.oncall.services import LayerIn, StepIn

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")


def fields_of(exc: pytest.ExceptionInfo[DomainError]) -> dict[str, list[str]]:
    return exc.value.fields


def weekly(people: list[User], **changes: object) -> LayerIn:
    values: dict[str, object] = {
        "name": "Weekly",
        "rotation_start": datetime(2026, 1, 5, 9, tzinfo=LA),
        "members": people,
        "time_zone": "America/Los_Angeles",
        "shift_unit": ShiftUnit.WEEKS,
    }
    values.update(changes)
    return LayerIn(**values)  # type: ignore[arg-type]


@pytest.fixture
def ann(make_user: Callable[..., User]) -> User:
    return make_user(username="ann", role="oncall_engineer")


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user(username="bob", role="oncall_engineer")


# --- addresses --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "given", "stored"),
    [
        (ContactKind.EMAIL, " Oli.Oncall@Example.COM ", "Oli.Oncall@example.com"),
        (ContactKind.SMS, "+1 (415) 555-0142", "+14155550142"),
        (ContactKind.SMS, "+351 912.345.678", "+351912345678"),
        (
            ContactKind.SLACK,
            "https://hooks.slack.example.com/services/T0/B0/x",
            "https://hooks.slack.example.com/services/T0/B0/x",
        ),
        (ContactKind.WEBHOOK, "http://127.0.0.1:8080/hook", "http://127.0.0.1:8080/hook"),
    ],
)
def test_addresses_are_normalised_by_kind(kind: str, given: str, stored: str) -> None:
    assert services.address_normalise(kind=kind, address=given) == stored


@pytest.mark.parametrize(
    ("kind", "given"),
    [
        (ContactKind.EMAIL, "not-an-address"),
        (ContactKind.SMS, "4155550142"),  # no country code
        (ContactKind.SMS, "+0123456789"),
        (ContactKind.SMS, "+1415555014212345678"),
        (ContactKind.SLACK, "ftp://hooks.example.com/x"),
        (ContactKind.WEBHOOK, "hooks.example.com/x"),
        (ContactKind.EMAIL, "   "),
    ],
)
def test_bad_addresses_are_refused_naming_the_address(kind: str, given: str) -> None:
    with pytest.raises(DomainError) as exc:
        services.address_normalise(kind=kind, address=given)
    assert list(fields_of(exc)) == ["address"]
    assert exc.value.status == 400


def test_masks_keep_enough_to_recognise_and_not_enough_to_use() -> None:
    assert services.address_mask(kind=ContactKind.SMS, address="+14155554567") == "+1••••••4567"
    assert services.address_mask(kind=ContactKind.EMAIL, address="oli@example.com") == "o•••@example.com"
    assert (
        services.address_mask(kind=ContactKind.SLACK, address="https://hooks.slack.example.com/services/T0/B0/secret")
        == "https://hooks.slack.example.com/•••"
    )
    assert "secret" not in services.address_mask(kind=ContactKind.WEBHOOK, address="https://u:secret@h.example/p")


def test_a_webhook_needs_a_long_secret_and_other_kinds_take_none(ann: User) -> None:
    with pytest.raises(DomainError) as exc:
        services.contact_method_create(
            user=ann, kind=ContactKind.WEBHOOK, address="https://h.example/x", secret="short"
        )
    assert list(fields_of(exc)) == ["secret"]
    with pytest.raises(DomainError) as exc:
        services.contact_method_create(user=ann, kind=ContactKind.EMAIL, address="a@example.com", secret="x" * 20)
    assert list(fields_of(exc)) == ["secret"]
    hook = services.contact_method_create(
        user=ann, kind=ContactKind.WEBHOOK, address="https://h.example/x", secret="s" * 16
    )
    assert hook.secret == "s" * 16


def test_updating_a_contact_method_revalidates_the_address_by_its_kind(ann: User) -> None:
    sms = services.contact_method_create(user=ann, kind=ContactKind.SMS, address="+14155550100")
    with pytest.raises(DomainError):
        services.contact_method_update(contact_method=sms, address="ann@example.com")
    done = services.contact_method_update(contact_method=sms, address="+1 415 555 0199", enabled=False)
    assert (done.address, done.enabled) == ("+14155550199", False)


def test_a_rule_must_use_the_users_own_contact_method_and_is_unique(ann: User, bob: User) -> None:
    bobs = services.contact_method_create(user=bob, kind=ContactKind.EMAIL, address="bob@example.com")
    with pytest.raises(DomainError) as exc:
        services.notification_rule_create(user=ann, contact_method=bobs, delay_minutes=0)
    assert list(fields_of(exc)) == ["contact_method"]
    services.notification_rule_create(user=bob, contact_method=bobs, delay_minutes=5)
    with pytest.raises(Conflict):
        services.notification_rule_create(user=bob, contact_method=bobs, delay_minutes=5)
    with pytest.raises(DomainError) as exc:
        services.notification_rule_create(user=bob, contact_method=bobs, delay_minutes=-1)
    assert list(fields_of(exc)) == ["delay_minutes"]
    assert NotificationRule.objects.filter(user=bob).count() == 1


def test_a_test_message_goes_to_every_enabled_method_but_sms_when_there_is_another(ann: User) -> None:
    email = services.contact_method_create(user=ann, kind=ContactKind.EMAIL, address="ann@example.com")
    services.contact_method_create(user=ann, kind=ContactKind.SMS, address="+14155550142")
    services.contact_method_create(user=ann, kind=ContactKind.SLACK, address="https://h.example/s", enabled=False)
    sent = services.contact_test_send(user=ann, actor=ann)
    assert [(d.purpose, d.contact_method_id) for d in sent] == [(DeliveryPurpose.TEST, email.pk)]
    assert "Test message" in sent[0].payload["subject"]


def test_a_test_message_without_any_enabled_method_is_refused(ann: User) -> None:
    with pytest.raises(Conflict):
        services.contact_test_send(user=ann, actor=ann)
    assert not Delivery.objects.exists()


# --- schedules --------------------------------------------------------------------------------------------------
def test_a_schedule_is_created_with_its_layers_and_turns_in_order(ann: User, bob: User) -> None:
    schedule = services.schedule_create(
        name="Primary",
        time_zone="America/Los_Angeles",
        layers=[
            weekly([ann, bob, ann]),
            weekly(
                [bob], name="Business hours", restrictions=[{"weekdays": [4, 0, 0], "start": "09:00", "end": "17:00"}]
            ),
        ],
    )
    layers = list(schedule.layers.order_by("position"))
    assert [(la.name, la.position) for la in layers] == [("Weekly", 0), ("Business hours", 1)]
    assert list(layers[0].turns.order_by("position").values_list("user__username", flat=True)) == ["ann", "bob", "ann"]
    assert layers[1].restrictions == [{"weekdays": [0, 4], "start": "09:00", "end": "17:00"}]
    # The higher layer decides on Mondays and Fridays 09-17; on a Tuesday only the weekly rotation covers.
    assert who_is_on_call(schedule, datetime(2026, 1, 5, 10, tzinfo=LA)) == [bob]
    assert who_is_on_call(schedule, datetime(2026, 1, 6, 10, tzinfo=LA)) == [ann]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "layers.0.time_zone"),
        ({"restrictions": [{"weekdays": [7], "start": "09:00", "end": "17:00"}]}, "layers.0.restrictions"),
        ({"restrictions": "weekdays"}, "layers.0.restrictions"),
        ({"members": []}, "layers.0.members"),
        ({"shift_length": 0}, "layers.0.shift_length"),
        ({"shift_unit": "fortnights"}, "layers.0.shift_unit"),
        ({"rotation_start": datetime(2026, 1, 5, 9)}, "layers.0.rotation_start"),  # noqa: DTZ001 - naive on purpose
        (
            {"active_from": datetime(2026, 2, 1, tzinfo=LA), "active_until": datetime(2026, 1, 1, tzinfo=LA)},
            "layers.0.active_until",
        ),
    ],
)
def test_bad_layers_are_refused_naming_the_layer_field(ann: User, change: dict[str, object], field: str) -> None:
    with pytest.raises(DomainError) as exc:
        services.schedule_create(name="Primary", layers=[weekly([ann], **change)])
    assert list(fields_of(exc)) == [field]
    assert not Schedule.objects.exists()


def test_two_layers_at_one_position_and_a_bad_zone_are_refused(ann: User) -> None:
    with pytest.raises(DomainError) as exc:
        services.schedule_create(name="P", layers=[weekly([ann], position=3), weekly([ann], position=3)])
    assert list(fields_of(exc)) == ["layers.1.position"]
    with pytest.raises(DomainError) as exc:
        services.schedule_create(name="P", time_zone="Pacific Time")
    assert list(fields_of(exc)) == ["time_zone"]


def test_an_inactive_user_cannot_take_a_turn(ann: User, bob: User) -> None:
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    with pytest.raises(DomainError) as exc:
        services.schedule_create(name="P", layers=[weekly([ann, bob])])
    assert list(fields_of(exc)) == ["layers.0.members"]


def test_schedule_names_are_unique(ann: User) -> None:
    services.schedule_create(name="Primary")
    with pytest.raises(Conflict) as exc:
        services.schedule_create(name=" Primary ")
    assert exc.value.status == 409


def test_updating_layers_replaces_all_of_them_and_keeps_the_rest(ann: User, bob: User) -> None:
    schedule = services.schedule_create(name="P", description="kept", layers=[weekly([ann]), weekly([bob], name="2")])
    services.schedule_update(schedule=schedule, layers=[weekly([bob, ann], name="Only")])
    schedule.refresh_from_db()
    assert schedule.description == "kept"
    assert list(Layer.objects.filter(schedule=schedule).values_list("name", flat=True)) == ["Only"]
    services.schedule_update(schedule=schedule, name="Renamed")
    assert Layer.objects.filter(schedule=schedule).count() == 1


def test_a_schedule_a_policy_notifies_cannot_be_deleted(ann: User) -> None:
    schedule = services.schedule_create(name="P", layers=[weekly([ann])])
    services.policy_create(name="critical", steps=[StepIn(kind=StepKind.NOTIFY_SCHEDULE, schedule=schedule)])
    with pytest.raises(Conflict):
        services.schedule_delete(schedule=schedule)
    assert Schedule.objects.filter(pk=schedule.pk).exists()


# --- overrides --------------------------------------------------------------------------------------------------
def test_an_override_puts_its_user_on_call(ann: User, bob: User) -> None:
    schedule = services.schedule_create(name="P", layers=[weekly([ann])])
    start = timezone.now() + timedelta(hours=1)
    services.override_create(schedule=schedule, user=bob, start=start, end=start + timedelta(hours=2), created_by=ann)
    assert who_is_on_call(schedule, start + timedelta(minutes=30)) == [bob]
    assert who_is_on_call(schedule, start + timedelta(hours=3)) == [ann]


@pytest.mark.parametrize(
    ("start", "end", "mode", "field"),
    [
        (timedelta(hours=2), timedelta(hours=1), OverrideMode.REPLACE, "end"),
        (timedelta(hours=2), timedelta(hours=2), OverrideMode.REPLACE, "end"),
        (timedelta(hours=-3), timedelta(hours=-1), OverrideMode.REPLACE, "end"),
        (timedelta(hours=1), timedelta(days=400), OverrideMode.REPLACE, "end"),
        (timedelta(hours=1), timedelta(hours=2), "instead", "mode"),
    ],
)
def test_bad_overrides_are_refused(ann: User, start: timedelta, end: timedelta, mode: str, field: str) -> None:
    schedule = services.schedule_create(name="P")
    now = timezone.now()
    with pytest.raises(DomainError) as exc:
        services.override_create(schedule=schedule, user=ann, start=now + start, end=now + end, mode=mode)
    assert list(fields_of(exc)) == [field]


def test_an_override_for_an_inactive_user_is_refused(ann: User) -> None:
    schedule = services.schedule_create(name="P")
    ann.is_active = False
    ann.save(update_fields=["is_active"])
    now = timezone.now()
    with pytest.raises(DomainError) as exc:
        services.override_create(schedule=schedule, user=ann, start=now, end=now + timedelta(hours=1))
    assert list(fields_of(exc)) == ["user"]


# --- escalation policies ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ([StepIn(kind=StepKind.NOTIFY_SCHEDULE)], "steps.0.schedule"),
        ([StepIn(kind=StepKind.NOTIFY_TEAM)], "steps.0.team"),
        ([StepIn(kind=StepKind.NOTIFY_USERS)], "steps.0.users"),
        ([StepIn(kind="page_everyone")], "steps.0.kind"),
        ([StepIn(kind=StepKind.WAIT, wait_minutes=5)], "steps"),
        ([], "steps"),
    ],
)
def test_steps_are_checked_by_kind(steps: list[StepIn], field: str) -> None:
    with pytest.raises(DomainError) as exc:
        services.policy_create(name="p", steps=steps)
    assert list(fields_of(exc)) == [field]
    assert not EscalationPolicy.objects.exists()


def test_a_wait_needs_minutes_and_only_a_wait_takes_them(ann: User) -> None:
    notify = StepIn(kind=StepKind.NOTIFY_USERS, users=[ann])
    with pytest.raises(DomainError) as exc:
        services.policy_create(name="p", steps=[notify, StepIn(kind=StepKind.WAIT, wait_minutes=0)])
    assert list(fields_of(exc)) == ["steps.1.wait_minutes"]
    with pytest.raises(DomainError) as exc:
        services.policy_create(name="p", steps=[StepIn(kind=StepKind.NOTIFY_USERS, users=[ann], wait_minutes=3)])
    assert list(fields_of(exc)) == ["steps.0.wait_minutes"]


def test_a_step_may_name_only_the_target_of_its_kind(ann: User) -> None:
    schedule = services.schedule_create(name="P")
    with pytest.raises(DomainError) as exc:
        services.policy_create(name="p", steps=[StepIn(kind=StepKind.NOTIFY_USERS, users=[ann], schedule=schedule)])
    assert list(fields_of(exc)) == ["steps.0.schedule"]


def test_business_hours_are_checked(ann: User) -> None:
    steps = [StepIn(kind=StepKind.NOTIFY_USERS, users=[ann])]
    with pytest.raises(DomainError) as exc:
        services.policy_create(name="p", steps=steps, business_start=time(17), business_end=time(9))
    assert list(fields_of(exc)) == ["business_end"]
    with pytest.raises(DomainError) as exc:
        services.policy_create(name="p", steps=steps, business_weekdays=[0, 7])
    assert list(fields_of(exc)) == ["business_weekdays"]
    with pytest.raises(DomainError) as exc:
        services.policy_create(name="p", steps=steps, repeat_count=10)
    assert list(fields_of(exc)) == ["repeat_count"]


def test_a_policy_is_stored_with_its_steps_in_order_and_updates_replace_them(ann: User, bob: User) -> None:
    team = services.team_create(name="SRE", members=[ann, bob])
    policy = services.policy_create(
        name="critical",
        repeat_count=1,
        business_weekdays=[4, 0, 0],
        steps=[
            StepIn(kind=StepKind.NOTIFY_USERS, users=[ann]),
            StepIn(kind=StepKind.WAIT, wait_minutes=5),
            StepIn(kind=StepKind.NOTIFY_TEAM, team=team),
        ],
    )
    assert policy.business_weekdays == [0, 4]
    assert list(policy.steps.values_list("position", "kind")) == [
        (0, StepKind.NOTIFY_USERS), (1, StepKind.WAIT), (2, StepKind.NOTIFY_TEAM),
    ]  # fmt: skip
    services.policy_update(policy=policy, steps=[StepIn(kind=StepKind.NOTIFY_USERS, users=[bob])], repeat_count=0)
    policy.refresh_from_db()
    assert policy.repeat_count == 0
    assert [list(s.users.all()) for s in policy.steps.all()] == [[bob]]
    with pytest.raises(Conflict):
        services.policy_create(name="critical", steps=[StepIn(kind=StepKind.NOTIFY_TEAM, team=team)])


def test_a_team_a_policy_notifies_cannot_be_deleted(ann: User) -> None:
    team = services.team_create(name="SRE", members=[ann])
    services.policy_create(name="p", steps=[StepIn(kind=StepKind.NOTIFY_TEAM, team=team)])
    with pytest.raises(Conflict):
        services.team_delete(team=team)
    with pytest.raises(Conflict):
        services.team_create(name="SRE")
