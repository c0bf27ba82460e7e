"""The compliance officer's erasure journey in a real browser: Chromium, driven by Playwright, against a live server.

Log in, take a GDPR erasure request in, verify it by hand, build and approve the plan, run the erasure and open the
signed certificate. The run is a real ``spark-submit`` of ``dsr_erase`` through the local backend, submitted and
followed the way the platform's worker and beat do it, while the request page refreshes itself; afterwards the
customer is gone from the lake.

The browser is the system Chromium (``$CHROMIUM``, else ``/usr/bin/chromium``), which ``make test`` installs through
``scripts/browser.py``; without one the test skips and says why.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from playwright.sync_api import Page, expect, sync_playwright

from apps.privacy.choices import RequestStatus, RunStatus
from apps.privacy.execution import plan_file, progress_file, runs_sweep
from apps.privacy.models import DataSubjectRequest, ErasureCertificate, RequestRun
from apps.privacy.services import subject_identity_add
from apps.sparkruns.choices import RunState
from apps.sparkruns.services import backend_get, spark_run_submit, spark_runs_poll
from tests.privacy.test_execution import customer, lake  # noqa: F401 - the catalogued lake fixture
from tests.spark.conftest import spark  # noqa: F401 - the shared local Spark session

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DEFAULT_CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct-horse-battery"  # UserFactory's
PAGE_TIMEOUT_MS = 60_000  # a page of a live server on a busy machine
REFRESH_TIMEOUT_MS = 120_000  # the request page refreshes itself every 5 s
RUN_TIMEOUT_SECONDS = 900  # a local spark-submit starts a JVM of its own; generous on a shared machine
POLL_SECONDS = 3
EVIDENCE = "Matched the order number and postcode by phone."
TIMELINE = ("received", "verified", "planned", "plan_approved", "run_started", "certificate")


@pytest.fixture
def chromium() -> str:
    """The system Chromium; the test skips, saying why, when there is none (``scripts/browser.py`` records why)."""
    path = os.environ.get("CHROMIUM", "").strip() or DEFAULT_CHROMIUM
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    reason_file = Path(settings.VAR_DIR) / "browser-unavailable.txt"
    why = reason_file.read_text().strip() if reason_file.exists() else ""
    pytest.skip(f"no Chromium at {path}: {why or 'run `make browser` (scripts/browser.py) to install it'}")


@pytest.fixture
def page(chromium: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Page]:
    """A headless Chromium page; the last page it showed is kept as ``last-page.png`` in the test's tmp_path."""
    # Playwright's sync API keeps an asyncio loop running on this thread, and Django refuses database calls from a
    # thread with a running loop; the test's own database work between browser steps is synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(PAGE_TIMEOUT_MS)
            context.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
            current = context.new_page()
            yield current
            current.screenshot(path=str(tmp_path / "last-page.png"), full_page=True)
        finally:
            browser.close()
            # With a loop running, Django keeps this thread's connections apart from the ones it had before (asgiref
            # locals act as context variables then); close them here, or the test database could not be dropped.
            connections.close_all()


@pytest.fixture
def officer(make_user: Callable[..., Any]) -> Any:
    """A compliance officer (not staff: the compliance pages are not the admin) who signs in with a password."""
    return make_user(role="compliance_officer")


def expect_message(page: Page, text: str) -> None:
    """The page's one-time message says ``text`` (waiting for the page the last action led to)."""
    expect(page.locator(".messages")).to_contain_text(text)


def timeline(page: Page) -> list[tuple[str, str]]:
    """The request page's timeline as (step, message); a status change is named after the status it reached."""
    steps = []
    for event in page.locator(".timeline .event").all():
        kind = event.locator(".badge").inner_text().strip()
        text = event.locator(".ev-message").inner_text().strip()
        if kind == "status" and text.startswith("Identity verified"):
            kind = "verified"
        steps.append((kind, text))
    return steps


def run_to_the_end(run: RequestRun) -> RequestRun:
    """Submit the request's Spark run and follow it as the platform does (``spark.submit_run``, then the
    ``spark.poll_runs`` and ``privacy.sweep_runs`` beat tasks) until the request run is recorded as ended."""
    assert run.spark_run is not None
    submitted = spark_run_submit(run_pk=run.spark_run.pk)
    assert submitted is not None
    assert submitted.state == RunState.PENDING, submitted.error
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while True:
        spark_runs_poll()
        runs_sweep()
        run.refresh_from_db()
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            break
        if time.monotonic() > deadline:
            logs = backend_get(submitted.backend).logs(submitted.handle, tail=40)
            pytest.fail(f"the erasure run is still {run.status} after {RUN_TIMEOUT_SECONDS} s:\n{logs}")
        time.sleep(POLL_SECONDS)
    if run.status == RunStatus.FAILED:
        logs = backend_get(submitted.backend).logs(submitted.handle, tail=40)
        pytest.fail(f"the erasure run failed: {run.error}\n{logs}")
    return run


