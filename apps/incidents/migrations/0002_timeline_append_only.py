"""The incident timeline is append-only on PostgreSQL."""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION incidents_timeline_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'incident timeline entries are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
DROP TRIGGER IF EXISTS incidents_timeline_append_only ON incidents_timelineentry;
CREATE TRIGGER incidents_timeline_append_only BEFORE UPDATE OR DELETE ON incidents_timelineentry
  FOR EACH ROW EXECUTE FUNCTION incidents_timeline_append_only();
"""
UNGUARD = """
DROP TRIGGER IF EXISTS incidents_timeline_append_only ON incidents_timelineentry;
DROP FUNCTION IF EXISTS incidents_timeline_append_only();
"""


def guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD, params=None)


def unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNGUARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]

    operations = [migrations.RunPython(guard, unguard)]
