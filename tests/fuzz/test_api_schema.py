"""Fuzz every operation in the OpenAPI schema (``/api/schema/``) with schemathesis, as an administrator and anonymously.

Each operation gets a bounded, derandomised set of generated requests (valid and invalid), sent in-process to the
portal's WSGI application inside the test's transaction. Every response must: not be a 5xx; if a 4xx, be the one
error format ``{"code", "detail", "fields"}`` (apps/common/api/errors.py); otherwise conform to the documented
content type, headers and response schema. (Which of schemathesis's checks are not run, and why: ``EXCLUDED_CHECKS``.)

Excluded operations: none. Nothing leaves the process: side effects (Celery tasks that start Spark jobs, page people
or send e-mail) are deferred with ``transaction.on_commit``, and the test's transaction is rolled back, never
committed, so they are never run.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.settings import spectacular_settings
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance, status_code_conformance

from apps.common.models import User
from apps.common.roles import ADMIN
from apps.common.services import api_token_create

# Generated requests per operation: enough to reach each operation's validation with valid and invalid input, few
# enough for `make test` (both identities over the whole schema take about 2 minutes on 2 cores). Anonymous requests
# are refused before any input is read, so fewer of them show as much.
MAX_EXAMPLES = 20
ANONYMOUS_MAX_EXAMPLES = 5


@pytest.fixture
def _keep_test_connection() -> Iterator[None]:
    """Requests run inside the test's transaction: stop Django closing the connection at request start and end (as
    its own test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _error_body(response: Any) -> dict[str, Any]:
    """The error as a dict: the JSON body, or, from a CSV download that failed (the audit export), the CSV's rows
    ``code,detail,field,message`` folded back into the same shape."""
    headers = {name.lower(): value for name, value in response.headers.items()}
    content_type = headers.get("content-type", [""])
    media_type = (content_type[0] if isinstance(content_type, list) else content_type).split(";")[0].strip()
    text = response.content.decode()
    if media_type == "text/csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows, text
        assert list(rows[0]) == ["code", "detail", "field", "message"], text
        fields: dict[str, list[str]] = {}
        for row in rows:
            if row["field"]:
                fields.setdefault(row["field"], []).append(row["message"])
        return {"code": rows[0]["code"], "detail": rows[0]["detail"], "fields": fields}
    assert media_type == "application/json", f"{response.status_code} answered {media_type!r}: {text[:200]!r}"
    body = json.loads(text)
    assert isinstance(body, dict), body
    return body


def error_format(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx is the one error format ``{"code": str, "detail": str, "fields": {name: [str]}}``."""
    if not 400 <= response.status_code < 500:
        return
    body = _error_body(response)
    assert set(body) == {"code", "detail", "fields"}, body
    assert isinstance(body["code"], str), body
    assert body["code"], body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    assert isinstance(body["fields"], dict), body
    assert all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in body["fields"].values()), body


CHECKS = [error_format]
# Checks not run, and why:
# - status_code_conformance: the schema documents each operation's success responses only; every error response is
#   checked by `error_format` instead (and 5xx by schemathesis's `not_a_server_error`).
# - positive_data_acceptance: a request the schema allows may still be refused with a 4xx in the error format, by
#   what a schema cannot express: references to rows that do not exist (a random UUID), cross-field rules
#   (``until`` after ``since``), taxonomy keys, IANA zone names, e-mail identities, OpenLineage's own schema.
# - negative_data_rejection: DRF and django-filter parse leniently by design (an unknown or malformed ``page_size`` is
#   ignored, ``0`` is accepted for a string, an empty filter value means "no filter"); being lenient is not a fault.
EXCLUDED_CHECKS = [status_code_conformance, positive_data_acceptance, negative_data_rejection]

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


@pytest.fixture
def admin_token(make_user: Callable[..., User]) -> str:
    """A Bearer token of a new administrator."""
    _, raw = api_token_create(user=make_user(role=ADMIN), name="fuzz")
    return raw


def _served_schema() -> dict[str, Any]:
    """What /api/schema/ serves: drf-spectacular's schema of the whole URLconf (built here, at collection, because the
    view itself needs a signed-in user and there is no database yet; ``test_fuzzed_schema_is_the_served_one`` proves
    the two are the same)."""
    return SchemaGenerator().get_schema(request=None, public=spectacular_settings.SERVE_PUBLIC)


schema = schemathesis.openapi.from_dict(json.loads(json.dumps(_served_schema(), cls=DjangoJSONEncoder)))
schema.app = WSGIHandler()
# Examples and random (valid and invalid) generation only: the coverage phase sends every boundary case of every
# parameter, hundreds per operation, which does not fit `make test`; `max_examples` bounds the rest.
schema.config.phases.coverage.enabled = False


@pytest.mark.django_db
def test_fuzzed_schema_is_the_served_one(admin_token: str) -> None:
    response = Client().get("/api/schema/?format=json", HTTP_AUTHORIZATION=f"Bearer {admin_token}")
    assert response.status_code == 200
    served = response.json()
    assert served["paths"] == schema.raw_schema["paths"]
    assert served["components"] == schema.raw_schema["components"]
    assert len(served["paths"]) > 50


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.usefixtures("_keep_test_connection")
@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_as_admin(case: Any, admin_token: str) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {admin_token}"}, additional_checks=CHECKS, excluded_checks=EXCLUDED_CHECKS
    )


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.usefixtures("_keep_test_connection")
@schema.parametrize()
@settings(FUZZ_SETTINGS, max_examples=ANONYMOUS_MAX_EXAMPLES)
def test_every_operation_anonymously(case: Any) -> None:
    case.call_and_validate(additional_checks=CHECKS, excluded_checks=EXCLUDED_CHECKS)
