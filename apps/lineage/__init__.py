"""OpenLineage intake, jobs and runs, dataset and column lineage, impact analysis."""
