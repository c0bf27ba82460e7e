"""The S3 rewriter against moto's S3 on loopback: a staged part replaces its target by a server-side copy, staging is
cleaned up, a staging prefix with no or several parts is refused with the target untouched, leftovers are swept, and
checksums are SHA-256 of the bytes. Spark cannot write to s3a here, so the tests put the staged objects themselves,
where Spark would write them."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from spark.privacy import rewrite
from tests.spark.emr_helpers import REGION, moto_server

DATASET = "lake/raw/user_events"
TARGET = f"{DATASET}/event_date=2025-01-01/part-00000-abc.c000.snappy.parquet"
OLD, NEW = b"PAR1 old bytes PAR1", b"PAR1 the replacement, longer than before PAR1"


@dataclass(frozen=True)
class Bucket:
    """A fresh bucket on the moto server, a client to look into it, and the rewriter under test."""

    name: str
    s3: Any
    rewriter: rewrite.Rewriter

    def uri(self, key: str, scheme: str = "s3") -> str:
        return f"{scheme}://{self.name}/{key}"

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.name, Key=key, Body=body)

    def get(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.name, Key=key)["Body"].read())

    def keys(self, prefix: str = "") -> list[str]:
        answer = self.s3.list_objects_v2(Bucket=self.name, Prefix=prefix)
        return sorted(o["Key"] for o in answer.get("Contents", []))


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """Dummy credentials only (nothing of this host's AWS configuration); the rewriter finds moto via the env var."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv(rewrite.ENDPOINT_ENV, moto_endpoint)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    name = f"ecap-lake-{secrets.token_hex(6)}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    found = rewrite.rewriter_for(f"s3://{name}/{DATASET}")
    assert isinstance(found, rewrite.S3Rewriter)
    return Bucket(name=name, s3=s3, rewriter=found)


def stage(bucket: Bucket, staging_uri: str, position: int, *parts: bytes) -> str:
    """Write what Spark leaves in a staging directory: the part files and a ``_SUCCESS`` marker."""
    _, prefix = rewrite.s3_location(f"{staging_uri}/{position}")
    for number, body in enumerate(parts):
        bucket.put(f"{prefix}/part-{number:05d}-{secrets.token_hex(4)}-c000.snappy.parquet", body)
    bucket.put(f"{prefix}/_SUCCESS", b"")
    return f"{staging_uri}/{position}"


@pytest.mark.parametrize("scheme", ["s3", "s3a"])
def test_a_staged_part_replaces_its_target_and_staging_is_removed(bucket: Bucket, scheme: str) -> None:
    bucket.put(TARGET, OLD)
    bucket.put(f"{DATASET}/event_date=2025-01-02/part-00001.snappy.parquet", b"a neighbour")
    staging = bucket.rewriter.staging(bucket.uri(DATASET, scheme), "run-1")
    assert staging == bucket.uri(f"{DATASET}/{rewrite.STAGING_PREFIX}run-1", scheme)
    staged = stage(bucket, staging, 0, NEW)
    assert bucket.rewriter.checksum(bucket.uri(TARGET, scheme)) == hashlib.sha256(OLD).hexdigest()

    bucket.rewriter.commit(staged, bucket.uri(TARGET, scheme))

    assert bucket.get(TARGET) == NEW
    assert bucket.rewriter.checksum(bucket.uri(TARGET, scheme)) == hashlib.sha256(NEW).hexdigest()
    assert bucket.keys(f"{DATASET}/{rewrite.STAGING_PREFIX}") == []
    assert bucket.get(f"{DATASET}/event_date=2025-01-02/part-00001.snappy.parquet") == b"a neighbour"
    bucket.rewriter.discard(staging)  # nothing left to discard: still fine
    assert bucket.keys(DATASET) == sorted([TARGET, f"{DATASET}/event_date=2025-01-02/part-00001.snappy.parquet"])


def test_an_object_above_the_multipart_threshold_is_copied_whole(bucket: Bucket) -> None:
    big = os.urandom(9 << 20)  # boto3's managed copy switches to a multipart copy above 8 MiB
    bucket.put(TARGET, OLD)
    staging = bucket.rewriter.staging(bucket.uri(DATASET), "run-big")
    bucket.rewriter.commit(stage(bucket, staging, 0, big), bucket.uri(TARGET))
    assert bucket.rewriter.checksum(bucket.uri(TARGET)) == hashlib.sha256(big).hexdigest()
    assert bucket.keys(f"{DATASET}/{rewrite.STAGING_PREFIX}") == []


@pytest.mark.parametrize("parts", [(), (NEW, b"PAR1 a second part PAR1")], ids=["no part", "two parts"])
def test_a_staging_prefix_without_exactly_one_part_is_refused_and_the_target_kept(
    bucket: Bucket, parts: tuple[bytes, ...]
) -> None:
    bucket.put(TARGET, OLD)
    staging = bucket.rewriter.staging(bucket.uri(DATASET), "run-2")
    staged = stage(bucket, staging, 0, *parts)
    with pytest.raises(rewrite.RewriteError, match=f"expected one staged part file in .*, found {len(parts)}"):
        bucket.rewriter.commit(staged, bucket.uri(TARGET))
    assert bucket.get(TARGET) == OLD
    bucket.rewriter.discard(staging)
    assert bucket.keys(f"{DATASET}/{rewrite.STAGING_PREFIX}") == []
    assert bucket.get(TARGET) == OLD


def test_a_staging_prefix_in_use_is_refused(bucket: Bucket) -> None:
    staging = bucket.rewriter.staging(bucket.uri(DATASET), "run-3")
    stage(bucket, staging, 0, NEW)
    with pytest.raises(rewrite.RewriteError, match="already in use"):
        bucket.rewriter.staging(bucket.uri(DATASET), "run-3")


def test_sweep_removes_leftover_staging_prefixes_and_counts_them(bucket: Bucket) -> None:
    bucket.put(TARGET, OLD)
    for token in ("crashed-1", "crashed-2"):
        staging = f"{bucket.uri(DATASET)}/{rewrite.STAGING_PREFIX}{token}"
        stage(bucket, staging, 0, NEW)
        stage(bucket, staging, 1, NEW)
    elsewhere = f"lake/raw/customers/{rewrite.STAGING_PREFIX}other/0/part-00000.snappy.parquet"
    bucket.put(elsewhere, NEW)

    assert bucket.rewriter.sweep(bucket.uri(DATASET, "s3a")) == 2

    assert bucket.keys(DATASET) == [TARGET]
    assert bucket.keys("lake/raw/customers") == [elsewhere]  # another dataset's staging is not this sweep's
    assert bucket.rewriter.sweep(bucket.uri(DATASET)) == 0


def test_remove_deletes_only_the_file(bucket: Bucket) -> None:
    neighbour = f"{DATASET}/event_date=2025-01-01/part-00001-abc.c000.snappy.parquet"
    bucket.put(TARGET, OLD)
    bucket.put(neighbour, OLD)
    bucket.rewriter.remove(bucket.uri(TARGET, "s3a"))
    assert bucket.keys(DATASET) == [neighbour]


def test_paths_under_a_dataset_are_relative_whatever_the_scheme() -> None:
    file_uri = "s3a://b/lake/raw/user_events/event_date=2025-01-01/part%20one.parquet"
    assert rewrite.relative_path(file_uri, "s3a://b/lake/raw/user_events") == "event_date=2025-01-01/part one.parquet"
    assert rewrite.s3_location(file_uri) == ("b", "lake/raw/user_events/event_date=2025-01-01/part one.parquet")
    assert rewrite.relative_path("file:/srv/lake/raw/customers/part-0.parquet", "file:///srv/lake/raw/customers") == (
        "part-0.parquet"
    )
    with pytest.raises(rewrite.RewriteError, match="not implemented for gs://"):
        rewrite.rewriter_for("gs://b/lake")
