"""Where dataset files come from, in this order (issue 2, part 1):

1. ``--data-dir DIR`` (files directly in DIR or in ``DIR/<dataset>``);
2. known system locations (Debian's ``dataset-fashion-mnist`` at
   ``/usr/share/datasets/fashion-mnist``);
3. the user cache, ``$ADVTROJAN_CACHE`` or ``~/.cache/advtrojan``, in ``<cache>/<dataset>``;
4. a download from the official mirrors into the cache, verified against the official MD5
   checksums and written atomically (a failed or corrupt download leaves nothing behind).
   ``ADVTROJAN_OFFLINE=1`` forbids this step.

Local files are validated later by structure, since repackaged copies differ in their bytes.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import DataError
from ..utils.io import atomic_path
from .specs import IDX_FILES, DatasetSpec, RemoteFile

CACHE_ENV = "ADVTROJAN_CACHE"
OFFLINE_ENV = "ADVTROJAN_OFFLINE"
CIFAR_SOURCES = ("cifar-10-batches-py", "cifar-10-batches-bin", "cifar-10-python.tar.gz",
                 "cifar-10-binary.tar.gz")

urlopen = urllib.request.urlopen  # replaced by a test double in the tests; never the network there


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "advtrojan")


def candidate_dirs(spec: DatasetSpec, data_dir: str | os.PathLike | None) -> list[Path]:
    dirs: list[Path] = []
    if data_dir is not None:
        dirs += [Path(data_dir), Path(data_dir) / spec.name]
    dirs += [Path(d) for d in spec.system_dirs]
    dirs.append(cache_root() / spec.name)
    return dirs


def idx_file(directory: Path, base: str) -> Path | None:
    """``base`` in ``directory`` under any of the names distributions use, gzip or raw."""
    for name in (base, base.replace("-idx", ".idx")):
        for suffix in (".gz", ""):
            path = directory / (name + suffix)
            if path.is_file():
                return path
    return None


def _complete(spec: DatasetSpec, directory: Path) -> Path | None:
    if spec.format == "idx":
        bases = [b for pair in IDX_FILES.values() for b in pair]
        return directory if all(idx_file(directory, b) for b in bases) else None
    if spec.format == "gtsrb":
        return directory if all((directory / f.name).is_file() for f in spec.files) else None
    for name in CIFAR_SOURCES:
        if (directory / name).exists():
            return directory / name
    return None


def locate(spec: DatasetSpec, data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Return the folder (IDX) or batches folder/archive (CIFAR) holding ``spec``'s files.

    ``data_dir`` means those files or an error: never a silent fallback to another copy."""
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            raise DataError(f"--data-dir {folder}: no such folder")
        found = _complete(spec, folder) or _complete(spec, folder / spec.name)
        if found is None:
            raise DataError(f"--data-dir {folder} (nor its {spec.name}/ sub-folder) does not hold {spec.title}'s files "
                            f"({', '.join(f.name for f in spec.files)}, compressed or not)")
        return found
    dirs = candidate_dirs(spec, data_dir)
    for directory in dirs:
        found = _complete(spec, directory)
        if found is not None:
            return found
    target = cache_root() / spec.name
    offline = os.environ.get(OFFLINE_ENV, "") not in ("", "0")
    problems = []
    if download and not offline:
        try:
            for remote in spec.files:
                if not (target / remote.name).exists():
                    fetch(spec, remote, target / remote.name)
            found = _complete(spec, target)
            if found is not None:
                return found
        except DataError as exc:
            problems.append(str(exc))
    else:
        problems.append("downloading is switched off" + (f" ({OFFLINE_ENV} is set)" if offline else ""))
    wanted = ", ".join(f.name for f in spec.files)
    raise DataError(
        f"{spec.title} files not found ({wanted}). Looked in: {', '.join(map(str, dirs))}. "
        + "".join(p.rstrip(".") + ". " for p in problems)
        + f"Provide them by --data-dir DIR, by placing them in {target}"
        + f" (or setting ${CACHE_ENV})"
        + (", by `apt-get install dataset-fashion-mnist`" if spec.name == "fmnist" else "")
        + ", or by running once with network access."
    )


def md5sum(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(spec: DatasetSpec, remote: RemoteFile, dest: Path) -> Path:
    """Download ``remote`` from the first mirror that answers; verify its MD5; write atomically."""
    errors = []
    for mirror in spec.mirrors:
        url = mirror + remote.name
        try:
            with atomic_path(dest) as tmp:
                with urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
                    total = int(response.headers.get("Content-Length") or 0) or None
                    with tqdm(total=total, unit="B", unit_scale=True, desc=remote.name, leave=False) as bar:
                        for chunk in iter(lambda: response.read(1 << 16), b""):
                            out.write(chunk)
                            bar.update(len(chunk))
                got = md5sum(tmp)
                if got != remote.md5:
                    raise DataError(f"{url}: checksum mismatch (MD5 {got}, official {remote.md5}); discarded")
            return dest
        except DataError as exc:
            errors.append(str(exc))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
    raise DataError("download failed: " + "; ".join(errors) + ".")
