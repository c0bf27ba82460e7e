"""The stewards' rule editor, with a test run of the unsaved rule on a sample of its dataset."""

from __future__ import annotations

import uuid
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_GET, require_POST

from apps.audit.access import request_purpose
from apps.catalog.models import Dataset
from apps.catalog.stewardship import can_steward, datasets_stewarded
from apps.common.errors import DomainError
from apps.common.models import User
from apps.quality.admin.common import (
    _add_domain_errors,
    _dataset_choices,
    _narrow,
    _stewarded_only,
    _user,
)
from apps.quality.choices import RuleSeverity, ScanState, ScanTrigger
from apps.quality.models import QualityResult, QualityRule, QualityScan
from apps.quality.rules import RuleInvalid, RuleSpec, rule_validate
from apps.quality.samples import SAMPLES_PURPOSE, samples_view
from apps.quality.services import TEST_SAMPLE_ROWS, rule_save, rule_test_run, scan_request

PARAMS_EXAMPLES = (
    ("not_null", '["email"] or ["first_name", "last_name"]', "{}"),
    ("unique", '["order_id"] or ["order_id", "line_number"]', "{}"),
    ("range", '["total_amount"]', '{"min": 0, "max": 10000, "inclusive": true}'),
    ("allowed_values", '["status"]', '{"values": ["new", "paid", "shipped"]} — or {} with a reference dataset'),
    ("regex", '["email"]', '{"pattern": "^[^@]+@[^@]+$"}'),
    ("length", '["postal_code"]', '{"min": 4, "max": 10}'),
    ("freshness", '["order_ts"]', '{"max_age_seconds": 86400}'),
    ("row_count", "[]", '{"min": 1000} or {"max_change": 0.2} (fraction of the last scan)'),
    ("referential", '["customer_id"]', "{} — with a reference dataset and field"),
    ("schema", "[]", '{"expected": {"order_id": "string", "total_amount": "decimal(12,2)"}, "exact": false}'),
    ("mean", '["total_amount"]', '{"baseline_mean": 52.3, "baseline_stddev": 4.1, "tolerance": 3}'),
    ("distinct_count", '["country"]', '{"min": 5, "max": 300}'),
    ("custom", "[]", '{"expression": "total_amount >= 0 OR status = \'cancelled\'"}'),
)
COLUMNS_HELP = format_html(
    "A JSON list of column names. Per kind:<br>{}",
    format_html_join("", "<code>{}</code>: <code>{}</code><br>", ((k, c) for k, c, _ in PARAMS_EXAMPLES)),
)
PARAMS_HELP = format_html(
    "A JSON object with the kind's settings. Per kind:<br>{}",
    format_html_join("", "<code>{}</code>: <code>{}</code><br>", ((k, p) for k, _, p in PARAMS_EXAMPLES)),
)
RULE_FIELDS = (
    "dataset", "name", "description", "kind", "columns", "params", "reference_dataset", "reference_field",
    "warn_threshold", "fail_threshold", "severity", "owner", "enabled",
)  # fmt: skip


class QualityRuleForm(forms.ModelForm[QualityRule]):
    """A rule as a steward writes it, checked by ``rule_validate`` with each problem on its own field."""

    class Meta:
        model = QualityRule
        fields = RULE_FIELDS
        widgets = {
            "columns": forms.Textarea(attrs={"rows": 2, "cols": 70}),
            "params": forms.Textarea(attrs={"rows": 4, "cols": 70}),
        }
        help_texts = {"columns": COLUMNS_HELP, "params": PARAMS_HELP}

    def clean_columns(self) -> Any:
        value = self.cleaned_data.get("columns")
        return [] if value is None else value

    def clean_params(self) -> Any:
        value = self.cleaned_data.get("params")
        return {} if value is None else value

    def chosen_dataset(self) -> Dataset | None:
        """The rule's dataset: the one chosen in the form, else the one the rule already has."""
        if "dataset" in self.fields:
            return cast(Dataset | None, self.cleaned_data.get("dataset"))
        return self.instance.dataset if self.instance.dataset_id is not None else None

    def spec(self, dataset: Dataset) -> RuleSpec:
        """The rule as the form holds it (fields that failed to clean fall back to neutral values)."""
        data = self.cleaned_data
        return RuleSpec(
            dataset=dataset,
            # A missing name is reported on its own field; a stand-in keeps it from resurfacing as a params error.
            name=data.get("name") or "unnamed",
            kind=data.get("kind") or "",
            columns=data.get("columns", []),
            params=data.get("params", {}),
            reference_dataset=data.get("reference_dataset"),
            reference_field=data.get("reference_field") or "",
            warn_threshold=data.get("warn_threshold"),
            fail_threshold=data.get("fail_threshold"),
            severity=data.get("severity") or RuleSeverity.ERROR,
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        dataset = self.chosen_dataset()
        if dataset is None or not cleaned.get("kind"):
            return cleaned  # already reported on those fields
        try:
            rule_validate(self.spec(dataset))
        except RuleInvalid as exc:
            _add_domain_errors(self, exc)
        return cleaned


class TestRunOptions(forms.Form):
    """What the test run takes besides the rule."""

    sample_rows = forms.IntegerField(min_value=1, max_value=1_000_000, required=False)


def _json_error(code: str, detail: str, status: int, fields: dict[str, list[str]] | None = None) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail, "fields": fields or {}}, status=status)


