"""Which files a dataset was read from, recorded in a run's ``config.json`` (paths, sizes, SHA-256).

Every reader calls :func:`record_file` with the files it opens; :func:`load_dataset` collects them
with :func:`recording` and :func:`fingerprint` hashes them. A user's dataset plug-in may call
:func:`record_file` too; data made in memory has no files, and the record says so (an empty list).
Many files under one folder (an image folder) are summarised as that folder, its file count and
one SHA-256 over the sorted (relative path, file SHA-256) lines.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator

_READ: ContextVar[list | None] = ContextVar("advtrojan_data_files", default=None)
SUMMARISE_ABOVE = 16  # more files than this under one folder are recorded as the folder


def record_file(path: str | os.PathLike) -> None:
    """Note that the dataset being loaded reads ``path`` (no-op outside :func:`recording`)."""
    files = _READ.get()
    if files is not None:
        files.append(Path(path).resolve())


@contextmanager
def recording() -> Iterator[list]:
    """Collect the paths :func:`record_file`-ed while the block runs."""
    files: list = []
    token = _READ.set(files)
    try:
        yield files
    finally:
        _READ.reset(token)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(paths) -> list[dict]:
    """``[{"path", "bytes", "sha256"}]`` for the distinct files read; a folder of many files as
    ``{"path": folder, "files": n, "bytes", "sha256"}``."""
    unique = sorted(set(Path(p) for p in paths))
    if len(unique) > SUMMARISE_ABOVE:
        root = Path(os.path.commonpath([str(p) for p in unique]))
        digest, size = hashlib.sha256(), 0
        for p in unique:
            digest.update(f"{p.relative_to(root).as_posix()} {sha256(p)}\n".encode())
            size += p.stat().st_size
        return [{"path": str(root), "files": len(unique), "bytes": size, "sha256": digest.hexdigest()}]
    return [{"path": str(p), "bytes": p.stat().st_size, "sha256": sha256(p)} for p in unique]
