"""Checks that turn a user's arrays into the toolkit's images (uint8, N x C x H x W) and labels."""

from __future__ import annotations

import numpy as np

from ..errors import DataError


def as_uint8_nchw(images: np.ndarray, channels: int, size: int, where: str) -> np.ndarray:
    """``images`` (uint8 in [0, 255] or float in [0, 1]; (N, H, W), (N, H, W, C) or (N, C, H, W))
    as uint8 (N, C, H, W). Float images are rounded to 1/255 steps, the precision every dataset
    is held in."""
    if images.dtype == object or images.dtype.kind not in "uif" and images.dtype != np.bool_:
        raise DataError(f"{where}: images must be numbers, got dtype {images.dtype}")
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise DataError(f"{where}: images must be (N, H, W), (N, H, W, C) or (N, C, H, W), got shape "
                        f"{images.shape}")
    if images.shape[1] != channels and images.shape[-1] == channels:
        images = images.transpose(0, 3, 1, 2)
    if images.shape[1:] != (channels, size, size):
        raise DataError(f"{where}: images have shape {images.shape[1:]} (channels, height, width); "
                        f"{(channels, size, size)} is needed")
    if len(images) == 0:
        raise DataError(f"{where}: no images")
    if images.dtype == np.uint8:
        return np.ascontiguousarray(images)
    if images.dtype.kind in "iub":
        lo, hi = int(images.min()), int(images.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{where}: integer pixels must lie in [0, 255], found [{lo}, {hi}]")
        return np.ascontiguousarray(images.astype(np.uint8))
    if not np.isfinite(images).all():
        raise DataError(f"{where}: images hold NaN or infinite values")
    lo, hi = float(images.min()), float(images.max())
    if lo < 0 or hi > 1:
        raise DataError(f"{where}: float pixels must lie in [0, 1], found [{lo:g}, {hi:g}] (divide uint8 "
                        f"images by 255, or store them as uint8)")
    return np.ascontiguousarray(np.rint(images * 255).astype(np.uint8))


def check_labels(labels: np.ndarray, n: int, num_classes: int, where: str) -> np.ndarray:
    """Integer labels in [0, num_classes), one per image, as int64. Non-integer dtypes are refused
    (a float label is never truncated silently)."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataError(f"{where}: labels must be one integer per image, got shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise DataError(f"{where}: labels must be integers, got dtype {labels.dtype}")
    if len(labels) != n:
        raise DataError(f"{where}: {n} images but {len(labels)} labels")
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{where}: labels must lie in [0, {num_classes - 1}], found [{labels.min()}, {labels.max()}]")
    return labels.astype(np.int64)
