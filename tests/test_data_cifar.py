"""CIFAR-10 python and binary batches, read without executing pickle code; augmentation."""

from __future__ import annotations

import os
import pickle
import tarfile
from dataclasses import replace

import numpy as np
import pytest
import torch

from advtrojan.data import SPECS, load_dataset
from advtrojan.data.augment import pad_crop_flip
from advtrojan.data.cifar import parse_python_batch
from advtrojan.errors import DataError
from conftest import cifar_batch_pickle, write_cifar_tar

SPEC = replace(SPECS["cifar10"], train_size=20, test_size=4, system_dirs=())


@pytest.mark.parametrize("binary", [False, True])
def test_reads_tarball(tmp_path, binary):
    name = "cifar-10-binary.tar.gz" if binary else "cifar-10-python.tar.gz"
    data = write_cifar_tar(tmp_path / name, binary=binary)
    train = load_dataset(SPEC, "train", data_dir=tmp_path, download=False)
    test = load_dataset(SPEC, "test", data_dir=tmp_path, download=False)
    assert train.images.shape == (20, 3, 32, 32) and len(test) == 4
    assert np.array_equal(train.images[0].numpy().reshape(-1), data[0])  # CHW order as stored
    assert train.labels.tolist()[:5] == [0, 1, 2, 3, 0]


def test_reads_extracted_batches_folder(tmp_path):
    write_cifar_tar(tmp_path / "a.tar.gz")
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    assert len(load_dataset(SPEC, "train", data_dir=tmp_path, download=False)) == 20


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/advtrojan-pwned",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    payload = pickle.dumps({b"data": _Evil(), b"labels": [0]})
    with pytest.raises(DataError, match="refused to unpickle.*posix.system|refused to unpickle.*os.system"):
        parse_python_batch(payload, "evil")
    assert not os.path.exists("/tmp/advtrojan-pwned")


def test_corrupt_batches_and_archives(tmp_path):
    raw, _, _ = cifar_batch_pickle(4, 0)
    with pytest.raises(DataError, match="corrupt CIFAR-10 batch"):
        parse_python_batch(raw[: len(raw) // 2], "half")
    bad = pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    with pytest.raises(DataError, match=r"expected uint8 \(N, 3072\)"):
        parse_python_batch(bad, "bad")
    write_cifar_tar(tmp_path / "cifar-10-python.tar.gz")
    blob = (tmp_path / "cifar-10-python.tar.gz").read_bytes()
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="cifar-10-python.tar.gz"):
        load_dataset(SPEC, "train", data_dir=tmp_path, download=False)


def test_pad_crop_flip_is_a_shifted_window():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 32, 32)
    gen = torch.Generator().manual_seed(0)
    out = pad_crop_flip(x, generator=gen)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(8):  # each output is some 32x32 window of the padded image, maybe mirrored
        found = False
        for dy in range(9):
            for dx in range(9):
                win = padded[i, :, dy:dy + 32, dx:dx + 32]
                if torch.equal(win, out[i]) or torch.equal(win.flip(-1), out[i]):
                    found = True
        assert found
    flips = sum(torch.equal(out[i], padded[i, :, 4:36, 4:36].flip(-1)) for i in range(64))
    assert (out != x).any() and flips >= 0
