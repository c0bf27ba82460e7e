"""Recording who looked at personal data, and the auditors' own checks of the chain.

``AuditedReadAdminMixin`` records every admin list or detail page that shows personal fields; ``record_api_read``
does the same for API views; the verification run lives in ``services.audit_verify_run``. The
purpose comes from the ``X-Purpose`` header or the ``?purpose=`` parameter, else the view's default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.db import models
from django.http import HttpRequest, HttpResponse, QueryDict
from django.template.response import TemplateResponse
from rest_framework.request import Request

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record_read

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    _AdminBase = ModelAdmin[Any]
else:
    _AdminBase = object

PURPOSE_PARAM = "purpose"
PURPOSE_HEADER = "X-Purpose"


def request_purpose(request: HttpRequest | Request, default: str) -> str:
    """Why the caller reads the data: ``X-Purpose`` header, else ``?purpose=``, else ``default`` (at most 200)."""
    params: QueryDict = request.query_params if isinstance(request, Request) else request.GET
    purpose = request.headers.get(PURPOSE_HEADER) or params.get(PURPOSE_PARAM) or default
    return purpose.strip()[:200] or default


def record_api_read(
    request: HttpRequest | Request,
    *,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    fields: Iterable[str],
    rows: int,
    default_purpose: str,
) -> AuditEvent:
    """Record that an API response showed personal ``fields`` of ``rows`` records, and why."""
    return audit_record_read(
        target=target,
        target_type=target_type,
        target_id=target_id,
        fields_shown=list(fields),
        purpose=request_purpose(request, default_purpose),
        rows=rows,
    )


def _field_name(field: str | Callable[..., Any]) -> str:
    return field if isinstance(field, str) else getattr(field, "__name__", str(field))


class AuditedReadAdminMixin(_AdminBase):
    """For ModelAdmins showing personal data: every list page and every object page viewed is recorded as a read.

    ``personal_fields`` names the fields holding personal data (empty: every field shown counts); a page showing
    none of them is not recorded. Put the mixin before ``admin.ModelAdmin`` in the bases.
    """

    personal_fields: tuple[str, ...] = ()
    audit_default_purpose = "administration"

    def _shown_personal(self, shown: Iterable[str | Callable[..., Any]]) -> list[str]:
        names = [_field_name(f) for f in shown if _field_name(f) != "action_checkbox"]
        if not self.personal_fields:
            return names
        return [name for name in names if name in self.personal_fields]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        purpose = request_purpose(request, self.audit_default_purpose)
        if PURPOSE_PARAM in request.GET:
            # The changelist treats unknown parameters as field lookups and would refuse ``purpose``.
            params = request.GET.copy()
            del params[PURPOSE_PARAM]
            request.GET = params  # type: ignore[assignment]  # a copy without ``purpose``, never written to again
        response = super().changelist_view(request, extra_context)
        if request.method != "GET" or response.status_code != 200 or not isinstance(response, TemplateResponse):
            return response
        changelist = (response.context_data or {}).get("cl")
        if changelist is None:
            return response
        shown = self._shown_personal(self.get_list_display(request))
        rows = len(changelist.result_list)  # evaluates the page once; the template reuses the result cache
        if shown and rows:
            audit_record_read(
                target_type=self.model._meta.label_lower,
                fields_shown=shown,
                purpose=purpose,
                rows=rows,
            )
        return response

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method != "GET" or response.status_code != 200 or not isinstance(response, TemplateResponse):
            return response
        obj = (response.context_data or {}).get("original")
        if obj is None:
            return response
        shown = self._shown_personal(self._shown_fields(request, obj))
        if shown:
            audit_record_read(
                target=obj,
                fields_shown=shown,
                purpose=request_purpose(request, self.audit_default_purpose),
            )
        return response

    def _shown_fields(self, request: HttpRequest, obj: models.Model) -> Sequence[str | Callable[..., Any]]:
        shown: list[str | Callable[..., Any]] = []
        for _, options in self.get_fieldsets(request, obj):
            for entry in options.get("fields", ()):
                shown.extend(entry if isinstance(entry, list | tuple) else [entry])
        return shown
