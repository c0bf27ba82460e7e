"""The timeline is append-only on PostgreSQL; seed the classification rules and runbooks of the platform's alerts."""

from pathlib import Path

from django.db import migrations

RUNBOOK_DIR = Path(__file__).resolve().parent.parent / "runbooks"

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

# (name, position, matchers, severity, priority, impact, impact_text, urgency, escalation policy)
RULES = [
    (
        "P1: security incident",
        10,
        'alert_type="security_incident"',
        "critical",
        "P1",
        "high",
        "Possible security incident: customer data or accounts at risk.",
        "high",
        "critical",
    ),
    (
        "P1: critical on a core customer service",
        20,
        'severity="critical", service=~"payments|fraud-detection|api|authentication"',
        "",
        "P1",
        "critical",
        "Customers cannot buy, pay or sign in.",
        "high",
        "critical",
    ),
    (
        "P1: business-critical tier",
        30,
        'tier="business-critical"',
        "",
        "P1",
        "high",
        "A business-critical service is degraded.",
        "high",
        "critical",
    ),
    ("P2: any critical", 40, 'severity="critical"', "", "P2", "high", "", "high", "critical"),
    ("P2: escalation level 1", 50, 'escalation_level="1"', "", "P2", "medium", "", "high", "critical"),
    (
        "P4: predictive and capacity (level 3)",
        60,
        'escalation_level="3"',
        "",
        "P4",
        "low",
        "No customer impact yet; act within a business day.",
        "low",
        "standard",
    ),
    ("P3: warning (level 2)", 70, 'severity="warning"', "", "P3", "medium", "", "high", "high"),
]


def _front_matter(text):
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    meta = {}
    for line in lines[1:end]:
        key, _, value = line.partition(":")
        meta[key.strip()] = value.strip()
    return meta, "\n".join(lines[end + 1 :]).strip() + "\n"


def seed(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD, params=None)
    Rule = apps.get_model("incidents", "ClassificationRule")
    Runbook = apps.get_model("incidents", "Runbook")
    for path in sorted(RUNBOOK_DIR.glob("*.md")):
        meta, body = _front_matter(path.read_text(encoding="utf-8"))
        names = [n.strip() for n in meta.get("alertnames", "").strip("[]").split(",") if n.strip()]
        Runbook.objects.update_or_create(
            slug=meta.get("slug") or path.stem.lower(),
            defaults={
                "title": meta.get("title") or path.stem,
                "alertnames": names or [path.stem],
                "matchers": meta.get("matchers", ""),
                "body": body,
            },
        )
    for name, position, matchers, severity, priority, impact, impact_text, urgency, policy in RULES:
        Rule.objects.update_or_create(
            name=name,
            defaults={
                "position": position,
                "matchers": matchers,
                "severity": severity,
                "priority": priority,
                "impact": impact,
                "impact_text": impact_text,
                "urgency": urgency,
                "escalation_policy": policy,
            },
        )


def unseed(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNGUARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
