"""A user's own dataset as a plug-in: ``--plugin user_dataset --dataset stripes``.

Four classes of 16x16 greyscale stripes (horizontal, vertical, diagonal, anti-diagonal) with a
random phase, period and contrast, plus noise: generated, so it needs no files, and learnable
in seconds. A real plug-in would read its files here (``data_dir`` is the user's ``--data-dir``).
The toolkit checks what ``load`` returns against the declaration (shape, dtype, label range).
"""

import numpy as np

from advtrojan.data import register_dataset

CLASSES = ("horizontal", "vertical", "diagonal", "anti-diagonal")
SIZE = 16


@register_dataset("stripes", classes=CLASSES, channels=1, size=SIZE, title="Stripes (example plug-in)")
def load(split: str, data_dir=None):
    rng = np.random.default_rng(0 if split == "train" else 1)
    n = 2000 if split == "train" else 600
    labels = np.arange(n) % len(CLASSES)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    direction = np.stack([yy, xx, yy + xx, yy - xx])  # one coordinate per class
    period = rng.uniform(3.0, 6.0, n)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    contrast = rng.uniform(0.3, 0.5, n)[:, None, None]
    images = 0.5 + contrast * np.sin(2 * np.pi * direction[labels] / period + phase)
    images += rng.normal(0, 0.05, images.shape)
    return np.clip(images, 0, 1).astype(np.float32), labels