def _form_errors(*forms_: forms.BaseForm) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for form in forms_:
        for name, errors in form.errors.items():
            key = "non_field_errors" if name == "__all__" else name
            out.setdefault(key, []).extend(str(e) for e in errors)
    return out


@admin.register(QualityRule)
class QualityRuleAdmin(admin.ModelAdmin[QualityRule]):
    form = QualityRuleForm
    change_form_template = "admin/quality/qualityrule/change_form.html"
    list_display = ("dataset", "name", "kind", "severity", "enabled", "last_outcome", "owner", "alert_open")
    list_filter = (
        "kind", "severity", "enabled", "last_outcome", ("dataset", admin.RelatedOnlyFieldListFilter),
    )  # fmt: skip
    list_select_related = ("dataset", "owner")
    search_fields = ("name", "dataset__name")
    readonly_fields = ("last_outcome", "last_result_at", "alert_open", "public_id", "created_at", "updated_at")
    actions = ("enable_selected", "disable_selected", "scan_datasets")

    class Media:
        js = ("quality/admin-test-run.js",)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets: list[Any] = [
            (None, {"fields": ("dataset", "name", "description", "kind", "columns", "params")}),
            ("Reference (referential and allowed values)", {"fields": ("reference_dataset", "reference_field")}),
            ("Thresholds", {"fields": ("warn_threshold", "fail_threshold", "severity")}),
            ("Ownership", {"fields": ("owner", "enabled")}),
        ]
        if obj is not None:
            fieldsets.append(("Last result", {"fields": self.readonly_fields}))
        return fieldsets

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        # Model fields are built afresh for each form class, so narrowing them per request is safe.
        _narrow(form, "dataset", _dataset_choices(request, obj.dataset_id if obj else None))
        _narrow(form, "reference_dataset", _dataset_choices(request, obj.reference_dataset_id if obj else None))
        _narrow(
            form,
            "owner",
            User.objects.filter(
                Q(is_active=True, is_service_account=False) | Q(pk__in=[obj.owner_id] if obj else [])
            ).order_by("username"),
        )
        return form

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[QualityRule]:
        rules = super().get_queryset(request).select_related("dataset", "owner", "reference_dataset")
        if _stewarded_only(request, "quality.change_qualityrule"):
            rules = rules.filter(dataset__in=datasets_stewarded(user=request.user))
        return rules

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or can_steward(user=request.user, dataset=obj.dataset)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        return obj is None or can_steward(user=request.user, dataset=obj.dataset)

    def save_model(self, request: HttpRequest, obj: QualityRule, form: Any, change: bool) -> None:
        if not change and obj.owner_id is None:
            obj.owner = _user(request)
        rule_save(rule=obj)

    def _stewarded(self, request: HttpRequest, queryset: QuerySet[QualityRule]) -> QuerySet[QualityRule]:
        allowed = queryset.filter(dataset__in=datasets_stewarded(user=request.user))
        skipped = queryset.count() - allowed.count()
        if skipped:
            self.message_user(request, f"Skipped {skipped} rule(s) of datasets you do not steward.", messages.WARNING)
        return allowed

    def _enable(self, request: HttpRequest, queryset: QuerySet[QualityRule], enabled: bool) -> None:
        changed = 0
        for rule in self._stewarded(request, queryset).exclude(enabled=enabled):
            rule.enabled = enabled
            rule.save(update_fields=["enabled", "updated_at"])
            changed += 1
        self.message_user(request, f"{'Enabled' if enabled else 'Disabled'} {changed} rule(s).", messages.SUCCESS)

    @admin.action(description="Enable the selected rules", permissions=["change"])
    def enable_selected(self, request: HttpRequest, queryset: QuerySet[QualityRule]) -> None:
        self._enable(request, queryset, True)

    @admin.action(description="Disable the selected rules", permissions=["change"])
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[QualityRule]) -> None:
        self._enable(request, queryset, False)

    @admin.action(description="Scan the datasets of the selected rules now", permissions=["change"])
    def scan_datasets(self, request: HttpRequest, queryset: QuerySet[QualityRule]) -> None:
        allowed = self._stewarded(request, queryset)
        for dataset in Dataset.objects.filter(pk__in=allowed.values("dataset_id")).order_by("name"):
            try:
                scan = scan_request(dataset=dataset, requested_by=_user(request))
            except DomainError as exc:
                self.message_user(request, f"{dataset.name}: {exc.detail}", messages.WARNING)
            else:
                self.message_user(request, f"{dataset.name}: scan {scan.public_id} queued.", messages.SUCCESS)

    # The test run: the change form's fields, validated as the save would, evaluated on a sample and never saved.

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("test-run/", wrap(require_POST(self.test_run_view)), name="quality_qualityrule_test_run"),
            path(
                "test-run/<uuid:scan>/",
                wrap(require_GET(self.test_run_status_view)),
                name="quality_qualityrule_test_run_status",
            ),
            *super().get_urls(),
        ]

    def test_run_view(self, request: HttpRequest) -> HttpResponse:
        """Queue a test run of the rule as the posted form holds it: ``{scan, status_url}``, or 400 with the errors.

        ``?rule=<public id>`` names the rule being edited, so the form validates as its change form does.
        """
        rule = None
        if request.GET.get("rule"):
            try:
                rule = self.get_queryset(request).filter(public_id=uuid.UUID(request.GET["rule"])).first()
            except ValueError:
                rule = None
            if rule is None:
                return _json_error("not_found", "No such rule.", 404)
            if not self.has_change_permission(request, rule):
                return _json_error("permission_denied", "You may not change this rule.", 403)
        elif not self.has_add_permission(request):
            return _json_error("permission_denied", "You may not write quality rules.", 403)
        form = self.get_form(request, rule, change=rule is not None)(request.POST, instance=rule)
        options = TestRunOptions(request.POST)
        if not (form.is_valid() and options.is_valid()):
            fields = _form_errors(form, options)
            first = next(iter(fields.values()))[0] if fields else "The rule is not valid."
            return _json_error(RuleInvalid.code, f"The rule is not valid: {first}", 400, fields)
        dataset = form.chosen_dataset()
        if dataset is None:
            return _json_error(RuleInvalid.code, "Choose the rule's dataset.", 400, {"dataset": ["required"]})
        spec = form.spec(dataset)
        if not can_steward(user=request.user, dataset=spec.dataset):
            return _json_error("not_dataset_steward", f"You do not steward {spec.dataset.name}.", 403)
        try:
            scan = rule_test_run(
                spec=spec,
                requested_by=_user(request),
                sample_rows=options.cleaned_data.get("sample_rows") or TEST_SAMPLE_ROWS,
            )
        except DomainError as exc:
            return _json_error(exc.code, exc.detail, exc.status, exc.fields)
        status_url = reverse("admin:quality_qualityrule_test_run_status", args=[scan.public_id])
        return JsonResponse({"scan": str(scan.public_id), "status_url": status_url}, status=202)

    def test_run_status_view(self, request: HttpRequest, scan: uuid.UUID) -> HttpResponse:
        """A test run's state and, once finished, its result with the samples as this viewer may see them."""
        if not request.user.has_perm("quality.view_qualityscan"):
            return _json_error("permission_denied", "You may not read quality scans.", 403)
        found = (
            QualityScan.objects.filter(public_id=scan, trigger=ScanTrigger.TEST)
            .select_related("dataset", "spark_run")
            .first()
        )
        if found is None:
            return _json_error("not_found", "No such test run.", 404)
        answer: dict[str, Any] = {
            "scan": str(found.public_id),
            "dataset": found.dataset.name,
            "state": found.state,
            "run_state": found.spark_run.state if found.spark_run else None,
            "finished": found.state != ScanState.QUEUED,
            "sample_rows": found.sample_rows,
            "rows_scanned": found.rows_scanned,
            "error": found.error,
            "result": None,
        }
        result = QualityResult.objects.filter(scan=found).select_related("scan__dataset").first()
        if result is not None:
            view = samples_view(result=result, user=request.user, purpose=request_purpose(request, SAMPLES_PURPOSE))
            answer["result"] = {
                "rule": result.rule_name,
                "outcome": result.outcome,
                "metric": result.metric,
                "failing_rows": result.failing_rows,
                "failing_fraction": result.failing_fraction,
                "message": result.message,
                "samples": {
                    "columns": view.columns,
                    "rows": view.rows,
                    "personal": view.personal,
                    "masked": view.masked,
                },
            }
        return JsonResponse(answer)
