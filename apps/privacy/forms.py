"""Forms of the compliance staff's privacy pages: the queue's filters, the intake of a request, the subject lookup.

They check shapes only; the services decide what is valid (an e-mail address, a receipt not in the future, …) and
``add_domain_errors`` puts what they refuse on the fields it concerns.
"""

from __future__ import annotations

from django import forms

from apps.common.errors import DomainError
from apps.privacy.choices import Channel, IdentityKind, Regime, RequestStatus, RequestType
from apps.privacy.page_selectors import DUE_OVERDUE, DUE_SOON, STATUS_ALL, QueueFilters

STATUS_CHOICES = [("", "Open requests"), (STATUS_ALL, "Any status"), *RequestStatus.choices]
TYPE_CHOICES = [("", "Any type"), *RequestType.choices]
REGIME_CHOICES = [("", "Any regime"), *Regime.choices]
DUE_CHOICES = [("", "Any deadline"), (DUE_SOON, "Due within 7 days"), (DUE_OVERDUE, "Overdue")]


class QueueFilterForm(forms.Form):
    """The queue's GET filters; a value that is not one of the choices is ignored, never an error page."""

    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES)
    type = forms.ChoiceField(required=False, choices=TYPE_CHOICES)
    regime = forms.ChoiceField(required=False, choices=REGIME_CHOICES)
    jurisdiction = forms.CharField(required=False, max_length=10)
    due = forms.ChoiceField(required=False, choices=DUE_CHOICES)

    def filters(self) -> QueueFilters:
        """The filters the valid parameters give (invalid ones are left out)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return QueueFilters(
            status=data.get("status", ""),
            request_type=data.get("type", ""),
            regime=data.get("regime", ""),
            jurisdiction=data.get("jurisdiction", "").strip(),
            due=data.get("due", ""),
        )


class IntakeForm(forms.Form):
    """A request taken in by staff (by phone, post, e-mail or in person)."""

    kind = forms.ChoiceField(label="Identity kind", choices=IdentityKind.choices, initial=IdentityKind.EMAIL)
    value = forms.CharField(label="Identity", max_length=320, help_text="The e-mail address, customer id or phone.")
    request_type = forms.ChoiceField(label="Request", choices=RequestType.choices)
    channel = forms.ChoiceField(label="Received by", choices=Channel.choices, initial=Channel.EMAIL)
    jurisdiction = forms.CharField(
        label="Jurisdiction", max_length=10, required=False, help_text="Where the subject is, e.g. PT, DE, US-CA."
    )
    received_at = forms.DateTimeField(
        label="Received at",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="In the controller's time zone; empty means now.",
    )
    details = forms.CharField(
        label="What the subject asked",
        required=False,
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="In their words.",
    )


class LookupForm(forms.Form):
    """Find a subject by one identity (sent in the POST body, never in a URL)."""

    kind = forms.ChoiceField(label="Identity kind", choices=IdentityKind.choices, initial=IdentityKind.EMAIL)
    value = forms.CharField(label="Identity", max_length=320)


def add_domain_errors(form: forms.Form, exc: DomainError) -> None:
    """Show a service's refusal on the fields it names, or on the whole form when it names none of them."""
    named = [name for name in exc.fields if name in form.fields]
    for name in named:
        form.add_error(name, exc.detail)
    if not named:
        form.add_error(None, exc.detail)
