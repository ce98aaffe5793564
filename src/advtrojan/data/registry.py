"""The dataset registry: built-in datasets, file formats, path schemes and the user's own datasets.

A dataset is a :class:`~advtrojan.data.specs.DatasetSpec` (what it is: shape, classes, where its
files live) plus the loader of its ``format``. Three doors, all used by the built-ins too:

- :data:`DATASETS`: named specs (``mnist``, ``fmnist``, ``cifar10``, ``gtsrb``, a plug-in's);
- :data:`FORMATS`: loaders ``(spec, split, data_dir, download) -> (images, labels)``;
- :data:`SCHEMES`: ``SCHEME:ARGUMENT`` names (``npz:faces.npz``, ``folder:~/data/signs``) that
  build a spec from a path.

:func:`register_dataset` is the short way for a user: decorate a function that returns one
split's images and labels.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import ConfigError
from ..registry import Registry, call_with
from .arrays import as_uint8_nchw, check_labels
from .specs import DatasetSpec

DATASETS: Registry = Registry("dataset")
FORMATS: Registry = Registry("dataset format")
SCHEMES: Registry = Registry("dataset scheme")
ALIASES: dict[str, str] = {}


def register_dataset(name: str, *, classes, channels: int, size: int, title: str | None = None,
                     augment: bool = False) -> Callable:
    """Decorator: register ``load(split, data_dir=None) -> (images, labels)`` as dataset ``name``.

    ``images``: uint8 in [0, 255] or float in [0, 1], shaped (N, H, W), (N, H, W, C) or (N, C, H, W);
    ``labels``: integers in [0, len(classes)). Both are checked against the declaration.
    """
    classes = tuple(str(c) for c in classes)
    if len(classes) < 2:
        raise ConfigError(f"dataset {name!r}: at least two classes are needed, got {len(classes)}")
    if channels not in (1, 3) or int(size) < 4:
        raise ConfigError(f"dataset {name!r}: channels must be 1 or 3 and size >= 4 (got {channels}, {size})")
    spec = DatasetSpec(name=name, title=title or name, format=f"plugin:{name}", channels=channels, size=int(size),
                       train_size=None, test_size=None, classes=classes, augment=augment)

    def add(load):
        def loader(spec_, split, data_dir=None, download=True):
            images, labels = call_with(load, split=split, data_dir=data_dir)
            where = f"dataset {name!r} ({split})"
            x = as_uint8_nchw(np.asarray(images), spec_.channels, spec_.size, where)
            y = check_labels(np.asarray(labels), len(x), spec_.num_classes, where)
            return x, y
        loader.factory = load
        FORMATS.add(spec.format, loader)
        DATASETS.add(name, spec)
        return load
    return add


def resolve_spec(name) -> DatasetSpec:
    """The spec of a registered name, an alias, or a ``SCHEME:ARGUMENT`` name."""
    if isinstance(name, DatasetSpec):
        return name
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"--dataset needs a name, got {name!r}")
    key = ALIASES.get(name.lower(), name.lower())
    if key in DATASETS:
        return DATASETS[key]
    if name in DATASETS:
        return DATASETS[name]
    scheme, sep, argument = name.partition(":")
    if sep and scheme in SCHEMES:
        return SCHEMES[scheme](argument)
    raise ConfigError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}, or name your own "
                      f"as {' or '.join(s + ':PATH' for s in SCHEMES)}")
