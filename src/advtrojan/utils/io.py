"""Atomic writes: a file is either the old one or the complete new one, never half of either."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import errno

from ..errors import AdvTrojanError, WriteError

# the faults of the file system itself (a network error inside the block, say, passes through)
FS_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG}


def _umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    if path.is_dir():
        raise AdvTrojanError(f"{path}: is a folder; a file is needed here")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes it 0600 whatever the umask (and some writers recreate the file), and the rename
        # keeps the mode: give it an ordinary open()'s, so a shared run folder or report can be read
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except OSError as exc:  # disk full, quota, a file system gone read-only: the old file stays
        if isinstance(exc, WriteError) or exc.errno not in FS_ERRORS:
            raise
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc}); the previous file, if any, is "
                         f"unchanged") from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def check_writable(path: str | os.PathLike | None, what: str, folder: bool = False) -> None:
    """Fail now, before any expensive work, if ``path`` (an output file, or a ``folder``) cannot
    be written: it is of the wrong kind, or its nearest existing ancestor refuses a new file.
    Creates nothing (a probe file is made and removed in that ancestor)."""
    if path is None:
        return
    if not str(path).strip():
        raise AdvTrojanError(f"{what}: an empty path")
    path = Path(path).expanduser()
    if folder and path.exists() and not path.is_dir():
        raise AdvTrojanError(f"{what} {path}: is a file, not a folder")
    if not folder and path.is_dir():
        raise AdvTrojanError(f"{what} {path}: is a folder; a file name is needed")
    probe_dir = path if folder and path.is_dir() else path.parent
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise AdvTrojanError(f"{what} {path}: {probe_dir} is a file, not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".advtrojan-probe.", dir=probe_dir)
    except OSError as exc:
        raise AdvTrojanError(f"{what} {path}: cannot write in {probe_dir} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line (rewriting atomically, so a crash never leaves a torn line)."""
    path = Path(path)
    old = path.read_text() if path.exists() else ""
    write_text(path, old + json.dumps(record) + "\n")
