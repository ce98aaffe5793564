"""Shared fixtures: tiny dataset files in the exact on-disk formats, and real Fashion-MNIST."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from advtrojan.data import SPECS, load_dataset

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise a uint8 array as an IDX file (magic 0x0000 08 ndim, big-endian sizes, payload)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(folder: Path, n_train=20, n_test=10, size=28, compress=True, seed=0) -> dict:
    """Write the four MNIST-style IDX files into ``folder``; return the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n, prefix in (("train", n_train, "train"), ("test", n_test, "t10k")):
        images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        arrays[split] = (images, labels)
        for kind, arr in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            data = idx_bytes(arr)
            name = f"{prefix}-{kind}"
            if compress:
                (folder / (name + ".gz")).write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return arrays


def tiny_spec(name="fmnist", n_train=20, n_test=10):
    return replace(SPECS[name], train_size=n_train, test_size=n_test)


def cifar_batch_pickle(n: int, seed: int) -> tuple[bytes, np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(i % 10) for i in range(n)]
    return pickle.dumps({b"batch_label": b"x", b"labels": labels, b"data": data, b"filenames": [b"a"] * n},
                        protocol=2), data, labels


def write_cifar_tar(path: Path, per_batch=4, binary=False) -> np.ndarray:
    """A cifar-10-python.tar.gz (or binary) with 5 train batches and 1 test batch."""
    folder = "cifar-10-batches-bin" if binary else "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    all_data = []
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate(names):
            raw, data, labels = cifar_batch_pickle(per_batch, i)
            if binary:
                raw = np.concatenate([np.array(labels, np.uint8)[:, None], data], 1).tobytes()
                name += ".bin"
            all_data.append(data)
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return np.concatenate(all_data)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache, and the network is never touched."""
    monkeypatch.setenv("ADVTROJAN_CACHE", str(tmp_path / "cache"))

    def no_network(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr("advtrojan.data.sources.urlopen", no_network)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def fmnist():
    """Real Fashion-MNIST (Debian's dataset-fashion-mnist, installed by .ci/run)."""
    assert FMNIST_DIR.is_dir(), "install Fashion-MNIST: apt-get install dataset-fashion-mnist"
    train = load_dataset("fmnist", "train", data_dir=FMNIST_DIR)
    test = load_dataset("fmnist", "test", data_dir=FMNIST_DIR)
    return train, test
