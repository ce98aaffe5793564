"""CIFAR-10 batches, python (pickled) or binary, read without executing code from the file.

The python batches are pickles of ``{b'data': uint8 array (10000, 3072), b'labels': [...]}``.
Unpickling a stranger's file can run arbitrary code, so :class:`_BatchUnpickler` admits only
the few numpy globals that rebuilding an array needs. The binary batches are records of one
label byte followed by 3072 pixel bytes (1024 red, 1024 green, 1024 blue).
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .provenance import record_file

TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCHES = ["test_batch"]
_PIXELS = 3 * 32 * 32
MAX_BATCH_BYTES = 64 << 20  # a CIFAR-10 batch is about 31 MB (python) or 30 MB (binary)

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),  # how Python 3 pickles bytes at protocol 2; a pure function
}


class ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle asked for a global that a CIFAR-10 batch never holds."""


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise ForbiddenGlobal(f"global '{module}.{name}' is not allowed in a CIFAR batch")
        if name == "_reconstruct":
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # numpy < 2
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        if module == "_codecs":
            import codecs
            return codecs.encode
        if name == "scalar":
            try:
                from numpy._core.multiarray import scalar
            except ImportError:
                from numpy.core.multiarray import scalar
            return scalar
        return getattr(np, name)


def parse_python_batch(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except ForbiddenGlobal as exc:
        raise DataError(f"{where}: refused to unpickle: {exc}") from None
    except Exception as exc:  # truncated or garbled pickles raise many kinds of errors
        raise DataError(f"{where}: corrupt CIFAR-10 batch ({type(exc).__name__}: {exc})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{where}: a CIFAR-10 batch must be a dict, found {type(batch).__name__}")
    data_arr = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not isinstance(data_arr, np.ndarray) or labels is None:
        raise DataError(f"{where}: CIFAR-10 batch lacks 'data' or 'labels'")
    if data_arr.dtype != np.uint8 or data_arr.ndim != 2 or data_arr.shape[1] != _PIXELS:
        raise DataError(f"{where}: 'data' is {data_arr.dtype} {data_arr.shape}, expected uint8 (N, {_PIXELS})")
    try:
        labels = np.asarray(labels)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{where}: 'labels' is not a list of integers ({exc})") from None
    if labels.dtype.kind not in "iu" or labels.ndim != 1:  # a float label is never truncated silently
        raise DataError(f"{where}: 'labels' must be integers, one per image; found {labels.dtype} {labels.shape}")
    labels = labels.astype(np.int64)
    if labels.shape != (len(data_arr),):
        raise DataError(f"{where}: {len(data_arr)} images but {labels.size} labels")
    return data_arr.reshape(-1, 3, 32, 32), labels


def parse_binary_batch(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    record = 1 + _PIXELS
    if len(data) == 0 or len(data) % record:
        raise DataError(f"{where}: {len(data)} bytes is not a whole number of {record}-byte CIFAR-10 records")
    arr = np.frombuffer(data, dtype=np.uint8).reshape(-1, record)
    return arr[:, 1:].reshape(-1, 3, 32, 32), arr[:, 0].astype(np.int64)


def _concat(parts, where: str, num_classes: int, count: int | None):
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{where}: label outside 0..{num_classes - 1}")
    if count is not None and len(images) != count:
        raise DataError(f"{where}: {len(images)} images, the official split has {count}")
    return images, labels


def load_cifar_split(source: Path, split: str, num_classes: int, count: int | None):
    """Load ``split`` ('train'/'test') from a batches folder or a downloaded tarball.

    ``source`` is ``cifar-10-batches-py/``, ``cifar-10-batches-bin/`` or a ``.tar.gz`` of either.
    """
    names = TRAIN_BATCHES if split == "train" else TEST_BATCHES
    parts = []
    if source.is_dir():
        binary = source.name.endswith("-bin")
        for name in names:
            path = source / (name + ".bin" if binary else name)
            if not path.is_file():
                raise DataError(f"{path}: missing CIFAR-10 batch")
            if path.stat().st_size > MAX_BATCH_BYTES:
                raise DataError(f"{path}: {path.stat().st_size} bytes, more than any CIFAR-10 batch; refused")
            parse = parse_binary_batch if binary else parse_python_batch
            record_file(path)
            parts.append(parse(path.read_bytes(), str(path)))
        return _concat(parts, str(source), num_classes, count)
    record_file(source)
    try:
        with tarfile.open(source, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            binary = any(n.endswith(".bin") for n in members)
            for name in names:
                key = name + ".bin" if binary else name
                if key not in members:
                    raise DataError(f"{source}: archive has no member {key}")
                if members[key].size > MAX_BATCH_BYTES:  # a tar bomb is refused before it is unpacked
                    raise DataError(f"{source}: member {key} would unpack to {members[key].size} bytes, more than "
                                    f"any CIFAR-10 batch; refused")
                data = tar.extractfile(members[key]).read()
                parse = parse_binary_batch if binary else parse_python_batch
                parts.append(parse(data, f"{source}:{key}"))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{source}: corrupt or truncated archive ({exc})") from None
    return _concat(parts, str(source), num_classes, count)
