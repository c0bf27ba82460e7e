"""Pure PySpark code of the lake: its schema, jobs, data generator and submit backends. Never imports Django."""
