"""The auditors' API under /api/v1/audit/: events, CSV export, access and compliance reports, chain verification."""
