"""The graph change log and the PostgreSQL triggers that fill it: one row per statement that adds or removes dataset
edges (or empties the table), one per edge re-pointed to other datasets or another job, and one per dataset or job
whose name changes. Updates that touch nothing a graph answer shows (an edge's ``last_seen``, on every run) record
nothing, so the log grows only when the graph does."""

from django.db import migrations, models

FUNCTION = """
CREATE OR REPLACE FUNCTION lineage_graph_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Nested, so the transition table is only planned where it exists (statement-level INSERT and DELETE).
  IF TG_LEVEL = 'STATEMENT' AND TG_OP IN ('INSERT', 'DELETE') THEN
    IF NOT EXISTS (SELECT 1 FROM changed_rows) THEN
      RETURN NULL;  -- an upsert that only refreshed existing edges, or a delete that matched nothing
    END IF;
  END IF;
  INSERT INTO lineage_graphchange (transaction_id, recorded_at)
  VALUES (CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT), now());
  RETURN NULL;
END
$$;
"""

TRIGGERS = """
CREATE TRIGGER lineage_graph_edges_added AFTER INSERT ON lineage_datasetedge
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION lineage_graph_change();
CREATE TRIGGER lineage_graph_edges_removed AFTER DELETE ON lineage_datasetedge
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION lineage_graph_change();
CREATE TRIGGER lineage_graph_edges_emptied AFTER TRUNCATE ON lineage_datasetedge
  FOR EACH STATEMENT EXECUTE FUNCTION lineage_graph_change();
CREATE TRIGGER lineage_graph_edges_moved AFTER UPDATE ON lineage_datasetedge FOR EACH ROW
  WHEN ((OLD.source_id, OLD.target_id, OLD.job_id) IS DISTINCT FROM (NEW.source_id, NEW.target_id, NEW.job_id))
  EXECUTE FUNCTION lineage_graph_change();
CREATE TRIGGER lineage_graph_dataset_renamed AFTER UPDATE ON catalog_dataset FOR EACH ROW
  WHEN ((OLD.namespace, OLD.name, OLD.public_id) IS DISTINCT FROM (NEW.namespace, NEW.name, NEW.public_id))
  EXECUTE FUNCTION lineage_graph_change();
CREATE TRIGGER lineage_graph_job_renamed AFTER UPDATE ON lineage_job FOR EACH ROW
  WHEN ((OLD.namespace, OLD.name) IS DISTINCT FROM (NEW.namespace, NEW.name))
  EXECUTE FUNCTION lineage_graph_change();
"""

DROP = """
DROP TRIGGER IF EXISTS lineage_graph_edges_added ON lineage_datasetedge;
DROP TRIGGER IF EXISTS lineage_graph_edges_removed ON lineage_datasetedge;
DROP TRIGGER IF EXISTS lineage_graph_edges_emptied ON lineage_datasetedge;
DROP TRIGGER IF EXISTS lineage_graph_edges_moved ON lineage_datasetedge;
DROP TRIGGER IF EXISTS lineage_graph_dataset_renamed ON catalog_dataset;
DROP TRIGGER IF EXISTS lineage_graph_job_renamed ON lineage_job;
DROP FUNCTION IF EXISTS lineage_graph_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)
        schema_editor.execute(TRIGGERS)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0005_dataset_schema_reported_at"),
        ("lineage", "0003_covering_walk_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="GraphChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("transaction_id", models.BigIntegerField(db_index=True)),
                ("recorded_at", models.DateTimeField(db_index=True)),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
