"""The data-quality pages under ``/quality/``: the dashboard of every dataset with rules, and the dataset quality page
(scores, trend chart, latest results with failing-row samples, rules, schedule, recent scans, "Scan now").

Login is required by the project's middleware; reading needs ``quality.view_qualityrule``. Failing-row samples go
through ``apps.quality.samples.samples_view``, which masks personal columns for viewers who may not see them and
records an audited read when it shows them. Requesting a scan needs the right to steward the dataset.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_POST

from apps.catalog.stewardship import can_steward
from apps.common.errors import DomainError
from apps.common.models import User
from apps.quality.models import QualityResult, QualityScan
from apps.quality.page_selectors import dashboard_rows, dataset_by_public_id, dataset_quality_page
from apps.quality.samples import SamplesView, samples_view, viewer_for
from apps.quality.services import scan_request

VIEW_PERMISSION = "quality.view_qualityrule"
SPARK_RUN_VIEW_PERMISSION = "sparkruns.view_sparkrun"


@dataclass(frozen=True)
class SampleSet:
    """The failing-row samples of one failing rule, as this viewer may see them."""

    result: QualityResult
    view: SamplesView


@dataclass(frozen=True)
class ScanRow:
    """A recent scan and where its Spark run can be looked at ("" when nowhere this viewer may go)."""

    scan: QualityScan
    run_url: str


def _forbidden(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "quality/forbidden.html", {"reason": reason}, status=403)


def _spark_run_url(request: HttpRequest, scan: QualityScan) -> str:
    """The page of the scan's Spark run: the Spark runs page when the portal has one, else its admin page for staff
    who may view runs, else "" (the page then shows no link)."""
    run = scan.spark_run
    if run is None:
        return ""
    try:
        return reverse("sparkruns:run-detail", kwargs={"public_id": run.public_id})
    except NoReverseMatch:
        pass
    if not (request.user.is_staff and request.user.has_perm(SPARK_RUN_VIEW_PERMISSION)):
        return ""
    try:
        return reverse("admin:sparkruns_sparkrun_change", args=[run.pk])
    except NoReverseMatch:
        return ""


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Every dataset with rules: latest quality and trust scores, outcome counts, failing and warning rules."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    rows = dashboard_rows()
    context: dict[str, Any] = {
        "rows": rows,
        "failing_datasets": sum(1 for row in rows if row.failing_rules),
        "warning_datasets": sum(1 for row in rows if row.warning_rules and not row.failing_rules),
        "unscanned_datasets": sum(1 for row in rows if row.latest is None),
    }
    return render(request, "quality/dashboard.html", context)


@require_GET
def dataset_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """One dataset's quality: scores and trend, latest results and samples, rules, schedule and recent scans."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    content = dataset_quality_page(public_id=public_id)
    if content is None:
        raise Http404("No such dataset.")
    columns = sorted({c for r in content.sample_results for c in r.sample_columns or []})
    viewer = viewer_for(dataset=content.dataset, user=request.user, columns=columns)
    samples = [
        SampleSet(result=r, view=samples_view(result=r, user=request.user, viewer=viewer))
        for r in content.sample_results
    ]
    context: dict[str, Any] = {
        "content": content,
        "dataset": content.dataset,
        "sample_sets": samples,
        "scans": [ScanRow(scan=scan, run_url=_spark_run_url(request, scan)) for scan in content.scans],
        "may_scan": can_steward(user=request.user, dataset=content.dataset),
    }
    return render(request, "quality/dataset_detail.html", context)


@require_POST
def dataset_scan(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Scan now: queue a scan of every enabled rule of the dataset (its stewards, owners and administrators)."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    dataset = dataset_by_public_id(public_id=public_id)
    if dataset is None:
        raise Http404("No such dataset.")
    if not can_steward(user=request.user, dataset=dataset):
        return _forbidden(request, reason="steward")
    requester = request.user if isinstance(request.user, User) else None
    try:
        scan_request(dataset=dataset, requested_by=requester)
    except DomainError as exc:
        messages.error(request, f"No scan was queued: {exc.detail}")
    else:
        messages.success(request, f"A scan of {dataset.name} is queued; its results appear here when it finishes.")
    return redirect("quality:dataset-detail", public_id=dataset.public_id)
