"""Forms of the on-call pages: create an override, add a contact method, add a notification rule.

They check shapes only; the services decide what is valid (an end after the start, an E.164 number, a method that is
the user's own) and ``add_domain_errors`` puts what they refuse on the fields it concerns. Times are typed in the
schedule's zone: the view parses them under ``timezone.override``, so a wall time that does not exist (the hour
skipped in spring) or exists twice (the hour repeated in autumn) is a field error, not a guess.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from apps.common.errors import DomainError
from apps.common.models import User
from apps.oncall.choices import ContactKind, OverrideMode, RuleUrgency
from apps.oncall.models import ContactMethod

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


def _when(label: str, help_text: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=help_text,
    )


class UserChoiceField(forms.ModelChoiceField[User]):
    """People by display name and username."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj} ({obj.username})" if obj.display_name else obj.username


class OverrideForm(forms.Form):
    """Who takes over, when, and whether instead of or beside the layers' user."""

    user = UserChoiceField(
        label="Who", queryset=User.objects.filter(is_active=True, is_service_account=False).order_by("username")
    )
    start = _when("From", "In the schedule's time zone.")
    end = _when("Until", "In the schedule's time zone; the override ends just before this time.")
    mode = forms.ChoiceField(label="Mode", choices=OverrideMode.choices, initial=OverrideMode.REPLACE)
    reason = forms.CharField(label="Reason", max_length=200, required=False)


class ContactMethodForm(forms.Form):
    """A new way to reach the signed-in user."""

    kind = forms.ChoiceField(label="Kind", choices=ContactKind.choices, initial=ContactKind.EMAIL)
    address = forms.CharField(
        label="Address",
        max_length=2000,
        help_text="E-mail address, phone number in E.164 (+14155550142), or the webhook URL.",
    )
    label = forms.CharField(label="Label", max_length=100, required=False, help_text="E.g. work phone.")
    secret = forms.CharField(
        label="Signing secret",
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False),
        help_text="Webhooks only: the HMAC key the receiver checks signatures with (at least 16 characters).",
    )


class MethodChoiceField(forms.ModelChoiceField[ContactMethod]):
    """The user's contact methods by kind and label (never by address: the form is not an audited read)."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.get_kind_display()} {obj.label}".strip()


class RuleForm(forms.Form):
    """Page one of the user's contact methods so many minutes after they are notified."""

    contact_method = MethodChoiceField(
        label="Contact method", queryset=ContactMethod.objects.none(), to_field_name="public_id"
    )
    delay_minutes = forms.IntegerField(label="After (minutes)", min_value=0, max_value=24 * 60, initial=0)
    urgency = forms.ChoiceField(label="For", choices=RuleUrgency.choices, initial=RuleUrgency.ANY)

    def __init__(self, *args: Any, methods: QuerySet[ContactMethod], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["contact_method"]
        assert isinstance(field, MethodChoiceField)  # noqa: S101 - declared just above
        field.queryset = methods


def add_domain_errors(form: forms.Form, exc: DomainError) -> None:
    """Show a service's refusal on the fields it names, or on the whole form when it names none of them."""
    named = [name for name in exc.fields if name in form.fields]
    for name in named:
        form.add_error(name, exc.detail)
    if not named:
        form.add_error(None, exc.detail)
