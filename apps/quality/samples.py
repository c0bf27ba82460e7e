"""Failing-row samples as a viewer may see them: personal columns masked unless the viewer may see them, and every
showing of personal values recorded as an audited read.

A column is personal when its catalog field carries a ``user.*`` data category, is an identity of data subjects, or
has a PII suggestion still waiting for review (unknown counts as personal until a steward decides). Personal values
are shown to holders of ``quality.unmask_samples`` and to the owners and stewards of the dataset; everyone else sees
them masked. Samples are stored encrypted (``QualityResult.samples``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from apps.audit.services import audit_record_read
from apps.catalog.choices import IdentityKind, SuggestionStatus
from apps.catalog.models import Dataset
from apps.catalog.models import Field as CatalogField
from apps.catalog.services import PERSONAL_ROOT
from apps.catalog.stewardship import can_steward

MASK = "••••"
UNMASK_PERMISSION = "quality.unmask_samples"
SAMPLES_PURPOSE = "data quality: failing-row samples"


@dataclass(frozen=True)
class SamplesView:
    """Samples prepared for one viewer."""

    columns: list[str]
    rows: list[dict[str, Any]]
    personal: list[str]
    masked: bool


def personal_columns(dataset: Dataset, columns: list[str]) -> set[str]:
    """The columns among ``columns`` that hold personal data according to the catalog."""
    if not columns:
        return set()
    personal = (
        Q(category_links__category__key__startswith=PERSONAL_ROOT + ".")
        | ~Q(identity_kind=IdentityKind.NONE)
        | Q(pii_suggestions__status=SuggestionStatus.PENDING)
    )
    return set(
        CatalogField.objects.filter(dataset=dataset, name__in=columns).filter(personal).values_list("name", flat=True)
    )


def can_unmask(user: Any, dataset: Dataset) -> bool:
    """Whether ``user`` may see personal values in this dataset's samples."""
    if user is None or not getattr(user, "is_active", False):
        return False
    return bool(user.has_perm(UNMASK_PERMISSION)) or can_steward(user=user, dataset=dataset)


def mask_value(value: Any) -> Any:
    """A personal value hidden; a missing value stays missing (it is not personal data)."""
    return None if value is None else MASK


@dataclass(frozen=True)
class Viewer:
    """What decides how one user sees one dataset's samples, worked out once for many results."""

    user: Any
    personal: frozenset[str]
    may_unmask: bool


def viewer_for(*, dataset: Dataset, user: Any, columns: list[str]) -> Viewer:
    """The masking decision of ``user`` for ``columns`` of ``dataset`` (one catalog query, one permission check)."""
    return Viewer(
        user=user,
        personal=frozenset(personal_columns(dataset, columns)),
        may_unmask=can_unmask(user, dataset),
    )


def samples_view(
    *, result: Any, user: Any, purpose: str = SAMPLES_PURPOSE, viewer: Viewer | None = None
) -> SamplesView:
    """The samples of a ``QualityResult`` for ``user``: masked, or shown in full and audited as a read. A page
    showing many results of one dataset passes a ``viewer`` from ``viewer_for`` instead of deciding per result."""
    rows: list[dict[str, Any]] = list(result.samples or [])
    columns = list(result.sample_columns or (list(rows[0]) if rows else []))
    if viewer is None:
        viewer = viewer_for(dataset=result.scan.dataset, user=user, columns=columns)
    personal = sorted(viewer.personal & set(columns))
    if not personal or not rows:
        return SamplesView(columns=columns, rows=rows, personal=personal, masked=False)
    if viewer.may_unmask:
        audit_record_read(target=result, fields_shown=personal, purpose=purpose, rows=len(rows))
        return SamplesView(columns=columns, rows=rows, personal=personal, masked=False)
    hidden = set(personal)
    masked = [{c: mask_value(v) if c in hidden else v for c, v in row.items()} for row in rows]
    return SamplesView(columns=columns, rows=masked, personal=personal, masked=True)
