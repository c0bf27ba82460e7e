"""factory_boy factories of the catalog, and helpers to draw lineage edges directly for catalog tests."""

from __future__ import annotations

import factory
from django.utils import timezone

from apps.catalog.choices import SuggestionStatus
from apps.catalog.models import DataCategory, Dataset, Field, GlossaryTerm, PiiSuggestion

LAKE = "file:///srv/lake"


class DatasetFactory(factory.django.DjangoModelFactory):
    """A lake dataset ``raw/table_N``."""

    class Meta:
        model = Dataset

    namespace = LAKE
    name = factory.Sequence(lambda n: f"raw/table_{n}")
    search_text = factory.LazyAttribute(lambda d: d.name)


class FieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Field

    dataset = factory.SubFactory(DatasetFactory)
    name = factory.Sequence(lambda n: f"column_{n}")
    data_type = "string"
    ordinal = factory.Sequence(lambda n: n)


class GlossaryTermFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GlossaryTerm

    name = factory.Sequence(lambda n: f"Term {n}")
    definition = "A business term."


class PiiSuggestionFactory(factory.django.DjangoModelFactory):
    """A pending e-mail suggestion with strong evidence."""

    class Meta:
        model = PiiSuggestion

    field = factory.SubFactory(FieldFactory)
    category = factory.LazyFunction(lambda: DataCategory.objects.get(key="user.contact.email"))
    detector = "email"
    confidence = 0.97
    ratio = 0.96
    matched = 96
    sampled = 100
    name_hint = True
    reason = "96% of 100 sampled values are valid e-mail addresses; column name suggests e-mail"
    evidence = "email/r0.95/c0.9/h"
    status = SuggestionStatus.PENDING


def field_edge(source: Field, target: Field, *, subtype: str = "IDENTITY", kind: str = "DIRECT", masking: bool = False):
    """A current column-lineage edge, as the lineage app stores it."""
    from apps.lineage.models import FieldEdge

    return FieldEdge.objects.create(
        source=source,
        target=target,
        transformation_type=kind,
        transformation_subtype=subtype,
        masking=masking,
        last_seen=timezone.now(),
    )


def dataset_edge(source: Dataset, target: Dataset):
    """A current dataset-lineage edge (a downstream consumer of ``source``)."""
    from apps.lineage.models import DatasetEdge

    return DatasetEdge.objects.create(source=source, target=target, last_seen=timezone.now())
