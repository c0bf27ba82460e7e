"""Admin for configuration: every key with its effective value, source layer, description, last change and history;
runtime overrides edited with validation; credentials whose secrets are write-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from apps.common.errors import DomainError
from apps.configuration.models import ConfigChange, ConfigEntry, Credential, KeyRotation
from apps.configuration.registry import MASK, ConfigValueError, get_key, registry
from apps.configuration.selectors import config_changes, config_explain
from apps.configuration.services import config_override_clear, config_override_set


class ConfigEntryForm(forms.ModelForm):
    """The override as text, parsed and validated by the key's declaration."""

    override_text = forms.CharField(
        required=False,
        label="Runtime override",
        help_text="Leave empty for no override. Lists: comma-separated or a JSON list; JSON keys: a JSON document.",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    class Meta:
        model = ConfigEntry
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        spec = registry().get(self.instance.key)
        if spec is not None and self.instance.override is not None:
            self.fields["override_text"].initial = spec.display(self.instance.override)
        if spec is not None and spec.secret:
            self.fields["override_text"].disabled = True
            self.fields["override_text"].help_text = "Secret keys are set in Vault or a secret file, never here."

    def clean_override_text(self) -> Any:
        text = self.cleaned_data["override_text"].strip()
        if not text:
            return None
        try:
            return get_key(self.instance.key).parse(text)
        except ConfigValueError as exc:
            raise forms.ValidationError(f"Invalid value: {exc}") from exc


@admin.register(ConfigEntry)
class ConfigEntryAdmin(admin.ModelAdmin[ConfigEntry]):
    """Every declared key; an admin sets or clears its runtime override here."""

    form = ConfigEntryForm
    list_display = ("key", "type", "effective_value", "source", "short_description", "last_change")
    search_fields = ("key",)
    readonly_fields = ("key", "type", "description", "effective_value", "source", "layers", "history")
    fieldsets = (
        (None, {"fields": ("key", "type", "description", "effective_value", "source")}),
        ("Override", {"fields": ("override_text",)}),
        ("Layers", {"fields": ("layers",)}),
        ("History", {"fields": ("history",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConfigEntry]:
        latest = ConfigChange.objects.filter(key=OuterRef("key")).order_by("-changed_at").values("changed_at")[:1]
        return super().get_queryset(request).filter(key__in=list(registry())).annotate(last_changed=Subquery(latest))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ConfigEntry | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ConfigEntry, form: Any, change: bool) -> None:
        value = form.cleaned_data.get("override_text")
        try:
            if value is None:
                if obj.override is not None:
                    config_override_clear(key=obj.key, actor=request.user)  # type: ignore[arg-type]
            else:
                config_override_set(key=obj.key, value=value, actor=request.user)  # type: ignore[arg-type]
        except DomainError as exc:
            self.message_user(request, exc.detail, messages.ERROR)

    @admin.display(description="Type")
    def type(self, obj: ConfigEntry) -> str:
        spec = get_key(obj.key)
        return f"{spec.type}, secret" if spec.secret else spec.type

    @admin.display(description="Description")
    def description(self, obj: ConfigEntry) -> str:
        return get_key(obj.key).description

    @admin.display(description="Description")
    def short_description(self, obj: ConfigEntry) -> str:
        text = get_key(obj.key).description
        return text if len(text) <= 80 else text[:77] + "…"

    @admin.display(description="Effective value")
    def effective_value(self, obj: ConfigEntry) -> str:
        return config_explain(obj.key).display

    @admin.display(description="Source")
    def source(self, obj: ConfigEntry) -> str:
        explanation = config_explain(obj.key)
        return f"{explanation.layer} ({explanation.origin})" if explanation.origin else explanation.layer

    @admin.display(description="Last change", ordering="last_changed")
    def last_change(self, obj: ConfigEntry) -> Any:
        return getattr(obj, "last_changed", None)

    @admin.display(description="Every layer")
    def layers(self, obj: ConfigEntry) -> str:
        rows = [
            (
                "✔" if r.wins else "",
                r.layer,
                r.display if r.present else "—",
                r.origin,
                r.error or "",
            )
            for r in config_explain(obj.key).layers
        ]
        return format_html(
            "<table><tr><th></th><th>layer</th><th>value</th><th>from</th><th>problem</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description="History (latest 20)")
    def history(self, obj: ConfigEntry) -> str:
        rows = [
            (c.changed_at.strftime("%Y-%m-%d %H:%M:%S"), c.actor_label, c.layer, c.old_value, c.new_value, c.detail)
            for c in config_changes(key=obj.key)[:20]
        ]
        if not rows:
            return "No changes recorded."
        return format_html(
            "<table><tr><th>when</th><th>who</th><th>layer</th><th>old</th><th>new</th><th></th></tr>{}</table>",
            format_html_join("", "<tr>" + "<td>{}</td>" * 6 + "</tr>", rows),
        )


@admin.register(ConfigChange)
class ConfigChangeAdmin(admin.ModelAdmin[ConfigChange]):
    """Every configuration change, read-only."""

    list_display = ("changed_at", "key", "layer", "actor_label", "old_value", "new_value", "detail")
    list_filter = ("layer",)
    search_fields = ("key", "actor_label")
    date_hierarchy = "changed_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ConfigChange | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ConfigChange | None = None) -> bool:
        return False


class CredentialForm(forms.ModelForm):
    """Secrets are write-only: the form never shows them; leaving them empty keeps the stored value."""

    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    secret_extra = forms.JSONField(required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Write-only.")

    class Meta:
        model = Credential
        fields = ("name", "kind", "description", "secret", "secret_extra", "metadata")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["secret"] = ""
        self.initial["secret_extra"] = None
        if self.instance.pk:
            self.fields["secret"].help_text = f"Stored ({MASK}). Leave empty to keep it."
            self.fields["secret_extra"].help_text = "Stored and hidden. Leave empty to keep it."
        else:
            self.fields["secret"].required = True

    def clean_secret(self) -> str:
        value = self.cleaned_data["secret"]
        return value if value else self.instance.secret

    def clean_secret_extra(self) -> Any:
        value = self.cleaned_data["secret_extra"]
        return value if value not in (None, "") else (self.instance.secret_extra if self.instance.pk else {})


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin[Credential]):
    """Credentials for other systems; secrets are encrypted at rest and never displayed."""

    form = CredentialForm
    list_display = ("name", "kind", "description", "updated_at", "rotated_at")
    list_filter = ("kind",)
    search_fields = ("name", "description")
    readonly_fields = ("public_id", "created_at", "updated_at", "rotated_at")


@admin.register(KeyRotation)
class KeyRotationAdmin(admin.ModelAdmin[KeyRotation]):
    """Progress of encryption-key rotations, read-only."""

    list_display = ("primary_fingerprint", "started_at", "finished_at")
    readonly_fields = ("public_id", "primary_fingerprint", "started_at", "finished_at", "progress")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: KeyRotation | None = None) -> bool:
        return False
