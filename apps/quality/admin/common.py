"""What the quality admin pages share: stewardship scoping of querysets and choices, domain errors on forms."""

from __future__ import annotations

import copy
from typing import Any, cast

from django import forms
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from apps.catalog.models import Dataset
from apps.catalog.stewardship import datasets_stewarded, is_catalog_admin
from apps.common.errors import DomainError
from apps.common.models import User


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _stewarded_only(request: HttpRequest, perm: str) -> bool:
    """Whether the user works on their own datasets only: a steward, not an administrator nor a read-only role."""
    return not is_catalog_admin(request.user) and request.user.has_perm(perm)


def _dataset_choices(request: HttpRequest, *also: int | None) -> QuerySet[Dataset]:
    """The datasets a form may point at: those the user stewards, and the ones the object already points at."""
    stewarded = datasets_stewarded(user=request.user)
    if is_catalog_admin(request.user):
        return stewarded.order_by("name")
    keep = [pk for pk in also if pk is not None]
    return Dataset.objects.filter(Q(pk__in=stewarded.values("pk")) | Q(pk__in=keep)).order_by("name")


def _narrow(form: Any, name: str, queryset: QuerySet[Any]) -> None:
    """Limit the choices of a form class's model choice field (when the form has it)."""
    field = form.base_fields.get(name)
    if isinstance(field, forms.ModelChoiceField):
        # A declared field is shared by every form class the admin builds: narrow a copy, per request.
        narrowed = copy.deepcopy(field)
        narrowed.queryset = queryset
        form.base_fields[name] = narrowed


def _add_domain_errors(form: forms.BaseForm, exc: DomainError) -> None:
    """Put a domain error's ``fields`` on the form's fields of the same name (unless one already failed to clean),
    the others, or the detail when it names none, on the form as a whole."""
    for name, problems in exc.fields.items():
        if name not in form.fields:
            form.add_error(None, [f"{name}: {p}" for p in problems])
        elif name not in form.errors:
            form.add_error(name, list(problems))
    if not exc.fields:
        form.add_error(None, exc.detail)
