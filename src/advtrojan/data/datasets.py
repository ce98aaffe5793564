"""Datasets as tensors in memory: uint8 images (N, C, H, W) and int64 labels, pixels in [0,1]
once batched. MNIST, Fashion-MNIST, CIFAR-10 and GTSRB go through the same code."""

from __future__ import annotations

import os
from pathlib import Path
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .augment import pad_crop_flip
from .cifar import load_cifar_split
from .gtsrb import load_gtsrb_split
from .idx import load_idx_pair
from .provenance import recording
from .sources import idx_file, locate
from .registry import ALIASES, DATASETS, FORMATS, resolve_spec
from .specs import ALIASES as SPEC_ALIASES
from .specs import IDX_FILES, SPECS, DatasetSpec


def get_spec(name) -> DatasetSpec:
    """The spec of a dataset: a registered name (``fmnist``), an alias, or ``npz:PATH`` / ``folder:PATH``."""
    return resolve_spec(name)


@dataclass
class ImageData:
    """One split of a dataset. ``images`` stay uint8 to save memory; batches are float in [0,1]."""

    spec: DatasetSpec
    split: str
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)
    files: tuple = ()  # the files it was read from (data.provenance.record); () when made in memory

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> "ImageData":
        return ImageData(self.spec, self.split, self.images[index], self.labels[index], self.files)

    def balanced_subset(self, limit: int | None, seed: int = 0) -> "ImageData":
        """A deterministic, class-balanced subset of ``limit`` images (``None``: everything)."""
        if limit is None or limit >= len(self):
            return self
        if limit <= 0:
            raise ConfigError(f"--limit must be positive, got {limit}")
        gen = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self), generator=gen)
        k = self.spec.num_classes
        quota = [limit // k + (1 if c < limit % k else 0) for c in range(k)]
        picked = []
        for c in range(k):
            members = order[self.labels[order] == c]
            picked.append(members[: quota[c]])
        index = torch.cat(picked).sort().values
        return self.subset(index)

    def tensors(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """All images as float in [0,1] and labels, on ``device``."""
        return self.images.to(device).float().div_(255), self.labels.to(device)

    def batches(self, batch_size: int, *, shuffle: bool = False, augment: bool = False,
                generator: torch.Generator | None = None, device: torch.device | str = "cpu",
                part: tuple[int, int] = (0, 1)) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (x, y) with x float in [0,1]; ``augment`` applies Appendix F's CIFAR-10 transform.

        ``part=(rank, world)`` yields that process's contiguous share of each batch: the batches,
        their order and their augmentation are those of a single process, split ``world`` ways."""
        rank, world = part
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            x = self.images[idx].float().div_(255)
            if augment:
                x = pad_crop_flip(x, generator=generator)
            y = self.labels[idx]
            if world > 1:
                keep = torch.arange(len(idx)).tensor_split(world)[rank]
                x, y = x[keep], y[keep]
            yield x.to(device), y.to(device)


def _official(read):
    """A loader of an official, downloadable dataset: find its files, read them, check the count."""
    def load(spec: DatasetSpec, split: str, data_dir=None, download=True):
        source = locate(spec, data_dir, download=download)
        count = spec.train_size if split == "train" else spec.test_size
        return read(spec, source, split, count)
    load.factory = read
    return load


def _idx(spec, source, split, count):
    images_base, labels_base = IDX_FILES[split]
    return load_idx_pair(idx_file(source, images_base), idx_file(source, labels_base),
                         (spec.size, spec.size), spec.num_classes, count)


FORMATS.add("idx", _official(_idx))
FORMATS.add("cifar", _official(lambda spec, source, split, count: load_cifar_split(source, split, spec.num_classes,
                                                                                   count)))
FORMATS.add("gtsrb", _official(lambda spec, source, split, count: load_gtsrb_split(source, split, spec.size,
                                                                                   spec.num_classes, count)))
for _spec in SPECS.values():
    DATASETS.add(_spec.name, _spec)
ALIASES.update(SPEC_ALIASES)


def load_dataset(name: str | DatasetSpec, split: str = "train", *, data_dir: str | os.PathLike | None = None,
                 limit: int | None = None, seed: int = 0, download: bool = True) -> ImageData:
    """Load ``split`` ('train' or 'test') of a dataset (a name, ``npz:PATH``, ``folder:PATH`` or a spec).

    Official datasets' files are looked up as :mod:`advtrojan.data.sources` describes; ``limit``
    takes a deterministic class-balanced subset for quick runs.
    """
    spec = get_spec(name)
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():  # those files or an error, for every format
        raise DataError(f"--data-dir {data_dir}: no such folder")
    if split not in ("train", "test"):
        raise ConfigError(f"unknown split {split!r}: choose train or test")
    with recording() as files:
        images, labels = FORMATS.get(spec.format)(spec, split, data_dir=data_dir, download=download)
    if images.shape[1:] != spec.shape:
        raise DataError(f"{spec.title}: images have shape {images.shape[1:]}, {spec.shape} is needed")
    data = ImageData(spec, split, torch.from_numpy(np.array(images, copy=True)),
                     torch.from_numpy(labels.astype(np.int64)), tuple(dict.fromkeys(files)))
    return data.balanced_subset(limit, seed)
