"""The Spark session every job uses: UTC, adaptive execution, Kryo; local mode unless a master is given.

Under ``spark-submit`` (locally or as an EMR step) the master and memory come from the submission; run directly
(tests, ``python -m spark.jobs.…``) it starts ``local[*]`` with a small shuffle.
"""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

LOCAL_SHUFFLE_PARTITIONS = "8"


def get_spark(app_name: str, *, master: str | None = None) -> SparkSession:
    """A session named after the job (reused when one is already active in this process)."""
    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.parquet.compression.codec", "snappy")
    )
    chosen = master or os.environ.get("ECAP_SPARK_MASTER")
    if chosen:
        builder = builder.master(chosen)
    # spark-submit starts the Python driver with a gateway to its JVM; without one, this process starts Spark itself.
    under_submit = bool(os.environ.get("PYSPARK_GATEWAY_PORT")) or "SPARK_ENV_LOADED" in os.environ
    if chosen is None and not under_submit and not os.environ.get("PYSPARK_SUBMIT_ARGS"):
        builder = (
            builder.master("local[*]")
            .config("spark.sql.shuffle.partitions", LOCAL_SHUFFLE_PARTITIONS)
            .config("spark.ui.enabled", "false")
            .config("spark.driver.memory", os.environ.get("ECAP_SPARK_DRIVER_MEMORY", "4g"))
        )
    return builder.getOrCreate()