def test_an_officer_takes_an_erasure_request_through_to_its_signed_certificate_in_the_browser(
    chromium: str,
    lake: str,  # noqa: F811
    spark: Any,  # noqa: F811
    officer: Any,
    live_server: Any,
    page: Page,
    tmp_path: Path,
) -> None:
    who = customer(spark, lake)
    base = live_server.url

    # Not signed in: the intake form sends the officer to the login page and back.
    page.goto(f"{base}/privacy/requests/new/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/privacy/requests/new/$"))
    page.get_by_label("Username").fill(officer.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/privacy/requests/new/")
    expect(page.get_by_role("heading", name="New request")).to_be_visible()

    page.locator("#id_kind").select_option("email")
    page.locator("#id_value").fill(who["email"])
    page.locator("#id_jurisdiction").fill("PT")
    page.locator("#id_request_type").select_option("gdpr.erasure")
    page.locator("#id_channel").select_option("email")
    page.locator("#id_details").fill("Please delete my account and everything you hold about me.")
    page.get_by_role("button", name="Take the request in").click()
    expect(page).to_have_url(re.compile(r"/privacy/requests/[0-9a-f-]{36}/$"))
    expect_message(page, "taken in")
    public_id = uuid.UUID(page.url.rstrip("/").rsplit("/", 1)[1])
    request = DataSubjectRequest.objects.get(public_id=public_id)
    assert request.request_type == "gdpr.erasure"
    assert request.status == RequestStatus.RECEIVED
    expect(page.get_by_role("heading", name=request.reference)).to_be_visible()

    # The pages offer no way to give a subject a further identity (intake takes one), so the customer id the orders
    # are found by is added through the service, as an integration would.
    subject_identity_add(subject=request.subject, kind="customer_id", value=who["customer_id"])
    page.reload()
    expect(page.get_by_text("Known by: Customer id, E-mail address")).to_be_visible()

    page.locator("#evidence").fill(EVIDENCE)
    page.get_by_role("button", name="Verify manually").click()
    expect_message(page, "Identity verified by hand.")
    expect(page.locator(".qualified .badge")).to_have_text("Verified")

    page.get_by_role("button", name="Build the plan").click()
    expect_message(page, "Plan built")
    plan_rows = page.locator("section[aria-labelledby='plan-h'] table.plan tbody tr")
    expect(plan_rows).to_have_count(3)
    planned = {}
    for row in plan_rows.all():
        cells = row.locator("td").all_inner_texts()
        planned[cells[0].split(" (")[0].strip()] = cells[2].strip()
    assert planned == {
        "raw/customers": "delete",
        "raw/orders": "anonymise (legal hold)",
        "analytics/customer_segments": "delete",  # a downstream copy
    }

    page.get_by_role("button", name="Approve the plan").click()
    expect_message(page, "Plan approved.")
    expect(page.get_by_text(re.compile(r"approved by .* on "))).to_be_visible()

    page.get_by_role("button", name="Run the erasure").click()
    expect_message(page, "Erasure started")
    expect(page.get_by_text("This page refreshes every 5 seconds.")).to_be_visible()
    expect(page.locator("meta[http-equiv='refresh']")).to_have_count(1)
    run = RequestRun.objects.select_related("spark_run").get(request=request)
    assert run.spark_run is not None
    assert run.spark_run.args == ["--plan", str(plan_file(run)), "--progress", str(progress_file(run))]

    run = run_to_the_end(run)
    assert run.spark_run is not None
    assert run.spark_run.state == RunState.SUCCEEDED
    assert not plan_file(run).exists()

    # The page, refreshing itself, shows the end of the run and the certificate.
    expect(page.locator(".run .run-status")).to_have_text("Succeeded", timeout=REFRESH_TIMEOUT_MS)
    expect(page.locator("meta[http-equiv='refresh']")).to_have_count(0)
    certificate = ErasureCertificate.objects.get(run=run)
    link = page.get_by_role("link", name=re.compile(r"^Erasure certificate CERT-"))
    expect(link).to_have_text(f"Erasure certificate {certificate.number}")
    results = {}
    for row in page.locator("table.run-results tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        results[cells[0].strip()] = (cells[1].strip(), cells[4].strip())
    assert results == {
        "raw/customers": ("delete", "yes"),
        "raw/orders": ("anonymise", "yes"),
        "analytics/customer_segments": ("delete", "yes"),
    }
    shown = timeline(page)
    steps = iter(step for step, _ in shown)
    assert all(step in steps for step in TIMELINE), f"the timeline {shown} lacks the steps {TIMELINE} in order"
    assert any(step == "verified" and EVIDENCE in text for step, text in shown)

    page.screenshot(path=str(tmp_path / "request.png"), full_page=True)

    link.click()
    expect(page).to_have_url(f"{base}/privacy/certificates/{certificate.public_id}/")
    expect(page.get_by_role("heading", name=f"Erasure certificate {certificate.number}")).to_be_visible()
    expect(page.get_by_text("Signature valid", exact=True)).to_be_visible()
    expect(page.get_by_text("Verification scan: nothing left")).to_be_visible()
    verified_at = page.locator(".facts-grid > div").filter(has=page.locator("dt", has_text=re.compile(r"^Verified$")))
    expect(verified_at.locator("dd")).to_have_text(re.compile(r"^\d{4}-\d{2}-\d{2}T"))  # when identity was verified
    customers_row = page.locator("table.certificate-datasets > tbody > tr").filter(
        has=page.locator("td", has_text=re.compile(r"^raw/customers$"))
    )
    expect(customers_row.locator("td").nth(1)).to_have_text("delete")
    expect(customers_row.locator("td").nth(3)).to_have_text("1 deleted")
    page.screenshot(path=str(tmp_path / "certificate.png"), full_page=True)

    customers = spark.read.parquet(f"{lake}/raw/customers")
    assert customers.where(customers.customer_id == who["customer_id"]).count() == 0
    assert customers.where(customers.email == who["email"]).count() == 0
    orders = spark.read.parquet(f"{lake}/raw/orders")
    assert orders.where(orders.customer_id == who["customer_id"]).count() == 0
