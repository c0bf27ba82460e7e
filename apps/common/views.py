"""Portal home page and the operational endpoints ``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apps.common.api.errors import error_body
from apps.common.health import run_readiness_checks
from apps.common.logging import scrub_text
from apps.common.metrics import exposition_registry
from apps.configuration.services import config_get


@require_GET
def portal_home(request: HttpRequest) -> HttpResponse:
    """Landing page: what the signed-in user can reach, by role."""
    return render(request, "portal/home.html", {"roles": sorted(g.name for g in request.user.groups.all())})


def portal_context(request: HttpRequest) -> dict[str, str]:
    """Template context of every portal page: the maintenance banner, changed live from the configuration."""
    return {"maintenance_banner": config_get("app.maintenance_banner")}


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. No I/O, so a slow database never gets a healthy pod killed."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: database, migrations, Redis (and checks other apps register). 503 names the failing checks."""
    results = run_readiness_checks()
    failing = [r.name for r in results if not r.ok]
    degraded = [r.name for r in results if r.ok and r.degraded]
    body = {
        "status": "unavailable" if failing else ("degraded" if degraded else "ok"),
        "failing": failing,
        "degraded": degraded,
        "checks": {
            r.name: {"ok": r.ok, "degraded": r.degraded, "detail": scrub_text(r.detail), "ms": r.duration_ms}
            for r in results
        },
    }
    return JsonResponse(body, status=503 if failing else 200)


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition. With METRICS_TOKEN set, the scraper must send ``Authorization: Bearer <token>``.

    The registry is django-prometheus' usual one, except that under ``PROMETHEUS_MULTIPROC_DIR`` the portal's own
    collectors are added to the multiprocess registry (django-prometheus' view would leave them out)."""
    expected = settings.METRICS_TOKEN
    if expected:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), expected.encode()):
            return JsonResponse(
                error_body("not_authenticated", "A valid metrics bearer token is required."), status=401
            )
    return HttpResponse(generate_latest(exposition_registry()), content_type=CONTENT_TYPE_LATEST)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF rejection (``CSRF_FAILURE_VIEW``): Django's 403, marked so the denial's audit event names the reason."""
    from django.views.csrf import csrf_failure as django_csrf_failure

    request.denial_reason = "csrf_failed"  # type: ignore[attr-defined]
    return django_csrf_failure(request, reason)
