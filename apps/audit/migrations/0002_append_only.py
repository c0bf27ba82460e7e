"""The chain head row, and PostgreSQL triggers that make the audit log append-only: events enter pending and are
only ever sealed, the head only advances onto sealed events, checkpoints name real events and are never changed."""

from django.db import migrations

GUARD = r"""
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    -- The one update allowed: sealing a pending event, changing nothing but its seal.
    IF OLD.hash IS NULL AND NEW.hash IS NOT NULL
       AND (NEW.id, NEW.occurred_at, NEW.actor_type, NEW.actor_id, NEW.actor_label, NEW.actor_token, NEW.ip,
            NEW.user_agent, NEW.request_id, NEW.action, NEW.target_type, NEW.target_id, NEW.target_label,
            NEW.changes, NEW.purpose, NEW.outcome, NEW.risk_score, NEW.risk_factors, NEW.details)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.occurred_at, OLD.actor_type, OLD.actor_id, OLD.actor_label, OLD.actor_token, OLD.ip,
            OLD.user_agent, OLD.request_id, OLD.action, OLD.target_type, OLD.target_id, OLD.target_label,
            OLD.changes, OLD.purpose, OLD.outcome, OLD.risk_score, OLD.risk_factors, OLD.details) THEN
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

CREATE OR REPLACE FUNCTION audit_event_insert_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Events enter the chain only through the sealer: nobody may insert one that claims to be sealed already.
  IF NEW.seq IS NOT NULL OR NEW.hash IS NOT NULL OR NEW.prev_hash IS NOT NULL THEN
    RAISE EXCEPTION 'audit events are inserted pending; only the sealer gives them a place in the chain'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'the audit chain head cannot be deleted' USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- The head only moves forward, and only onto a sealed event with that very hash.
  IF NEW.seq < OLD.seq OR (NEW.seq > 0 AND NEW.hash IS DISTINCT FROM
      (SELECT hash FROM audit_auditevent WHERE seq = NEW.seq)) THEN
    RAISE EXCEPTION 'the audit chain head may only advance to a sealed event' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION audit_checkpoint_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    RAISE EXCEPTION 'audit checkpoints are append-only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- A checkpoint names an existing sealed event, by its hash, before the purge deletes it.
  IF NEW.hash IS DISTINCT FROM (SELECT hash FROM audit_auditevent WHERE seq = NEW.seq) THEN
    RAISE EXCEPTION 'an audit checkpoint must name a sealed event and its hash' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER audit_event_insert_pending BEFORE INSERT ON audit_auditevent
  FOR EACH ROW EXECUTE FUNCTION audit_event_insert_pending();
CREATE TRIGGER audit_head_guard BEFORE UPDATE OR DELETE ON audit_auditchainhead
  FOR EACH ROW EXECUTE FUNCTION audit_head_guard();
CREATE TRIGGER audit_checkpoint_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_auditcheckpoint
  FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_guard();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_auditcheckpoint
  FOR EACH STATEMENT EXECUTE FUNCTION audit_event_no_truncate();
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
  FOR EACH ROW EXECUTE FUNCTION audit_event_guard();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent
  FOR EACH STATEMENT EXECUTE FUNCTION audit_event_no_truncate();
"""

UNGUARD = """
DROP TRIGGER IF EXISTS audit_event_insert_pending ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_head_guard ON audit_auditchainhead;
DROP TRIGGER IF EXISTS audit_checkpoint_guard ON audit_auditcheckpoint;
DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_auditcheckpoint;
DROP FUNCTION IF EXISTS audit_event_insert_pending();
DROP FUNCTION IF EXISTS audit_head_guard();
DROP FUNCTION IF EXISTS audit_checkpoint_guard();
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
