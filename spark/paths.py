"""Lake locations: a root URI (``file:///…`` locally, ``s3://bucket/prefix`` on EMR) and dataset paths under it.

The OpenLineage identity of a dataset is the pair (namespace, name) = (the lake root, the dataset path), e.g.
(``file:///srv/lake``, ``raw/orders``) or (``s3://ecap-lake``, ``raw/orders``). Paths never climb out of the root.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

SCHEMES = ("file", "s3", "s3a")
SEGMENT = re.compile(r"^[A-Za-z0-9_.=\-]+$")


class LakePathError(ValueError):
    """A location that is not an absolute lake URI, or a dataset path that is unsafe."""


def normalize_root(uri: str) -> str:
    """``/srv/lake`` → ``file:///srv/lake``; ``s3a://b/p/`` → ``s3://b/p``; relative paths and ``..`` refused."""
    text = uri.strip()
    if not text:
        raise LakePathError("the lake root is empty")
    if text.startswith("/"):
        text = "file://" + text
    parts = urlsplit(text)
    if parts.scheme not in SCHEMES:
        raise LakePathError(f"the lake root must be file://, s3:// or s3a://, not {parts.scheme or 'a relative path'}")
    if parts.scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            raise LakePathError("a file:// lake root must be absolute (file:///path)")
        path = os.path.normpath(parts.path)
        if ".." in parts.path.split("/"):
            raise LakePathError("the lake root must not contain '..'")
        return "file://" + path
    if not parts.netloc:
        raise LakePathError("an s3:// lake root needs a bucket")
    if ".." in parts.path.split("/"):
        raise LakePathError("the lake root must not contain '..'")
    return f"s3://{parts.netloc}{parts.path.rstrip('/')}"


def check_relative(path: str) -> str:
    """A dataset path under the root (``raw/orders``): plain segments only."""
    segments = [s for s in path.strip("/").split("/") if s]
    if not segments or any(s in (".", "..") or not SEGMENT.match(s) for s in segments):
        raise LakePathError(f"unsafe dataset path {path!r}")
    return "/".join(segments)


def dataset_uri(root: str, path: str) -> str:
    """The full URI of a dataset under a root, as Spark reads it (``s3://`` becomes ``s3a://`` outside EMR)."""
    base = normalize_root(root)
    uri = f"{base}/{check_relative(path)}"
    if uri.startswith("s3://") and os.environ.get("ECAP_S3_SCHEME") == "s3a":
        uri = "s3a://" + uri[len("s3://") :]
    return uri


def lineage_pair(root: str, path: str) -> tuple[str, str]:
    """The OpenLineage (namespace, name) of a dataset."""
    return normalize_root(root), check_relative(path)
