"""Dataset search: PostgreSQL full-text search over ``Dataset.search_text`` (names, description, domain, tags, field
names, glossary terms), ranked with ``ts_rank``; ``icontains`` on every word where there is no PostgreSQL (the
embedded SQLite mode).

The vector expression is exactly the one the GIN index of migration 0004 is built on, so the match is an index scan.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import connection
from django.db.models import F, FloatField, Func, Q, QuerySet, Value

from apps.catalog.models import Dataset

SEARCH_CONFIG = "english"


class DatasetVector(Func):
    """``to_tsvector('english', COALESCE(search_text, ''))``, the indexed expression."""

    template = "to_tsvector('english'::regconfig, COALESCE(%(expressions)s, ''))"
    output_field = SearchVectorField()


def dataset_search(*, queryset: QuerySet[Dataset], text: str) -> QuerySet[Dataset]:
    """``queryset`` narrowed to datasets matching ``text``, best match first (``search_rank`` annotated)."""
    words = text.strip()[:200]
    if not words:
        return queryset
    if connection.vendor != "postgresql":
        condition = Q()
        for word in words.split():
            condition &= Q(search_text__icontains=word) | Q(name__icontains=word)
        return queryset.filter(condition).annotate(search_rank=Value(1.0, output_field=FloatField()))
    # websearch syntax: plain words are ANDed, "quoted phrases" and -exclusions work, and bad input never errors.
    query = SearchQuery(words, config=SEARCH_CONFIG, search_type="websearch")
    vector = DatasetVector(F("search_text"))
    return (
        queryset.annotate(search_vector=vector, search_rank=SearchRank(vector, query))
        .filter(search_vector=query)
        .order_by("-search_rank", "name")
    )
