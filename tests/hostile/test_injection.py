"""Injection attempts are refused or come out literally:

- a custom quality predicate is one boolean expression: a second statement, a comment, a subquery, or a call of the
  reflection functions (also spelled with a quoted name) is refused with 400 ``rule_invalid`` on ``params``;
- regular expressions that can backtrack catastrophically (``(a+)+$``) are refused wherever they are accepted
  (quality regex rules, alert matchers of classification rules and runbooks), as are patterns the compiler chokes on;
- Django template syntax in alert titles, labels, runbooks and the pages sent to responders is shown literally, never
  evaluated (the secret key never appears); label templates of remediation targets allow plain ``{label}`` only;
- catalog search with tsquery operators, quotes and SQL fragments answers 200 with sane results, never a 500;
- alert labels with huge, empty or odd keys are refused or stored verbatim, naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from apps.catalog.models import Dataset
from apps.catalog.services import dataset_upsert
from apps.common.models import User
from apps.incidents.matchers import MatcherError, parse_matchers, render_template, validate_template
from apps.incidents.models import AlertPayload, ClassificationRule, Incident, Runbook
from apps.incidents.services import payloads_sweep
from apps.oncall.choices import ContactKind
from apps.oncall.models import Delivery
from apps.oncall.notify import page_message
from apps.quality.models import QualityRule
from tests.hostile.conftest import assert_error

pytestmark = pytest.mark.django_db

RULES = "/api/v1/quality/rules/"
TEMPLATE_ATTACK = "{{ settings.SECRET_KEY }} {% debug %} {{ 7|add:42 }}"


def rule_body(dataset: Dataset, kind: str, params: dict[str, Any], columns: list[str] | None = None) -> dict[str, Any]:
    return {
        "dataset": str(dataset.public_id),
        "name": f"hostile-{QualityRule.objects.count()}",
        "kind": kind,
        "columns": columns or [],
        "params": params,
        "fail_threshold": 0.0,
    }


# --- quality predicates --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "expression",
    [
        "1=1; DROP TABLE orders",
        "'; --",
        "total_amount > 0 -- and the rest is ignored",
        "total_amount > 0 /* comment */",
        "order_id IN (SELECT order_id FROM raw.orders)",
        "EXISTS (SELECT 1)",
        "sElEcT 1",
        "reflect('java.lang.Runtime', 'getRuntime') IS NOT NULL",
        "java_method('java.lang.System', 'exit', 0) = 0",
        "`reflect`('java.lang.Runtime', 'getRuntime') IS NOT NULL",
        "`Java_Method` ('java.lang.System', 'exit', 0) = 0",
        "`system`.`builtin`.`try_reflect`('java.lang.Runtime', 'getRuntime') IS NULL",
    ],
)
def test_custom_predicates_that_are_not_one_expression_are_refused(
    expression: str, admin_api: APIClient, lake_datasets: dict[str, Dataset]
) -> None:
    response = admin_api.post(RULES, rule_body(lake_datasets["raw/orders"], "custom", {"expression": expression}))
    assert_error(response, 400, "rule_invalid", "params")
    assert not QualityRule.objects.exists()


def test_statement_words_inside_string_literals_or_quoted_columns_are_only_data(
    admin_api: APIClient, lake_datasets: dict[str, Dataset]
) -> None:
    expression = "status <> 'x; DROP TABLE orders -- /*' AND `total_amount` >= 0"
    response = admin_api.post(RULES, rule_body(lake_datasets["raw/orders"], "custom", {"expression": expression}))
    assert response.status_code == 201, response.content
    assert QualityRule.objects.get().params == {"expression": expression}


# --- regular expressions -------------------------------------------------------------------------------------------
CATASTROPHIC = ["(a+)+$", "(a*)*b", "^(\\w+\\s?)*$", "(x+x+)+y", "((ab)*c?)+$", "(?:[a-z]+\\.?){2,}@"]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_regex_in_a_quality_rule_is_refused(
    pattern: str, admin_api: APIClient, lake_datasets: dict[str, Dataset]
) -> None:
    body = rule_body(lake_datasets["raw/customers"], "regex", {"pattern": pattern}, ["email"])
    response = admin_api.post(RULES, body)
    error = assert_error(response, 400, "rule_invalid", "params")
    assert "nested quantifiers" in error["fields"]["params"][0]


@pytest.mark.parametrize("pattern", ["(" * 5000 + ")" * 5000, "a{99999999999}", "[z-a]", "(?P<x"])
def test_regex_the_compiler_chokes_on_is_400_not_500(
    pattern: str, admin_api: APIClient, lake_datasets: dict[str, Dataset]
) -> None:
    body = rule_body(lake_datasets["raw/customers"], "regex", {"pattern": pattern}, ["email"])
    error = assert_error(admin_api.post(RULES, body), 400, "rule_invalid", "params")
    assert "regular expression" in error["fields"]["params"][0]


def test_ordinary_regex_rules_are_still_accepted(admin_api: APIClient, lake_datasets: dict[str, Dataset]) -> None:
    for pattern in ("^[^@]+@[^@]+$", "^(\\d{1,3}\\.){3}\\d{1,3}$", "^(GB|FR|DE)[0-9]+$", "(?>a+)+b"):
        body = rule_body(lake_datasets["raw/customers"], "regex", {"pattern": pattern}, ["email"])
        assert admin_api.post(RULES, body).status_code == 201, pattern


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_regex_in_alert_matchers_is_refused(pattern: str, admin_api: APIClient) -> None:
    matcher = 'service=~"' + pattern.replace("\\", "\\\\") + '"'
    response = admin_api.post(
        "/api/v1/incidents/classification-rules/",
        {"name": "hostile", "matchers": matcher, "severity": "critical", "priority": "P1"},
        format="json",
    )
    error = assert_error(response, 400, "validation_error", "matchers")
    assert "nested quantifiers" in error["fields"]["matchers"][0]
    response = admin_api.post(
        "/api/v1/incidents/runbooks/",
        {"slug": "hostile", "title": "t", "matchers": matcher, "body": "x"},
        format="json",
    )
    assert_error(response, 400, "validation_error", "matchers")
    assert not ClassificationRule.objects.filter(name="hostile").exists()
    assert not Runbook.objects.filter(slug="hostile").exists()


def test_matchers_refuse_unbounded_or_broken_patterns_and_keep_good_ones() -> None:
    for text in ('a=~"' + "(" * 300 + ")" * 300 + '"', 'a=~"x{99999999999}"', 'a=~"' + "x" * 501 + '"'):
        with pytest.raises(MatcherError):
            parse_matchers(text)
    (matcher,) = parse_matchers('service=~"api|payments-(eu|us)"')
    assert matcher.matches({"service": "payments-eu"})
    assert not matcher.matches({"service": "payments-asia"})


# --- template syntax -----------------------------------------------------------------------------------------------
@pytest.fixture
def attacked_incident(client: Client, webhook_url: str) -> Incident:
    """An incident from a webhook delivery whose title and labels are template syntax."""
    delivery = {
        "title": TEMPLATE_ATTACK,
        "severity": "critical",
        "description": "{% load static %}{% include 'portal/base.html' %}",
        "labels": {"service": "{{ request.user.password }}", "{{ 7|add:42 }}": "{% now 'Y' %}"},
        "dedup_key": "hostile-template",
    }
    response = client.post(webhook_url, data=json.dumps(delivery), content_type="application/json")
    assert response.status_code == 202, response.content
    payloads_sweep(older_than=timedelta(seconds=-1))
    return Incident.objects.get()


def test_template_syntax_in_titles_and_labels_is_stored_and_shown_literally(
    attacked_incident: Incident, make_user: Callable[..., User]
) -> None:
    assert attacked_incident.title.startswith(TEMPLATE_ATTACK)
    assert attacked_incident.labels["{{ 7|add:42 }}"] == "{% now 'Y' %}"
    browser = Client()
    browser.force_login(make_user(role="oncall_engineer"))
    response = browser.get(f"/oncall/incidents/{attacked_incident.public_id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "{{ settings.SECRET_KEY }} {% debug %} {{ 7|add:42 }}" in html
    assert "{% now &#x27;Y&#x27; %}" in html
    assert "{{ request.user.password }}" in html
    assert settings.SECRET_KEY not in html
    assert "sql_queries" not in html  # what {% debug %} would print


def test_template_syntax_in_pages_sent_to_responders_is_literal(
    attacked_incident: Incident, make_user: Callable[..., User]
) -> None:
    responder = make_user(role="oncall_engineer")
    delivery = Delivery(user=responder, incident=attacked_incident, kind=ContactKind.EMAIL, dedup_key="hostile-1")
    message = page_message(delivery, attacked_incident)
    for text in (message.subject, message.text, message.html or ""):
        assert "{{ settings.SECRET_KEY }} {% debug %} {{ 7|add:42 }}" in text
    for text in (message.subject, message.text, message.html or "", message.short, json.dumps(message.slack_blocks)):
        assert settings.SECRET_KEY not in text
        assert "sql_queries" not in text
    assert message.short.startswith(f"{attacked_incident.priority} {{{{ settings.SECRET_KEY")  # shortened, literal
    assert message.data["incident"]["title"].startswith(TEMPLATE_ATTACK)


def test_template_syntax_in_a_runbook_is_literal_in_its_rendered_html(admin_api: APIClient) -> None:
    body = "# {{ settings.SECRET_KEY }}\n\n{% debug %} and {{ request.user }}\n"
    response = admin_api.post(
        "/api/v1/incidents/runbooks/", {"slug": "templated", "title": TEMPLATE_ATTACK, "body": body}, format="json"
    )
    assert response.status_code == 201, response.content
    html = response.json()["html"]
    assert "<h1>{{ settings.SECRET_KEY }}</h1>" in html
    assert "{% debug %} and {{ request.user }}" in html
    assert settings.SECRET_KEY not in html
    assert response.json()["title"] == TEMPLATE_ATTACK


def test_label_templates_take_plain_names_only() -> None:
    labels = {"service": "payments", "namespace": "prod"}
    for attack in ("{service.__class__}", "{service[0]}", "{service!r}", "{service:>99999}", "{{service}}", "{0}"):
        with pytest.raises(MatcherError):
            validate_template(attack)
    assert render_template("{namespace}/{service}", labels) == "prod/payments"
    assert render_template("{service.__class__.__init__}", labels) == "{service.__class__.__init__}"


# --- catalog search ------------------------------------------------------------------------------------------------
@pytest.fixture
def searchable(db: None) -> dict[str, Dataset]:
    out = {}
    for name in ("raw/orders", "curated/customers"):
        dataset, _ = dataset_upsert(namespace="file:///srv/lake", name=name)
        dataset.search_text = name.replace("/", " ")  # as the schema's refresh writes it: words, not one path token
        dataset.save(update_fields=["search_text"])
        out[name] = dataset
    return out


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("orders & !customers", set()),  # websearch syntax: '&' and '!' are not operators, both words must match
        ("orders | customers", set()),
        ("orders:*", {"raw/orders"}),
        ("'orders'", {"raw/orders"}),
        ('"orders', {"raw/orders"}),
        ("orders <-> zzz", set()),
        ("((orders", {"raw/orders"}),
        ("orders\\", {"raw/orders"}),
        ("!orders & customers | ", set()),
        ("orders' OR 1=1 --", {"raw/orders"}),
        ("orders %", {"raw/orders"}),
        ("orders_", {"raw/orders"}),
    ],
)
def test_catalog_search_with_operators_and_quotes_is_sane(
    query: str, expected: set[str], admin_api: APIClient, searchable: dict[str, Dataset], make_user: Callable[..., User]
) -> None:
    response = admin_api.get("/api/v1/catalog/datasets/", {"search": query})
    assert response.status_code == 200, response.content
    assert {row["name"] for row in response.json()["results"]} == expected
    page = Client()
    page.force_login(make_user(role="admin"))
    assert page.get("/catalog/", {"q": query}).status_code == 200


def test_sql_fragments_in_search_do_not_widen_the_match(admin_api: APIClient, searchable: dict[str, Dataset]) -> None:
    for query in ("' OR 1=1 --", "x') OR ('1'='1", "%", "*", ":*", "!", "&"):
        response = admin_api.get("/api/v1/catalog/datasets/", {"search": query})
        assert response.status_code == 200, query
        assert response.json()["results"] == [], query
    found = admin_api.get("/api/v1/catalog/datasets/", {"search": "orders"}).json()["results"]
    assert [row["name"] for row in found] == ["raw/orders"]


# --- alert labels --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("labels", "field"),
    [
        ({"k" * 5000: "v"}, "labels"),
        ({"": "v"}, "labels"),
        ({f"l{n}": "v" for n in range(65)}, "labels"),
        ({"team": "v" * 2001}, "labels.team"),
        ({"team": {"nested": "x"}}, "labels.team"),
        ({"team": 7}, "labels.team"),
    ],
    ids=["huge-key", "empty-key", "too-many", "huge-value", "object-value", "number-value"],
)
def test_alert_labels_with_huge_or_odd_keys_are_refused_naming_the_field(
    labels: dict[str, Any], field: str, client: Client, webhook_url: str
) -> None:
    response = client.post(
        webhook_url, data=json.dumps({"title": "t", "labels": labels}), content_type="application/json"
    )
    body = assert_error(response, 400, "invalid_payload")
    assert field in body["fields"], body
    assert not AlertPayload.objects.exists()


def test_odd_but_valid_label_keys_are_stored_verbatim(client: Client, webhook_url: str) -> None:
    labels = {"__proto__": "x", "constructor": "y", "a.b[0]": "z", "ключ": "значение", "<b>": "</b>", "$where": "1"}
    response = client.post(
        webhook_url, data=json.dumps({"title": "odd", "labels": labels}), content_type="application/json"
    )
    assert response.status_code == 202, response.content
    payloads_sweep(older_than=timedelta(seconds=-1))
    stored = Incident.objects.get().labels
    for key, value in labels.items():
        assert stored[key] == value
