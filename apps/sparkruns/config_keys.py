"""Configuration keys of Spark runs (``lake.root`` and ``spark.submit_backend`` are shared keys)."""

from __future__ import annotations

from apps.configuration.registry import declare

declare("spark.timeout_seconds", "int", 3600, "Longest a Spark run may take before it is cancelled.", min_value=60)
declare(
    "spark.local_max_concurrent",
    "int",
    1,
    "Local runs at a time on this machine; more wait queued.",
    min_value=1,
    max_value=16,
)
declare(
    "spark.submit_grace_seconds",
    "int",
    120,
    "How long a run may stay submitting before the poller takes its worker for lost and submits it again (after "
    "looking it up on the backend by its run id); longer than the slowest submission.",
    min_value=1,
)
declare("spark.work_dir", "str", "", "Where local runs keep logs and status (empty: var/spark-runs).")
declare("spark.emr_bucket", "str", "", "S3 bucket for job packages, arguments and EMR logs.")
declare("spark.emr_prefix", "str", "ecap-portal", "Key prefix under the EMR bucket.")
declare(
    "spark.emr_cluster_id", "str", "", "A running EMR cluster to add steps to (empty: a transient cluster per run)."
)
declare("spark.emr_region", "str", "eu-west-1", "AWS region of the EMR cluster.")
declare("spark.emr_endpoint_url", "str", "", "Override of the AWS endpoint (tests, VPC endpoints).")
declare("spark.emr_release_label", "str", "emr-7.5.0", "EMR release for transient clusters.")
declare("spark.emr_service_role", "str", "EMR_DefaultRole", "EMR service role.")
declare("spark.emr_job_flow_role", "str", "EMR_EC2_DefaultRole", "EC2 instance profile of EMR nodes.")
