"""The data-quality API under /api/v1/quality/: rules, scans, results with their samples, and per-dataset quality."""
