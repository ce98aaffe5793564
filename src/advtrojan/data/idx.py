"""IDX files (MNIST, Fashion-MNIST), gzip-compressed or raw, validated by structure.

Format (LeCun's MNIST page): a 4-byte magic ``0x00 0x00 <dtype> <ndim>``, ``ndim`` big-endian
uint32 sizes, then the payload. Images are ``ndim == 3`` (count, rows, cols), labels
``ndim == 1``; both use dtype ``0x08`` (unsigned byte). Repackaged copies (e.g. Debian's
``dataset-fashion-mnist``) recompress the .gz files, so local files are checked by this
structure rather than by the official checksums.
"""

from __future__ import annotations

import gzip
import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .provenance import record_file

_UBYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"


MAX_IDX_BYTES = 1 << 32  # no IDX dataset this toolkit reads comes near 4 GiB


def _open(path: Path) -> io.BufferedIOBase:
    """The file's content as a stream, decompressed if it is gzip (detected by magic, not by name)."""
    with open(path, "rb") as fh:
        compressed = fh.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The (decompressed) content, at most ``limit + 1`` bytes of it: a gzip bomb is never
    unpacked beyond what the caller expects."""
    try:
        with _open(path) as fh:
            return fh.read() if limit is None else fh.read(limit + 1)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from None


def idx_shape(path: Path, ndim: int) -> tuple[int, ...]:
    """The dimensions an IDX file's header promises (magic and dimension count checked)."""
    head = read_bytes(path, 4 + 4 * ndim)[: 4 + 4 * ndim]
    if len(head) < 4:
        raise DataError(f"{path}: file too short to be an IDX file ({len(head)} bytes)")
    _check_magic(head, path, ndim)
    if len(head) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    return struct.unpack(f">{ndim}I", head[4:4 + 4 * ndim])


def _check_magic(head: bytes, path, ndim: int) -> None:
    zero, dtype, dims = struct.unpack(">HBB", head[:4])
    if zero != 0 or dtype != _UBYTE:
        raise DataError(f"{path}: bad IDX magic number 0x{head[:4].hex()} (expected 0x000008{ndim:02x})")
    if dims != ndim:
        kind = "images" if ndim == 3 else "labels"
        raise DataError(f"{path}: IDX file has {dims} dimensions, {kind} need {ndim}")


def parse_idx(data: bytes, path: Path | str, ndim: int) -> np.ndarray:
    """Parse IDX bytes into a uint8 array with ``ndim`` dimensions, or raise :class:`DataError`."""
    if len(data) < 4:
        raise DataError(f"{path}: file too short to be an IDX file ({len(data)} bytes)")
    _check_magic(data, path, ndim)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = math.prod(shape)  # Python integers: no overflow, whatever the header says
    payload = len(data) - header
    if payload != expected:
        fault = "truncated" if payload < expected else "has trailing bytes"
        raise DataError(f"{path}: IDX payload {fault}: header says {shape} = {expected} bytes, found {payload}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _read_idx(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The payload, read only up to the size the header promised (``shape``, from :func:`idx_shape`)."""
    record_file(path)
    ndim = len(shape)
    size = 4 + 4 * ndim + math.prod(shape)
    if size > MAX_IDX_BYTES:
        raise DataError(f"{path}: IDX header promises {shape} = {size} bytes, more than any dataset this toolkit "
                        f"reads; refused")
    return parse_idx(read_bytes(path, size), path, ndim)


def load_idx_pair(images_path: Path, labels_path: Path, image_shape: tuple[int, int],
                  num_classes: int, count: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Read an images/labels IDX pair and check counts, image shape and label range (the
    headers are checked before either payload is read)."""
    image_dims, label_dims = idx_shape(images_path, 3), idx_shape(labels_path, 1)
    n_images, *hw = image_dims
    (n_labels,) = label_dims
    if tuple(hw) != tuple(image_shape):
        raise DataError(f"{images_path}: images are {hw[0]}x{hw[1]}, expected {image_shape[0]}x{image_shape[1]}")
    if count is not None and n_images != count:
        raise DataError(f"{images_path}: {n_images} images, the official split has {count}")
    if n_images != n_labels:
        raise DataError(f"{images_path} holds {n_images} images but {labels_path} holds {n_labels} labels")
    images = _read_idx(images_path, image_dims)
    labels = _read_idx(labels_path, label_dims)
    if len(labels) and labels.max() >= num_classes:
        raise DataError(f"{labels_path}: label {int(labels.max())} outside 0..{num_classes - 1}")
    return images[:, None, :, :], labels
