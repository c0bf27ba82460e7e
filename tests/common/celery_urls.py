"""A URLconf for tests only: a view that enqueues a task, as request handlers in the apps do."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from apps.common.tasks import api_tokens_purge


def enqueue_purge(request: HttpRequest) -> JsonResponse:
    result = api_tokens_purge.delay()
    return JsonResponse({"task_id": result.id})


urlpatterns = [path("enqueue/", enqueue_purge)]
