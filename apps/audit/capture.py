"""Capture of every create, update and delete of governed models, whatever wrote it.

On PostgreSQL an AFTER ROW trigger on each governed table writes a pending audit event, so ``bulk_create``,
queryset ``update()``/``delete()`` and raw SQL are captured like ``save()``. Apps declare their governed models as
``audited_models`` on their AppConfig; the triggers are (re)installed after every migrate. Elsewhere (the embedded
SQLite mode) model signals capture what goes through the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import connection, models

from apps.audit.choices import AuditAction

MASK = "********"


@dataclass(frozen=True)
class Governed:
    """A governed model (or many-to-many table, ``field`` naming the relation) and how its changes are recorded."""

    model: str  # "app_label.ModelName"
    field: str | None = None  # many-to-many field whose through table is captured
    sensitivity: int = 10  # risk points every change carries
    masked: tuple[str, ...] = ()  # columns whose values never reach the log (secrets, personal data)
    ignored: tuple[str, ...] = ()  # columns whose change alone is not worth an event
    insert_action: str = AuditAction.CREATE
    update_action: str = AuditAction.UPDATE
    delete_action: str = AuditAction.DELETE

    def model_class(self) -> type[models.Model]:
        model = apps.get_model(self.model)
        if self.field is None:
            return model
        return model._meta.get_field(self.field).remote_field.through

    @property
    def target_type(self) -> str:
        return self.model_class()._meta.label_lower


def governed_models() -> list[Governed]:
    """Every governed model declared by an installed app."""
    declared: list[Governed] = []
    for config in apps.get_app_configs():
        declared.extend(getattr(config, "audited_models", []))
    return declared


CAPTURE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ctx jsonb := coalesce(nullif(replace(current_setting('ecap.audit_context', true), '\u001f', ''), ''), '{}')::jsonb;
  masked text[] := coalesce(string_to_array(nullif(TG_ARGV[2], ''), ','), '{}');
  ignored text[] := coalesce(string_to_array(nullif(TG_ARGV[3], ''), ','), '{}');
  old_row jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
  new_row jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
  rec jsonb := coalesce(new_row, old_row);
  diff jsonb := '{}';
  k text;
  val_old jsonb;
  val_new jsonb;
  act text;
  label text := '';
  stamp timestamptz := clock_timestamp();
  doc jsonb;
BEGIN
  FOR k IN SELECT jsonb_object_keys(rec) LOOP
    IF TG_OP = 'UPDATE' AND (old_row->k IS NOT DISTINCT FROM new_row->k OR k = ANY(ignored)) THEN
      CONTINUE;
    END IF;
    val_old := CASE WHEN k = ANY(masked) THEN to_jsonb('********'::text) ELSE coalesce(old_row->k, 'null') END;
    val_new := CASE WHEN k = ANY(masked) THEN to_jsonb('********'::text) ELSE coalesce(new_row->k, 'null') END;
    diff := diff || jsonb_build_object(k, CASE TG_OP
      WHEN 'INSERT' THEN jsonb_build_object('new', val_new)
      WHEN 'DELETE' THEN jsonb_build_object('old', val_old)
      ELSE jsonb_build_object('old', val_old, 'new', val_new) END);
  END LOOP;
  IF TG_OP = 'UPDATE' AND diff = '{}'::jsonb THEN
    RETURN NULL;
  END IF;
  act := CASE TG_OP WHEN 'INSERT' THEN TG_ARGV[4] WHEN 'UPDATE' THEN TG_ARGV[5] ELSE TG_ARGV[6] END;
  FOREACH k IN ARRAY ARRAY['username', 'name', 'key'] LOOP
    IF rec ? k AND NOT (k = ANY(masked)) THEN
      label := left(replace(rec->>k, chr(31), ''), 200);
      EXIT;
    END IF;
  END LOOP;
  doc := jsonb_build_object(
    'occurred_at', to_char(stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'actor', jsonb_build_object(
      'type', coalesce(ctx->>'actor_type', 'system'),
      'id', coalesce(ctx->>'actor_id', ''),
      'label', coalesce(nullif(ctx->>'actor_label', ''), 'db:' || current_user),
      'token', coalesce(ctx->>'actor_token', '')),
    'ip', coalesce(ctx->>'ip', ''),
    'user_agent', coalesce(ctx->>'user_agent', ''),
    'request_id', coalesce(ctx->>'request_id', ''),
    'action', act,
    'target', jsonb_build_object('type', TG_ARGV[0], 'id', coalesce(rec->>'public_id', rec->>'id', ''), 'label', label),
    'changes', diff,
    'purpose', coalesce(ctx->>'purpose', ''),
    'outcome', 'success',
    'risk', jsonb_build_object('score', TG_ARGV[1]::int,
                               'factors', CASE WHEN TG_ARGV[1]::int > 0
                                          THEN jsonb_build_object('sensitivity', TG_ARGV[1]::int) ELSE '{}'::jsonb END),
    'details', jsonb_build_object('source', 'row trigger', 'table', TG_TABLE_NAME));
  INSERT INTO audit_auditevent (occurred_at, actor_type, actor_id, actor_label, actor_token, ip, user_agent,
                                request_id, action, target_type, target_id, target_label, changes, purpose, outcome,
                                risk_score, risk_factors, details)
  VALUES (stamp, doc->'actor'->>'type', doc->'actor'->>'id', doc->'actor'->>'label', doc->'actor'->>'token',
          doc->>'ip', left(doc->>'user_agent', 300), doc->>'request_id', act, TG_ARGV[0], doc->'target'->>'id',
          label, diff, doc->>'purpose', 'success', TG_ARGV[1]::int, doc->'risk'->'factors', doc->'details');
  RETURN NULL;
END
$$;
"""


