"""Alert intake, deduplication and grouping, incidents, timelines, runbooks, safe remediation."""
