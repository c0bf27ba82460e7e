"""Quality rules, Spark-executed scans, results, scores and failing-row samples."""
