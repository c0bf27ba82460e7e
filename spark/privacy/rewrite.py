"""Atomic replacement of single data files of a lake dataset, behind a small interface per storage.

The erasure engine writes the replacement of a Parquet file with Spark into a staging directory (one part file),
then asks a ``Rewriter`` to put it in place of the original so that a reader, or a crash, sees either the whole old
file or the whole new one, never a partial file.

Local file system (``LocalRewriter``): the staging directory is ``<dataset>/_dsr-staging-<token>/`` (Spark readers
skip names starting with ``_``). The staged part is moved next to the target as ``.<name>.dsr-tmp`` (a hidden name:
Spark skips names starting with ``.``, so a leftover after a crash is never read as data), flushed to disk, and
``os.replace``-d over the target, which is atomic on POSIX. Hadoop's checksum side file ``.<name>.crc`` is removed
before the swap (a file without one is still readable, a stale one would fail the read) and the staged file's own
checksum is put in its place after. ``sweep`` removes what an interrupted run left behind.

S3 (not implemented yet): S3 has no rename, but a single PUT or server-side copy of an object is atomic: readers see
the old object or the new one. ``S3Rewriter`` would let Spark write the staged part under
``<dataset>/_dsr-staging-<token>/``, then ``CopyObject`` it over the target key (multipart copy above 5 GB, still
atomic once completed), verify the new ETag/checksum, and delete the staged object; no checksum side files exist.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

STAGING_PREFIX = "_dsr-staging-"
TMP_SUFFIX = ".dsr-tmp"
CHUNK = 1 << 20


class RewriteError(RuntimeError):
    """A staged replacement that cannot be put in place (none or several part files, unsupported storage)."""


def local_path(uri: str) -> Path:
    """The local path of a ``file:`` URI as Spark spells it (``file:/a``, ``file:///a``, percent-encoded)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("", "file"):
        raise RewriteError(f"not a local file URI: {parts.scheme}://…")
    return Path(unquote(parts.path))


class Rewriter(Protocol):
    """How the erasure engine replaces files of a dataset on one kind of storage."""

    def staging(self, dataset_uri: str, token: str) -> str:
        """A fresh staging directory (URI) under the dataset, where Spark writes replacements."""
        ...

    def commit(self, staged_uri: str, target_uri: str) -> None:
        """Atomically replace ``target_uri`` with the single part file Spark wrote to ``staged_uri``."""
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


class LocalRewriter:
    """``Rewriter`` for ``file://`` lakes: hidden temporary file in the target's directory, then ``os.replace``."""

    def staging(self, dataset_uri: str, token: str) -> str:
        path = local_path(dataset_uri) / f"{STAGING_PREFIX}{token}"
        path.mkdir(parents=True, exist_ok=False)
        return "file://" + str(path)

    def commit(self, staged_uri: str, target_uri: str) -> None:
        staged = local_path(staged_uri)
        parts = [p for p in staged.iterdir() if p.is_file() and p.name.endswith(".parquet") and p.name[0] not in "._"]
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


def rewriter_for(uri: str) -> Rewriter:
    """The rewriter for a dataset URI's storage; S3 is refused until ``S3Rewriter`` exists (see the module doc)."""
    scheme = urlsplit(uri).scheme
    if scheme in ("", "file"):
        return LocalRewriter()
    raise RewriteError(f"atomic file replacement is not implemented for {scheme}:// lakes yet")