def _trigger_name(table: str) -> str:
    return f"audit_capture_{table}"[:63]


def triggers_sync() -> list[str]:
    """Create or replace the capture trigger of every governed table (PostgreSQL); returns the tables."""
    if connection.vendor != "postgresql":
        return []
    tables = []
    with connection.cursor() as cursor:
        cursor.execute(CAPTURE_FUNCTION)
        for spec in governed_models():
            model = spec.model_class()
            table = model._meta.db_table
            args = [
                spec.target_type,
                str(spec.sensitivity),
                ",".join(_columns(model, spec.masked)),
                ",".join(_columns(model, spec.ignored)),
                spec.insert_action,
                spec.update_action,
                spec.delete_action,
            ]
            quoted = ", ".join("'" + a.replace("'", "''") + "'" for a in args)
            name = _trigger_name(table)
            cursor.execute(f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"')
            cursor.execute(
                f'CREATE TRIGGER "{name}" AFTER INSERT OR UPDATE OR DELETE ON "{table}" '
                f"FOR EACH ROW EXECUTE FUNCTION audit_capture({quoted})"
            )
            tables.append(table)
    return tables


def _columns(model: type[models.Model], names: tuple[str, ...]) -> list[str]:
    """Database column names of the given fields (``user`` → ``user_id``)."""
    out = []
    for name in names:
        field = model._meta.get_field(name)
        out.append(getattr(field, "column", name) or name)
    return out


# --- the embedded (SQLite) mode: model signals -----------------------------------------------------------------
def signals_connect() -> None:
    """Capture ORM saves and deletes of governed models where there are no triggers (SQLite)."""
    from django.db.models.signals import post_delete, post_save

    for spec in governed_models():
        if spec.field is not None:
            continue
        model = spec.model_class()
        post_save.connect(_on_save(spec), sender=model, weak=False, dispatch_uid=f"audit-save-{spec.model}")
        post_delete.connect(_on_delete(spec), sender=model, weak=False, dispatch_uid=f"audit-delete-{spec.model}")


def _values(spec: Governed, instance: models.Model, side: str) -> dict[str, Any]:
    out = {}
    for field in instance._meta.concrete_fields:
        if field.name in spec.ignored:
            continue
        value = MASK if field.name in spec.masked else field.value_to_string(instance)
        out[field.attname] = {side: value}
    return out


def _on_save(spec: Governed) -> Any:
    def receiver(sender: Any, instance: models.Model, created: bool, **_: Any) -> None:
        from apps.audit.services import audit_record

        audit_record(
            action=spec.insert_action if created else spec.update_action,
            target=instance,
            changes=_values(spec, instance, "new"),
            risk_factors={"sensitivity": spec.sensitivity},
            details={"source": "model signal"},
        )

    return receiver


def _on_delete(spec: Governed) -> Any:
    def receiver(sender: Any, instance: models.Model, **_: Any) -> None:
        from apps.audit.services import audit_record

        audit_record(
            action=spec.delete_action,
            target=instance,
            changes=_values(spec, instance, "old"),
            risk_factors={"sensitivity": spec.sensitivity},
            details={"source": "model signal"},
        )

    return receiver
