"""The ``spark`` package as a zip for ``--py-files``: the same bytes for the same sources, cached by content hash."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import spark

SPARK_DIR = Path(spark.__file__).resolve().parent
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the zip epoch: timestamps must not change the bytes
SKIPPED_DIRS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class Package:
    """A built package zip and the SHA-256 of its content."""

    path: Path
    sha256: str


def package_files(root: Path = SPARK_DIR) -> list[tuple[str, Path]]:
    """(name inside the zip, file) for every source file of the package, in a stable order."""
    files = []
    for directory, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in names:
            if name.startswith(".") or name.endswith(SKIPPED_SUFFIXES):
                continue
            path = Path(directory) / name
            files.append(((Path(root.name) / path.relative_to(root)).as_posix(), path))
    return sorted(files)


def zip_bytes(files: list[tuple[str, bytes]]) -> bytes:
    """A zip of (name, content) pairs with fixed timestamps and permissions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content, compresslevel=9)
    return buffer.getvalue()


def default_cache_dir() -> Path:
    """Where built zips are kept between submissions of one machine."""
    return Path(tempfile.gettempdir()) / f"ecap-spark-packages-{os.getuid()}"


def build_package(cache_dir: Path | None = None, root: Path = SPARK_DIR) -> Package:
    """The zip of the package; rebuilt only when a source file changed."""
    contents = [(name, path.read_bytes()) for name, path in package_files(root)]
    digest = hashlib.sha256()
    for name, content in contents:
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    sha = digest.hexdigest()
    directory = cache_dir or default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = directory / f"{root.name}-{sha[:20]}.zip"
    if not target.exists():
        # Written under a unique name and renamed, so concurrent submitters never see half a zip.
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".building-", suffix=".zip")
        with os.fdopen(handle, "wb") as out:
            out.write(zip_bytes(contents))
        os.replace(temporary, target)
    return Package(path=target, sha256=sha)
