"""Data-quality scans: an engine-neutral rule model, its Spark SQL renderer, and the one-pass Spark scan."""
