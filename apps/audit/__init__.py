"""The append-only, hash-chained audit log: every change and every read of personal data."""
