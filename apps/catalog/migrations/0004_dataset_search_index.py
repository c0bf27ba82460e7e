"""A GIN index on the full-text vector of ``Dataset.search_text``, on PostgreSQL only (the embedded SQLite mode
searches with ``icontains``). Built concurrently so a live table is not locked; the expression must stay the one
``apps.catalog.search.SEARCH_VECTOR`` builds, or the planner will not use it."""

from __future__ import annotations

from django.db import migrations

INDEX = "catalog_dataset_search_gin"
CREATE = (
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON catalog_dataset "
    "USING gin (to_tsvector('english'::regconfig, COALESCE(search_text, '')))"
)
DROP = f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("catalog", "0003_taxonomy_and_retention")]

    operations = [migrations.RunPython(create, drop)]
