"""A PostgreSQL trigger that makes the consent ledger append-only: an event is proof of what a person decided, so
it is never changed or deleted (a newer decision is a newer event)."""

from django.db import migrations

GUARD = r"""
CREATE OR REPLACE FUNCTION privacy_consent_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'consent events are append-only: % of event % refused', TG_OP, OLD.id
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER privacy_consent_event_guard BEFORE UPDATE OR DELETE ON privacy_consentevent
  FOR EACH ROW EXECUTE FUNCTION privacy_consent_event_guard();
"""

UNGUARD = r"""
DROP TRIGGER IF EXISTS privacy_consent_event_guard ON privacy_consentevent;
DROP FUNCTION IF EXISTS privacy_consent_event_guard();
"""


def _on_postgres(sql: str):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("privacy", "0001_initial")]

    operations = [migrations.RunPython(_on_postgres(GUARD), _on_postgres(UNGUARD))]
