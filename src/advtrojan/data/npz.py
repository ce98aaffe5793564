"""``npz:PATH``: a dataset in one NumPy ``.npz`` file.

Keys ``x_train``, ``y_train``, ``x_test``, ``y_test``; images uint8 in [0, 255] or float in
[0, 1], shaped (N, H, W), (N, H, W, C) or (N, C, H, W) with square images of 1 or 3 channels;
labels integers from 0. An optional ``classes`` key (an array of strings) names the classes;
otherwise they are ``0`` … ``K-1`` with K the largest label + 1. Read with
``allow_pickle=False``: a file that needs pickle is refused.
"""

from __future__ import annotations

import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .arrays import as_uint8_nchw, check_labels
from .provenance import record_file
from .registry import FORMATS, SCHEMES
from .specs import DatasetSpec

KEYS = ("x_train", "y_train", "x_test", "y_test")


@lru_cache(maxsize=4)
def _read(path: str, stamp: tuple) -> dict[str, np.ndarray]:
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a readable .npz file (an .npz is a zip archive of .npy arrays)")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in KEYS if k not in f.files]
            if missing:
                raise DataError(f"{path}: missing {', '.join(missing)} (an npz dataset holds {', '.join(KEYS)}; "
                                f"it has {', '.join(f.files) or 'nothing'})")
            return {k: f[k] for k in KEYS + (("classes",) if "classes" in f.files else ())}
    except DataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DataError(f"{path}: an array holds Python objects and needs pickle to load, which is refused "
                            f"(store numbers and strings only)") from None
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None


def read(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ConfigError(f"npz:{path}: no such file")
    st = path.stat()
    return _read(str(path), (st.st_size, st.st_mtime_ns))


def npz_spec(argument: str) -> DatasetSpec:
    path = Path(argument).expanduser().resolve()
    arrays = read(path)
    x = arrays["x_train"]
    if x.ndim == 3:
        channels, size = 1, x.shape[1]
        if x.shape[1] != x.shape[2]:
            raise DataError(f"{path}: images must be square, got {x.shape[1]}x{x.shape[2]}")
    elif x.ndim == 4:
        if x.shape[-1] in (1, 3) and x.shape[1] == x.shape[2]:
            channels, size = x.shape[-1], x.shape[1]
        elif x.shape[1] in (1, 3) and x.shape[2] == x.shape[3]:
            channels, size = x.shape[1], x.shape[2]
        else:
            raise DataError(f"{path}: x_train has shape {x.shape}; square images with 1 or 3 channels, as "
                            f"(N, H, W, C) or (N, C, H, W), are needed")
    else:
        raise DataError(f"{path}: x_train has shape {x.shape}; (N, H, W), (N, H, W, C) or (N, C, H, W) is needed")
    for k in ("y_train", "y_test"):
        if arrays[k].dtype.kind not in "iu":
            raise DataError(f"{path}: {k} must be integers, got dtype {arrays[k].dtype}")
    if "classes" in arrays:
        classes = tuple(str(c) for c in np.asarray(arrays["classes"]).ravel())
    else:
        top = max(int(arrays["y_train"].max(initial=0)), int(arrays["y_test"].max(initial=0)))
        classes = tuple(str(i) for i in range(top + 1))
    if len(classes) < 2:
        raise DataError(f"{path}: at least two classes are needed, found {len(classes)}")
    return DatasetSpec(name=f"npz:{path}", title=path.name, format="npz", channels=channels, size=size,
                       train_size=len(x), test_size=len(arrays["x_test"]), classes=classes, source=str(path))


def load_npz(spec: DatasetSpec, split: str, data_dir=None, download=True):
    if data_dir is not None:
        raise ConfigError(f"--data-dir does not apply to {spec.name}: the file is named in the dataset")
    record_file(spec.source)
    arrays = read(Path(spec.source))
    where = f"{spec.source} ({split})"
    x = as_uint8_nchw(arrays[f"x_{split}"], spec.channels, spec.size, where)
    return x, check_labels(arrays[f"y_{split}"], len(x), spec.num_classes, where)


SCHEMES.add("npz", npz_spec)
FORMATS.add("npz", load_npz)
