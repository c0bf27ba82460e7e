"""Fixtures shared by the on-call tests: configuration through the environment layer, a recording HTTP sink for the
Slack, webhook and SMS channels, incidents and policies made with the ORM, contact methods, and ``pager``: the step
and send tasks the engine publishes, captured and run here as a worker would."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from django.test import TestCase
from django.utils import timezone

from apps.common.models import User
from apps.configuration.services import get_store
from apps.incidents.choices import IntegrationKind
from apps.incidents.models import Incident, Integration
from apps.oncall import engine, notify
from apps.oncall.choices import ContactKind, StepKind
from apps.oncall.models import (
    ContactMethod,
    Delivery,
    EscalationPolicy,
    EscalationStep,
    NotificationRule,
    Schedule,
    Team,
)
from tests.incidents.remediation.recording_server import RecordingServer

WEBHOOK_SECRET = "whsec-test-0123456789abcdef"
SMS_TOKEN = "sms-gateway-token-0123456789"


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set configuration keys through the environment layer: ``configure(**{"oncall.link_ttl_minutes": 10})``."""

    def set_values(**values: Any) -> None:
        for key, value in values.items():
            name = "ECAP_" + key.upper().replace(".", "__")
            monkeypatch.setenv(name, str(value).lower() if isinstance(value, bool) else str(value))
        get_store().invalidate()

    return set_values


@pytest.fixture
def sink(configure: Callable[..., None]) -> Iterator[RecordingServer]:
    """A local HTTP server recording every request (paths under /hook answer 200), with SMS pointed at /hook/sms."""
    server = RecordingServer()
    configure(
        **{
            "oncall.sms_gateway_url": f"{server.url}/hook/sms",
            "secrets.sms_gateway_token": SMS_TOKEN,
            "incidents.public_base_url": "https://portal.example.test",
        }
    )
    yield server
    server.close()


@dataclass
class Pager:
    """Step and send tasks the engine published, in order; ``drain()`` runs them here as a worker would."""

    steps: list[tuple[int, int]] = field(default_factory=list)
    sends: list[int] = field(default_factory=list)

    @staticmethod
    def commit() -> AbstractContextManager[Any]:
        """Run the on-commit callbacks (signals, publishes) of the block, also inside a test's transaction."""
        return TestCase.captureOnCommitCallbacks(execute=True)

    def drain(self, now: datetime | None = None) -> list[Delivery]:
        """Run every published step and send (and what they publish in turn); returns the deliveries sent."""
        sent: list[Delivery] = []
        while self.steps or self.sends:
            if self.steps:
                escalation_id, token = self.steps.pop(0)
                with self.commit():
                    engine.step_run(escalation_id=escalation_id, token=token, now=now)
                continue
            delivery_id = self.sends.pop(0)
            with self.commit():
                result = notify.delivery_send(delivery_id=delivery_id, now=now)
            if result is not None:
                sent.append(result)
        return sent


@pytest.fixture
def pager(monkeypatch: pytest.MonkeyPatch) -> Pager:
    """Capture the engine's publishes instead of sending them to the broker."""
    captured = Pager()
    monkeypatch.setattr(
        engine, "publish_step", lambda escalation_id, token, first=False: captured.steps.append((escalation_id, token))
    )
    monkeypatch.setattr(notify, "publish_send", lambda delivery_id, countdown=None: captured.sends.append(delivery_id))
    return captured


@pytest.fixture
def make_incident(db: None) -> Callable[..., Incident]:
    """A triggered incident made with the ORM (no signal is sent)."""

    def make(title: str = "PaymentProcessingFailure on payments", **fields: Any) -> Incident:
        integration, _ = Integration.objects.get_or_create(
            name="oncall-tests",
            defaults={
                "kind": IntegrationKind.ALERTMANAGER,
                "token_digest": hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
                "token_prefix": "ot_",
            },
        )
        key = f"{title}/{uuid.uuid4()}"
        now = timezone.now()
        values: dict[str, Any] = {"priority": "P1", "severity": "critical", "service": "payments", "urgency": "high"}
        values.update(fields)
        return Incident.objects.create(
            integration=integration,
            group_key=key,
            group_hash=hashlib.sha256(key.encode()).hexdigest(),
            title=title,
            triggered_at=now,
            last_alert_at=now,
            **values,
        )

    return make


Step = tuple[str, Any]


@pytest.fixture
def make_policy(db: None) -> Callable[..., EscalationPolicy]:
    """A policy from step specs: ``("users", [u1, u2])``, ``("team", team)``, ``("schedule", schedule)``,
    ``("wait", minutes)``."""

    def make(name: str = "critical", steps: list[Step] | None = None, **fields: Any) -> EscalationPolicy:
        policy = EscalationPolicy.objects.create(name=name, **fields)
        for position, (kind, value) in enumerate(steps or []):
            if kind == "users":
                step = EscalationStep.objects.create(policy=policy, position=position, kind=StepKind.NOTIFY_USERS)
                step.users.set(value)
            elif kind == "team":
                EscalationStep.objects.create(policy=policy, position=position, kind=StepKind.NOTIFY_TEAM, team=value)
            elif kind == "schedule":
                EscalationStep.objects.create(
                    policy=policy, position=position, kind=StepKind.NOTIFY_SCHEDULE, schedule=value
                )
            elif kind == "wait":
                EscalationStep.objects.create(policy=policy, position=position, kind=StepKind.WAIT, wait_minutes=value)
            else:
                raise ValueError(kind)
        return policy

    return make


@pytest.fixture
def make_contact(db: None) -> Callable[..., ContactMethod]:
    """A contact method; ``delay`` (minutes) adds a notification rule for it."""

    def make(
        user: User, kind: str, address: str, *, delay: int | None = None, urgency: str = "any", **fields: Any
    ) -> ContactMethod:
        if kind == ContactKind.WEBHOOK:
            fields.setdefault("secret", WEBHOOK_SECRET)
        method = ContactMethod.objects.create(user=user, kind=kind, address=address, label=kind, **fields)
        if delay is not None:
            NotificationRule.objects.create(user=user, contact_method=method, delay_minutes=delay, urgency=urgency)
        return method

    return make


@pytest.fixture
def make_team(db: None) -> Callable[..., Team]:
    def make(name: str, members: list[User]) -> Team:
        team = Team.objects.create(name=name)
        team.members.set(members)
        return team

    return make


@pytest.fixture
def make_schedule(db: None) -> Callable[..., Schedule]:
    def make(name: str = "primary", **fields: Any) -> Schedule:
        return Schedule.objects.create(name=name, **fields)

    return make


def deliveries(incident: Incident, **filters: Any) -> list[Delivery]:
    """The incident's deliveries, oldest first."""
    return list(Delivery.objects.filter(incident=incident, **filters).order_by("id"))


def timeline(incident: Incident) -> list[tuple[str, str]]:
    """The incident's timeline as (kind, message), oldest first."""
    return list(incident.timeline.order_by("at", "id").values_list("kind", "message"))
