"""IDX files (MNIST, Fashion-MNIST), gzip-compressed or raw, validated by structure.

Format (LeCun's MNIST page): a 4-byte magic ``0x00 0x00 <dtype> <ndim>``, ``ndim`` big-endian
uint32 sizes, then the payload. Images are ``ndim == 3`` (count, rows, cols), labels
``ndim == 1``; both use dtype ``0x08`` (unsigned byte). Repackaged copies (e.g. Debian's
``dataset-fashion-mnist``) recompress the .gz files, so local files are checked by this
structure rather than by the official checksums.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

_UBYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed if it is gzip (detected by magic, not by name)."""
    raw = Path(path).read_bytes()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from None


def parse_idx(data: bytes, path: Path | str, ndim: int) -> np.ndarray:
    """Parse IDX bytes into a uint8 array with ``ndim`` dimensions, or raise :class:`DataError`."""
    if len(data) < 4:
        raise DataError(f"{path}: file too short to be an IDX file ({len(data)} bytes)")
    zero, dtype, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != _UBYTE:
        raise DataError(f"{path}: bad IDX magic number 0x{data[:4].hex()} (expected 0x000008{ndim:02x})")
    if dims != ndim:
        kind = "images" if ndim == 3 else "labels"
        raise DataError(f"{path}: IDX file has {dims} dimensions, {kind} need {ndim}")
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{dims}I", data[4:header])
    expected = int(np.prod(shape))
    payload = len(data) - header
    if payload != expected:
        fault = "truncated" if payload < expected else "has trailing bytes"
        raise DataError(f"{path}: IDX payload {fault}: header says {shape} = {expected} bytes, found {payload}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_idx_pair(images_path: Path, labels_path: Path, image_shape: tuple[int, int],
                  num_classes: int, count: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Read an images/labels IDX pair and check counts, image shape and label range."""
    images = parse_idx(read_bytes(images_path), images_path, 3)
    labels = parse_idx(read_bytes(labels_path), labels_path, 1)
    if tuple(images.shape[1:]) != tuple(image_shape):
        raise DataError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected "
                        f"{image_shape[0]}x{image_shape[1]}")
    if len(images) != len(labels):
        raise DataError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    if count is not None and len(images) != count:
        raise DataError(f"{images_path}: {len(images)} images, the official split has {count}")
    if len(labels) and labels.max() >= num_classes:
        raise DataError(f"{labels_path}: label {int(labels.max())} outside 0..{num_classes - 1}")
    return images[:, None, :, :], labels
