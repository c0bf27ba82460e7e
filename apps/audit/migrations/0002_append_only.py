"""The chain head row, and PostgreSQL triggers that make audit events append-only."""

from django.db import migrations

GUARD = r"""
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    -- The one update allowed: sealing a pending event, changing nothing but its seal.
    IF OLD.hash IS NULL AND NEW.hash IS NOT NULL
       AND (to_jsonb(OLD) - ARRAY['seq', 'prev_hash', 'hash', 'sealed_at'])
         = (to_jsonb(NEW) - ARRAY['seq', 'prev_hash', 'hash', 'sealed_at']) THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: UPDATE of event % refused', OLD.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- The one delete allowed: the retention purge of events covered by a verified checkpoint.
  IF current_setting('ecap.audit_purge', true) = 'on' AND OLD.seq IS NOT NULL
     AND OLD.seq <= (SELECT max(seq) FROM audit_auditcheckpoint) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit events are append-only: DELETE of event % refused', OLD.id
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE FUNCTION audit_event_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Only the test suite's connections (started with -c ecap.allow_truncate=on) may empty the table between tests.
  IF current_setting('ecap.allow_truncate', true) = 'on' THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'audit events are append-only: TRUNCATE refused' USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
  FOR EACH ROW EXECUTE FUNCTION audit_event_guard();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent
  FOR EACH STATEMENT EXECUTE FUNCTION audit_event_no_truncate();
"""

UNGUARD = """
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_guard();
DROP FUNCTION IF EXISTS audit_event_no_truncate();
"""


def forwards(apps, schema_editor):
    apps.get_model("audit", "AuditChainHead").objects.using(schema_editor.connection.alias).get_or_create(pk=1)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNGUARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
