"""Configuration API: read-only entries for administrators."""
