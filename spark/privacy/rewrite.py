"""Atomic replacement and removal of single data files of a lake dataset, behind a small interface per storage.

The erasure and retention engines write the replacement of a Parquet file with Spark into a staging directory (one
part file), then ask a ``Rewriter`` to put it in place of the original so that a reader, or a crash, sees either the
whole old file or the whole new one, never a partial file. A file none of whose rows is kept is removed instead.

Local file system (``LocalRewriter``): the staging directory is ``<dataset>/_dsr-staging-<token>/`` (Spark readers
skip names starting with ``_``). The staged part is moved next to the target as ``.<name>.dsr-tmp`` (a hidden name:
Spark skips names starting with ``.``, so a leftover after a crash is never read as data), flushed to disk, and
``os.replace``-d over the target, which is atomic on POSIX. Hadoop's checksum side file ``.<name>.crc`` is removed
before the swap (a file without one is still readable, a stale one would fail the read) and the staged file's own
checksum is put in its place after. ``remove`` unlinks the file, then its checksum side file. ``sweep`` removes what
an interrupted run left behind.

S3 (``S3Rewriter``, for ``s3://`` and ``s3a://`` URIs, both naming bucket and key): S3 has no rename, but a single
PUT or server-side copy of an object is atomic: readers see the old object or the new one. Spark writes the staged
part under ``<dataset>/_dsr-staging-<token>/``; ``commit`` copies that single part over the target key with boto3's
managed copy (a multipart copy above its threshold, so objects over 5 GB work, still atomic once completed), checks
that the target now has the staged object's length (and, when neither is a multipart object, its ETag), and deletes
the staged objects. There are no checksum side files. ``remove`` is one ``DeleteObject``; ``discard`` and ``sweep``
delete staging prefixes; ``checksum`` streams the object through SHA-256. The client comes from boto3's default
configuration (environment, instance profile…), with the endpoint from ``ECAP_S3_ENDPOINT_URL`` when it is set.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

STAGING_PREFIX = "_dsr-staging-"
TMP_SUFFIX = ".dsr-tmp"
CHUNK = 1 << 20
S3_SCHEMES = ("s3", "s3a")
ENDPOINT_ENV = "ECAP_S3_ENDPOINT_URL"
DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes


class RewriteError(RuntimeError):
    """A staged replacement that cannot be put in place (none or several part files, unsupported storage)."""


def local_path(uri: str) -> Path:
    """The local path of a ``file:`` URI as Spark spells it (``file:/a``, ``file:///a``, percent-encoded)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("", "file"):
        raise RewriteError(f"not a local file URI: {parts.scheme}://…")
    return Path(unquote(parts.path))


def s3_location(uri: str) -> tuple[str, str]:
    """The (bucket, key) of an ``s3://`` or ``s3a://`` URI (percent-encoding undone, as Spark spells file paths)."""
    parts = urlsplit(uri)
    if parts.scheme not in S3_SCHEMES or not parts.netloc:
        raise RewriteError(f"not an S3 URI: {parts.scheme}://…")
    return parts.netloc, unquote(parts.path).lstrip("/")


def relative_path(file_uri: str, root_uri: str) -> str:
    """The path of a file under a dataset root, on any storage (``event_date=2025-01-01/part-0.parquet``)."""
    file_parts, root_parts = urlsplit(file_uri), urlsplit(root_uri)
    if file_parts.scheme in S3_SCHEMES and file_parts.netloc != root_parts.netloc:
        raise RewriteError("the file is not in the dataset's bucket")
    return str(PurePosixPath(unquote(file_parts.path)).relative_to(PurePosixPath(unquote(root_parts.path))))


class Rewriter(Protocol):
    """How the erasure and retention engines replace or remove files of a dataset on one kind of storage."""

    def staging(self, dataset_uri: str, token: str) -> str:
        """A fresh staging directory (URI) under the dataset, where Spark writes replacements."""
        ...

    def commit(self, staged_uri: str, target_uri: str) -> None:
        """Atomically replace ``target_uri`` with the single part file Spark wrote to ``staged_uri``."""
        ...

    def remove(self, file_uri: str) -> None:
        """Atomically remove a data file (and what belongs to it only)."""
        ...

    def discard(self, staging_uri: str) -> None:
        """Remove a staging directory and everything in it."""
        ...

    def sweep(self, dataset_uri: str) -> int:
        """Remove staging directories and temporary files left by interrupted runs; returns how many."""
        ...

    def checksum(self, file_uri: str) -> str:
        """The SHA-256 (hex) of a file's bytes."""
        ...


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_part(name: str) -> bool:
    """A data file Spark wrote (not ``_SUCCESS``, not a ``.crc`` side file)."""
    return name.endswith(".parquet") and name[0] not in "._"


class LocalRewriter:
    """``Rewriter`` for ``file://`` lakes: hidden temporary file in the target's directory, then ``os.replace``."""

    def staging(self, dataset_uri: str, token: str) -> str:
        path = local_path(dataset_uri) / f"{STAGING_PREFIX}{token}"
        path.mkdir(parents=True, exist_ok=False)
        return "file://" + str(path)

    def commit(self, staged_uri: str, target_uri: str) -> None:
        staged = local_path(staged_uri)
        parts = [p for p in staged.iterdir() if p.is_file() and _is_part(p.name)]
        if len(parts) != 1:
            raise RewriteError(f"expected one staged part file in {staged}, found {len(parts)}")
        part = parts[0]
        target = local_path(target_uri)
        tmp = target.with_name(f".{target.name}{TMP_SUFFIX}")
        os.replace(part, tmp)  # same file system: the staging directory lives under the dataset
        _fsync(tmp)
        target_crc = target.with_name(f".{target.name}.crc")
        target_crc.unlink(missing_ok=True)
        os.replace(tmp, target)
        _fsync(target.parent)
        staged_crc = part.with_name(f".{part.name}.crc")
        if staged_crc.exists():
            os.replace(staged_crc, target_crc)

    def remove(self, file_uri: str) -> None:
        target = local_path(file_uri)
        target.unlink()
        target.with_name(f".{target.name}.crc").unlink(missing_ok=True)  # harmless if left, but it is ours
        _fsync(target.parent)

    def discard(self, staging_uri: str) -> None:
        shutil.rmtree(local_path(staging_uri), ignore_errors=True)

    def sweep(self, dataset_uri: str) -> int:
        root = local_path(dataset_uri)
        removed = 0
        for leftover in root.glob(f"{STAGING_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)
            removed += 1
        for leftover in root.rglob(f".*{TMP_SUFFIX}"):
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    def checksum(self, file_uri: str) -> str:
        digest = hashlib.sha256()
        with local_path(file_uri).open("rb") as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()


class S3Rewriter:
    """``Rewriter`` for ``s3://``/``s3a://`` lakes: server-side copy of the staged part over the target key."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        """The S3 client, built on first use from boto3's default configuration (and ``ECAP_S3_ENDPOINT_URL``)."""
        if self._client is None:
            import boto3  # only S3 lakes need it

            self._client = boto3.client("s3", endpoint_url=os.environ.get(ENDPOINT_ENV) or None)
        return self._client

    def _objects(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects.extend(page.get("Contents", []))
        return objects

    def _delete(self, bucket: str, keys: list[str]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            answer = self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise RewriteError(f"cannot delete s3://{bucket}/{first.get('Key')}: {first.get('Code')}")

    def staging(self, dataset_uri: str, token: str) -> str:
        uri = f"{dataset_uri.rstrip('/')}/{STAGING_PREFIX}{token}"
        bucket, key = s3_location(uri)
        if self._objects(bucket, key + "/"):
            raise RewriteError(f"the staging prefix {uri} is already in use")
        return uri

    def commit(self, staged_uri: str, target_uri: str) -> None:
        bucket, prefix = s3_location(staged_uri)
        prefix = prefix.rstrip("/") + "/"
        objects = self._objects(bucket, prefix)
        parts = [o for o in objects if "/" not in o["Key"][len(prefix) :] and _is_part(o["Key"][len(prefix) :])]
        if len(parts) != 1:
            raise RewriteError(f"expected one staged part file in {staged_uri}, found {len(parts)}")
        part = parts[0]
        target_bucket, target_key = s3_location(target_uri)
        self.client.copy({"Bucket": bucket, "Key": part["Key"]}, target_bucket, target_key)
        copied = self.client.head_object(Bucket=target_bucket, Key=target_key)
        if copied["ContentLength"] != part["Size"]:
            raise RewriteError(f"the copy over {target_uri} has {copied['ContentLength']} bytes, not {part['Size']}")
        etags = (str(part.get("ETag", "")), str(copied.get("ETag", "")))
        # A plain ETag is the MD5 of the bytes, unless KMS encrypts the object or a multipart upload wrote it.
        comparable = all(e and "-" not in e for e in etags) and not str(
            copied.get("ServerSideEncryption", "")
        ).startswith("aws:kms")
        if comparable and etags[0] != etags[1]:
            raise RewriteError(f"the copy over {target_uri} does not have the staged object's checksum")
        self._delete(bucket, [o["Key"] for o in objects])

    def remove(self, file_uri: str) -> None:
        bucket, key = s3_location(file_uri)
        self.client.delete_object(Bucket=bucket, Key=key)

    def discard(self, staging_uri: str) -> None:
        bucket, key = s3_location(staging_uri)
        self._delete(bucket, [o["Key"] for o in self._objects(bucket, key.rstrip("/") + "/")])

    def sweep(self, dataset_uri: str) -> int:
        bucket, key = s3_location(dataset_uri)
        root = key.rstrip("/") + "/"
        objects = self._objects(bucket, root + STAGING_PREFIX)
        self._delete(bucket, [o["Key"] for o in objects])
        return len({o["Key"][len(root) :].split("/", 1)[0] for o in objects})

    def checksum(self, file_uri: str) -> str:
        bucket, key = s3_location(file_uri)
        digest = hashlib.sha256()
        body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            for chunk in body.iter_chunks(CHUNK):
                digest.update(chunk)
        finally:
            body.close()
        return digest.hexdigest()


def rewriter_for(uri: str) -> Rewriter:
    """The rewriter for a dataset URI's storage: local files, or S3 (``s3://`` and ``s3a://``)."""
    scheme = urlsplit(uri).scheme
    if scheme in ("", "file"):
        return LocalRewriter()
    if scheme in S3_SCHEMES:
        return S3Rewriter()
    raise RewriteError(f"atomic file replacement is not implemented for {scheme}:// lakes")
