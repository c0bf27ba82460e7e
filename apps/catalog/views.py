"""The data steward's catalog pages under ``/catalog/``: the dataset list and the dataset page with its lineage graph.

Login is required by the project's middleware; reading needs ``catalog.view_dataset``. The graph itself is drawn
in the browser from the lineage graph API (``/api/v1/lineage/graph/``), so these views only render the page.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from apps.catalog.choices import Classification, PiiStatus
from apps.catalog.page_selectors import (
    DatasetListFilters,
    dataset_by_identity,
    dataset_domains,
    dataset_page_detail,
    dataset_page_list,
)

VIEW_PERMISSION = "catalog.view_dataset"
PAGE_SIZE = 25
GRAPH_DEFAULT_DEPTH = 3
GRAPH_MAX_DEPTH = 20


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "catalog/forbidden.html", status=403)


def _reverse_or_empty(name: str) -> str:
    """A URL that another part of the portal provides, or "" while it is not installed (the page then omits it)."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


@require_GET
def dataset_list(request: HttpRequest) -> HttpResponse:
    """Datasets with server-side search and filters by domain, classification and PII status."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    filters = DatasetListFilters.from_query(request.GET)
    page = Paginator(dataset_page_list(filters=filters), PAGE_SIZE).get_page(request.GET.get("page"))
    kept = {k: v for k, v in request.GET.items() if k != "page" and v}
    context: dict[str, Any] = {
        "page": page,
        "filters": filters,
        "domains": dataset_domains(),
        "classifications": Classification.choices,
        "pii_statuses": PiiStatus.choices,
        "page_query": urlencode(kept),
    }
    return render(request, "catalog/dataset_list.html", context)


@require_GET
def dataset_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """One dataset: facts, people, fields and categories, schema history, jobs and the interactive lineage graph."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    content = dataset_page_detail(public_id=public_id)
    if content is None:
        raise Http404("No such dataset.")
    api_root = reverse("api:root")
    context: dict[str, Any] = {
        "content": content,
        "dataset": content.dataset,
        "suggestions_url": _reverse_or_empty("admin:catalog_piisuggestion_changelist"),
        "graph_url": f"{api_root}lineage/graph/",
        "graph_export_url": f"{api_root}lineage/graph/export/",
        "lookup_url": reverse("catalog:dataset-by-name"),
        "graph_default_depth": GRAPH_DEFAULT_DEPTH,
        "graph_max_depth": GRAPH_MAX_DEPTH,
        "graph_depths": range(1, GRAPH_MAX_DEPTH + 1),
    }
    return render(request, "catalog/dataset_detail.html", context)


@require_GET
def dataset_by_name(request: HttpRequest) -> HttpResponse:
    """Redirect from an OpenLineage identity (``?namespace=…&name=…``, how graph nodes name datasets) to its page."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return _forbidden(request)
    namespace = request.GET.get("namespace", "")
    name = request.GET.get("name", "")
    dataset = dataset_by_identity(namespace=namespace, name=name) if namespace and name else None
    if dataset is None:
        raise Http404("No dataset with this namespace and name.")
    return redirect("catalog:dataset-detail", public_id=dataset.public_id)
