"""The on-call API under /api/v1/oncall/: CRUD with nested layers and steps, personal contact methods, now and
shifts, the error shape, role rules and query counts that do not grow with the page size."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.common.models import User
from apps.common.testing import assert_queries_constant
from apps.oncall import services
from apps.oncall.choices import ContactKind, OverrideMode, ShiftUnit, StepKind
from apps.oncall.models import ContactMethod, EscalationPolicy, NotificationRule, Override, Schedule
from apps.oncall.services import LayerIn, StepIn

pytestmark = pytest.mark.django_db

BASE = "/api/v1/oncall"
LA = ZoneInfo("America/Los_Angeles")

TokenClient = Callable[..., tuple[APIClient, User]]


@pytest.fixture
def engineer(token_client: TokenClient) -> tuple[APIClient, User]:
    return token_client("oncall_engineer", username="eng")


@pytest.fixture
def people(make_user: Callable[..., User]) -> dict[str, User]:
    return {name: make_user(username=name, role="oncall_engineer") for name in ("ann", "bob", "cid")}


def layer(turns: list[str], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Weekly",
        "time_zone": "America/Los_Angeles",
        "rotation_start": "2026-03-02T09:00:00-08:00",
        "shift_length": 1,
        "shift_unit": "weeks",
        "members": turns,
    }
    body.update(changes)
    return body


def schedule_with(people: dict[str, User], name: str = "Primary") -> Schedule:
    return services.schedule_create(
        name=name,
        time_zone="America/Los_Angeles",
        layers=[
            LayerIn(
                name="Daily",
                rotation_start=datetime(2026, 1, 5, 9, tzinfo=LA),
                members=[people["ann"], people["bob"]],
                time_zone="America/Los_Angeles",
                shift_unit=ShiftUnit.DAYS,
            )
        ],
    )


def error_fields(response: Any) -> dict[str, list[str]]:
    body = response.json()
    assert set(body) == {"code", "detail", "fields"}, body
    return body["fields"]


# --- schedules --------------------------------------------------------------------------------------------------
def test_a_schedule_is_created_with_nested_layers_and_read_back(engineer, people) -> None:
    client, _ = engineer
    body = {
        "name": "Primary",
        "time_zone": "America/Los_Angeles",
        "layers": [
            layer(["ann", str(people["bob"].public_id), "ann"]),
            layer(
                ["cid"],
                name="Business hours",
                position=5,
                restrictions=[{"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}],
            ),
        ],
    }
    created = client.post(f"{BASE}/schedules/", body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert [(la["name"], la["position"], la["members"]) for la in data["layers"]] == [
        ("Business hours", 5, ["cid"]),
        ("Weekly", 0, ["ann", "bob", "ann"]),
    ]
    schedule = Schedule.objects.get(public_id=data["id"])
    assert data["ical_url"] == f"/oncall/feeds/schedule/{schedule.feed_token}.ics"
    assert client.get(f"{BASE}/schedules/{data['id']}/").json() == data


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_zone": "Pacific"}, "layers.0.time_zone"),
        ({"restrictions": [{"weekdays": [0], "start": "25:00", "end": "17:00"}]}, "layers.0.restrictions"),
        ({"members": []}, "layers.0.members"),
        ({"members": ["nobody-here"]}, "layers.0.members.0"),
        ({"shift_unit": "months"}, "layers.0.shift_unit"),
        ({"rotation_start": "next monday"}, "layers.0.rotation_start"),
    ],
)
def test_bad_layers_answer_400_naming_the_field(engineer, people, change: dict[str, Any], field: str) -> None:
    client, _ = engineer
    response = client.post(f"{BASE}/schedules/", {"name": "P", "layers": [layer(["ann"], **change)]}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert field in error_fields(response)
    assert not Schedule.objects.exists()


def test_duplicate_layer_positions_and_names_are_refused(engineer, people) -> None:
    client, _ = engineer
    body = {"name": "P", "layers": [layer(["ann"], position=1), layer(["bob"], position=1)]}
    response = client.post(f"{BASE}/schedules/", body, format="json")
    assert response.status_code == 400
    assert "layers.1.position" in error_fields(response)
    schedule_with(people, name="Taken")
    taken = client.post(f"{BASE}/schedules/", {"name": "Taken"}, format="json")
    assert taken.status_code == 400  # the unique name check of the serializer answers before the service
    assert "name" in error_fields(taken)


def test_patching_layers_replaces_them_and_other_fields_stay(engineer, people) -> None:
    client, _ = engineer
    schedule = schedule_with(people)
    response = client.patch(
        f"{BASE}/schedules/{schedule.public_id}/", {"layers": [layer(["cid"], name="New")]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert [la["name"] for la in response.json()["layers"]] == ["New"]
    assert response.json()["time_zone"] == "America/Los_Angeles"
    renamed = client.patch(f"{BASE}/schedules/{schedule.public_id}/", {"name": "Renamed"}, format="json")
    assert renamed.json()["layers"][0]["members"] == ["cid"]


def test_a_schedule_a_policy_uses_cannot_be_deleted(engineer, people) -> None:
    client, _ = engineer
    schedule = schedule_with(people)
    services.policy_create(name="critical", steps=[StepIn(kind=StepKind.NOTIFY_SCHEDULE, schedule=schedule)])
    response = client.delete(f"{BASE}/schedules/{schedule.public_id}/")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert Schedule.objects.filter(pk=schedule.pk).exists()


def test_integrators_read_and_cannot_write(token_client: TokenClient, people) -> None:
    client, _ = token_client("integrator")
    schedule_with(people)
    assert client.get(f"{BASE}/schedules/").status_code == 200
    assert client.get(f"{BASE}/now/").status_code == 200
    refused = client.post(f"{BASE}/schedules/", {"name": "Mine"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert not Schedule.objects.filter(name="Mine").exists()


def test_anonymous_callers_get_401_in_the_error_shape(api_client: APIClient) -> None:
    response = api_client.get(f"{BASE}/schedules/")
    assert response.status_code == 401
    assert set(response.json()) == {"code", "detail", "fields"}


def test_users_without_a_role_cannot_read(token_client: TokenClient) -> None:
    client, _ = token_client(None)
    assert client.get(f"{BASE}/schedules/").status_code == 403
    assert client.get(f"{BASE}/now/").status_code == 403


# --- now and shifts ---------------------------------------------------------------------------------------------
def test_now_answers_who_is_on_call_and_next_by_name_or_id(engineer, people) -> None:
    client, _ = engineer
    schedule = schedule_with(people)
    by_name = client.get(f"{BASE}/now/", {"schedule": "Primary"})
    assert by_name.status_code == 200
    (row,) = by_name.json()["results"]
    from apps.oncall.schedules import next_shifts, who_is_on_call

    now = timezone.now()
    assert row["on_call"] == [u.username for u in who_is_on_call(schedule, now)]
    assert len(row["on_call"]) == 1
    upcoming = next_shifts(schedule, now)[0]
    assert row["next"][0]["user"] == User.objects.get(pk=upcoming.user_id).username
    assert row["next"][0]["user"] != row["on_call"][0]  # a daily rotation of two alternates
    assert (row["gap"], row["next_gap"]) == (False, None)
    by_id = client.get(f"{BASE}/now/", {"schedule": str(schedule.public_id)})
    assert by_id.json()["results"][0]["schedule"]["name"] == "Primary"


def test_now_flags_a_gap_and_answers_404_for_an_unknown_schedule(engineer, people) -> None:
    client, _ = engineer
    empty = services.schedule_create(name="Empty")
    schedule_with(people)
    everything = client.get(f"{BASE}/now/").json()["results"]
    assert {r["schedule"]["name"]: r["gap"] for r in everything} == {"Empty": True, "Primary": False}
    row = next(r for r in everything if r["schedule"]["id"] == str(empty.public_id))
    assert row["on_call"] == []
    assert row["next_gap"] is not None
    missing = client.get(f"{BASE}/now/", {"schedule": "Tertiary"})
    assert missing.status_code == 404
    assert error_fields(missing) == {"schedule": ["no schedule with this id or name"]}


def test_shifts_answers_the_final_shifts_of_a_bounded_range(engineer, people) -> None:
    client, _ = engineer
    schedule = schedule_with(people)
    start = datetime(2026, 3, 2, 0, tzinfo=LA)
    override = services.override_create(
        schedule=schedule,
        user=people["cid"],
        start=datetime(2026, 3, 3, 12, tzinfo=LA),
        end=datetime(2026, 3, 3, 14, tzinfo=LA),
        now=datetime(2026, 3, 1, tzinfo=LA),
    )
    response = client.get(
        f"{BASE}/schedules/{schedule.public_id}/shifts/",
        {"start": start.isoformat(), "end": (start + timedelta(days=2)).isoformat()},
    )
    assert response.status_code == 200, response.json()
    shifts = response.json()
    assert shifts[0]["user"] in ("ann", "bob")
    assert shifts[0]["layer"] == "Daily"
    covering = [s for s in shifts if s["override"] == str(override.public_id)]
    assert [(s["user"], s["layer"]) for s in covering] == [("cid", "")]
    assert all(a["end"] <= b["start"] for a, b in pairwise(shifts))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-03-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"}, "end"),
        ({"start": "2026-03-02T00:00:00Z", "end": "2026-03-01T00:00:00Z"}, "end"),
        ({"end": "2026-03-01T00:00:00Z"}, "start"),
        ({"start": "yesterday", "end": "2026-03-01T00:00:00Z"}, "start"),
    ],
)
def test_shifts_refuses_an_unbounded_or_bad_range_clearly(engineer, people, params, field) -> None:
    client, _ = engineer
    schedule = schedule_with(people)
    response = client.get(f"{BASE}/schedules/{schedule.public_id}/shifts/", params)
    assert response.status_code == 400
    assert field in error_fields(response)


# --- overrides --------------------------------------------------------------------------------------------------
def test_an_override_is_created_by_the_caller_and_validated(engineer, people) -> None:
    client, me = engineer
    schedule = schedule_with(people)
    start = timezone.now() + timedelta(days=1)
    body = {
        "schedule": str(schedule.public_id),
        "user": "cid",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=4)).isoformat(),
        "mode": "add",
        "reason": "Shadowing",
    }
    created = client.post(f"{BASE}/overrides/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["created_by"] == me.username
    assert Override.objects.get(public_id=created.json()["id"]).user == people["cid"]

    backwards = client.post(
        f"{BASE}/overrides/", {**body, "end": (start - timedelta(hours=1)).isoformat()}, format="json"
    )
    assert backwards.status_code == 400
    assert "end" in error_fields(backwards)
    nobody = client.post(f"{BASE}/overrides/", {**body, "user": "ghost"}, format="json")
    assert nobody.status_code == 400
    assert "user" in error_fields(nobody)
    past = client.post(
        f"{BASE}/overrides/",
        {**body, "start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"},
        format="json",
    )
    assert past.status_code == 400
    assert "end" in error_fields(past)
    assert Override.objects.count() == 1

    listed = client.get(f"{BASE}/overrides/", {"schedule": str(schedule.public_id), "mode": "add"}).json()
    assert [o["id"] for o in listed["results"]] == [created.json()["id"]]
    moved = client.patch(f"{BASE}/overrides/{created.json()['id']}/", {"reason": "Pairing"}, format="json")
    assert moved.status_code == 200
    assert moved.json()["reason"] == "Pairing"
    assert client.delete(f"{BASE}/overrides/{created.json()['id']}/").status_code == 204
    assert not Override.objects.exists()


# --- escalation policies ----------------------------------------------------------------------------------------
def test_a_policy_is_created_with_its_steps(engineer, people) -> None:
    client, _ = engineer
    schedule = schedule_with(people)
    team = services.team_create(name="SRE", members=[people["ann"]])
    body = {
        "name": "critical",
        "repeat_count": 1,
        "business_time_zone": "America/Los_Angeles",
        "steps": [
            {"kind": "notify_schedule", "schedule": str(schedule.public_id)},
            {"kind": "wait", "wait_minutes": 5},
            {"kind": "notify_users", "users": ["bob", "cid"]},
            {"kind": "notify_team", "team": str(team.public_id)},
        ],
    }
    created = client.post(f"{BASE}/policies/", body, format="json")
    assert created.status_code == 201, created.json()
    steps = created.json()["steps"]
    assert [s["kind"] for s in steps] == ["notify_schedule", "wait", "notify_users", "notify_team"]
    assert steps[2]["users"] == ["bob", "cid"]
    assert steps[1]["wait_minutes"] == 5
    policy = EscalationPolicy.objects.get(name="critical")
    assert list(policy.steps.values_list("position", flat=True)) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ([{"kind": "notify_schedule"}], "steps.0.schedule"),
        ([{"kind": "notify_team"}], "steps.0.team"),
        ([{"kind": "notify_users", "users": ["ann"]}, {"kind": "wait", "wait_minutes": 0}], "steps.1.wait_minutes"),
        ([{"kind": "wait", "wait_minutes": 10}], "steps"),
        ([{"kind": "notify_users", "users": ["ghost"]}], "steps.0.users.0"),
        ([{"kind": "notify_schedule", "schedule": "6f1f7d0e-3c55-4d1e-9a57-0c2f6b1f5a11"}], "steps.0.schedule"),
        ([{"kind": "call_mum"}], "steps.0.kind"),
    ],
)
def test_bad_steps_answer_400_naming_the_step(engineer, people, steps, field) -> None:
    client, _ = engineer
    response = client.post(f"{BASE}/policies/", {"name": "p", "steps": steps}, format="json")
    assert response.status_code == 400
    assert field in error_fields(response), response.json()
    assert not EscalationPolicy.objects.exists()


def test_patching_steps_replaces_them(engineer, people) -> None:
    client, _ = engineer
    policy = services.policy_create(name="high", steps=[StepIn(kind=StepKind.NOTIFY_USERS, users=[people["ann"]])])
    response = client.patch(
        f"{BASE}/policies/{policy.public_id}/",
        {"steps": [{"kind": "notify_users", "users": ["bob"]}], "business_weekdays": [5, 6]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["steps"] == [
        {"kind": "notify_users", "users": ["bob"], "schedule": None, "team": None, "wait_minutes": 0}
    ]
    assert response.json()["business_weekdays"] == [5, 6]


# --- contact methods and rules ----------------------------------------------------------------------------------
def test_contact_addresses_and_secrets_are_write_only(engineer) -> None:
    client, me = engineer
    created = client.post(
        f"{BASE}/contact-methods/",
        {"kind": "webhook", "address": "https://hooks.example.com/ecap/me", "secret": "k" * 24, "label": "Mine"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    data = created.json()
    assert "address" not in data
    assert "secret" not in data
    assert data["address_masked"] == "https://hooks.example.com/•••"
    assert (data["has_secret"], data["user"]) == (True, me.username)
    assert "k" * 24 not in created.content.decode()
    assert "/ecap/me" not in created.content.decode()
    listed = client.get(f"{BASE}/contact-methods/")
    assert "/ecap/me" not in listed.content.decode()
    assert ContactMethod.objects.get(public_id=data["id"]).address == "https://hooks.example.com/ecap/me"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "sms", "address": "555-0142"}, "address"),
        ({"kind": "email", "address": "me-at-example"}, "address"),
        ({"kind": "slack", "address": "javascript:alert(1)"}, "address"),
        ({"kind": "webhook", "address": "https://h.example/x"}, "secret"),
        ({"kind": "pigeon", "address": "roof"}, "kind"),
    ],
)
def test_bad_contact_methods_answer_400_naming_the_field(engineer, body, field) -> None:
    client, _ = engineer
    response = client.post(f"{BASE}/contact-methods/", body, format="json")
    assert response.status_code == 400
    assert field in error_fields(response)
    assert not ContactMethod.objects.exists()


def test_people_manage_only_their_own_contact_methods_and_admins_everyones(
    engineer, token_client: TokenClient, people
) -> None:
    client, me = engineer
    ann = people["ann"]
    anns = services.contact_method_create(user=ann, kind=ContactKind.EMAIL, address="ann@example.com")
    mine = services.contact_method_create(user=me, kind=ContactKind.SMS, address="+14155550142")
    assert [m["id"] for m in client.get(f"{BASE}/contact-methods/").json()["results"]] == [str(mine.public_id)]
    assert client.get(f"{BASE}/contact-methods/{anns.public_id}/").status_code == 404
    assert client.delete(f"{BASE}/contact-methods/{anns.public_id}/").status_code == 404
    for_ann = client.post(
        f"{BASE}/contact-methods/", {"kind": "email", "address": "x@example.com", "user": "ann"}, format="json"
    )
    assert for_ann.status_code == 400
    assert "user" in error_fields(for_ann)
    kind_change = client.patch(f"{BASE}/contact-methods/{mine.public_id}/", {"kind": "email"}, format="json")
    assert kind_change.status_code == 400
    assert "kind" in error_fields(kind_change)

    admin, _ = token_client("admin", is_superuser=True)
    assert {m["id"] for m in admin.get(f"{BASE}/contact-methods/").json()["results"]} == {
        str(anns.public_id),
        str(mine.public_id),
    }
    made = admin.post(
        f"{BASE}/contact-methods/", {"kind": "email", "address": "ann2@example.org", "user": "ann"}, format="json"
    )
    assert made.status_code == 201
    assert made.json()["user"] == "ann"


def test_a_rule_must_use_the_owners_contact_method(engineer, token_client: TokenClient, people) -> None:
    client, me = engineer
    anns = services.contact_method_create(user=people["ann"], kind=ContactKind.EMAIL, address="ann@example.com")
    mine = services.contact_method_create(user=me, kind=ContactKind.EMAIL, address="eng@example.com")
    refused = client.post(
        f"{BASE}/notification-rules/", {"contact_method": str(anns.public_id), "delay_minutes": 0}, format="json"
    )
    assert refused.status_code == 400
    assert "contact_method" in error_fields(refused)
    made = client.post(
        f"{BASE}/notification-rules/",
        {"contact_method": str(mine.public_id), "delay_minutes": 5, "urgency": "high"},
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert made.json()["user"] == me.username
    again = client.post(
        f"{BASE}/notification-rules/",
        {"contact_method": str(mine.public_id), "delay_minutes": 5, "urgency": "high"},
        format="json",
    )
    assert again.status_code == 400  # the model's unique constraint, checked before the insert
    assert "non_field_errors" in error_fields(again)
    admin, _ = token_client("admin", is_superuser=True)
    for_ann = admin.post(
        f"{BASE}/notification-rules/", {"contact_method": str(anns.public_id), "delay_minutes": 10}, format="json"
    )
    assert for_ann.status_code == 201
    assert NotificationRule.objects.get(public_id=for_ann.json()["id"]).user == people["ann"]
    assert [r["user"] for r in client.get(f"{BASE}/notification-rules/").json()["results"]] == [me.username]


def test_a_test_message_is_queued_for_the_caller(engineer) -> None:
    client, me = engineer
    refused = client.post(f"{BASE}/contact-methods/test/")
    assert refused.status_code == 409
    services.contact_method_create(user=me, kind=ContactKind.EMAIL, address="eng@example.com")
    queued = client.post(f"{BASE}/contact-methods/test/")
    assert queued.status_code == 202
    assert queued.json() == {"deliveries": 1}


# --- query counts -----------------------------------------------------------------------------------------------
def _grower(kind: str, people: dict[str, User], me: User) -> Callable[[int], None]:
    counter = iter(range(10_000))

    def grow(n: int) -> None:
        for _ in range(n):
            i = next(counter)
            if kind == "schedules":
                schedule_with(people, name=f"S{i}")
            elif kind == "teams":
                services.team_create(name=f"T{i}", members=[people["ann"], people["bob"]])
            elif kind == "overrides":
                start = timezone.now() + timedelta(days=1, hours=i)
                schedule = Schedule.objects.first() or schedule_with(people)
                services.override_create(
                    schedule=schedule, user=people["cid"], start=start, end=start + timedelta(hours=1), created_by=me
                )
            elif kind == "policies":
                schedule = Schedule.objects.first() or schedule_with(people)
                services.policy_create(
                    name=f"P{i}",
                    steps=[
                        StepIn(kind=StepKind.NOTIFY_SCHEDULE, schedule=schedule),
                        StepIn(kind=StepKind.WAIT, wait_minutes=5),
                        StepIn(kind=StepKind.NOTIFY_USERS, users=[people["ann"], people["bob"]]),
                    ],
                )
            elif kind == "contact-methods":
                services.contact_method_create(user=me, kind=ContactKind.EMAIL, address=f"m{i}@example.com")
            else:
                method = services.contact_method_create(user=me, kind=ContactKind.EMAIL, address=f"r{i}@example.com")
                services.notification_rule_create(user=me, contact_method=method, delay_minutes=i % 60)

    return grow


@pytest.mark.parametrize(
    "kind", ["schedules", "teams", "overrides", "policies", "contact-methods", "notification-rules"]
)
def test_list_query_counts_do_not_grow_with_the_page(engineer, people, kind: str) -> None:
    client, me = engineer
    assert_queries_constant(lambda: client.get(f"{BASE}/{kind}/"), _grower(kind, people, me))


def test_now_for_every_schedule_takes_the_same_queries_for_many_schedules(engineer, people) -> None:
    client, me = engineer
    counter = iter(range(10_000))

    def grow(n: int) -> None:
        for _ in range(n):
            schedule = schedule_with(people, name=f"S{next(counter)}")
            start = timezone.now() - timedelta(hours=1)
            services.override_create(
                schedule=schedule,
                user=people["cid"],
                start=start,
                end=start + timedelta(hours=3),
                created_by=me,
                mode=OverrideMode.ADD,
            )

    assert_queries_constant(lambda: client.get(f"{BASE}/now/"), grow)


def test_now_for_every_schedule_agrees_with_each_schedule_read_alone(engineer, people, make_user) -> None:
    from apps.oncall.schedules import next_shifts, schedule_gaps, who_is_on_call
    from apps.oncall.selectors import oncall_now_all

    _client, me = engineer
    plain = schedule_with(people, name="Plain")
    added = schedule_with(people, name="Added")
    now = timezone.now()
    services.override_create(
        schedule=added,
        user=people["cid"],
        start=now - timedelta(hours=1),
        end=now + timedelta(hours=2),
        created_by=me,
        mode=OverrideMode.ADD,
    )
    replaced = services.schedule_create(name="Replaced")
    services.override_create(
        schedule=replaced,
        user=people["cid"],
        start=now + timedelta(days=2),
        end=now + timedelta(days=20),
        created_by=me,
    )
    empty = services.schedule_create(name="Empty")
    horizon = timedelta(days=14)
    rows = {row.schedule.name: row for row in oncall_now_all(at=now, horizon=horizon)}
    assert list(rows) == ["Added", "Empty", "Plain", "Replaced"]
    for schedule in (plain, added, replaced, empty):
        row = rows[schedule.name]
        assert row.on_call == who_is_on_call(schedule, now)
        assert [r.shift for r in row.next] == next_shifts(schedule, now, count=1)
        gaps = schedule_gaps(schedule, now, now + horizon)
        assert row.next_gap == (gaps[0] if gaps else None)
    assert [u.username for u in rows["Added"].on_call][-1] == "cid"  # added beside the rotation, listed after it
    assert rows["Replaced"].next[0].user == people["cid"]  # an 18-day shift: looked up beyond the window
    assert rows["Empty"].gap_now
    assert rows["Empty"].next == []


def test_a_null_character_in_a_schedule_or_user_reference_is_a_400_not_a_server_error(engineer, people) -> None:
    client, _ = engineer
    schedule = schedule_with(people)

    response = client.get(f"{BASE}/now/", {"schedule": "Prim\x00ary"})
    assert response.status_code == 400
    assert error_fields(response) == {"schedule": ["Null characters are not allowed."]}

    response = client.post(
        f"{BASE}/overrides/",
        {
            "schedule": str(schedule.public_id),
            "user": "ann\x00",
            "start": "2030-01-01T00:00:00Z",
            "end": "2030-01-02T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 400
    assert error_fields(response)["user"] == ["Null characters are not allowed."]  # refused as the body is read
