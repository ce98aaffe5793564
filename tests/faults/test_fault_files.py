"""Files from strangers: dataset files (IDX, CIFAR-10 batches, .npz, image folders) and weights.
Each bad file is one error naming it; no payload is ever run; nothing is unpacked beyond what
the format promises."""

from __future__ import annotations

import builtins
import gzip
import io
import pickle
import resource
import struct
import tarfile
import zlib

import numpy as np
import pytest
import torch
from safetensors.torch import load, save_file

from advtrojan.data import load_dataset
from advtrojan.errors import DataError
from conftest import idx_bytes, tiny_spec, write_idx_set
from faultkit import TRAIN, examples_importable, one_line_error, run  # noqa: F401 (fixtures)

IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"


def header(n, *dims):
    return struct.pack(">HBB", 0, 8, 1 + len(dims)) + struct.pack(f">{1 + len(dims)}I", n, *dims)


@pytest.mark.parametrize("name, content, message", [
    (IMAGES, lambda d: d[:-7], "truncated"),
    (IMAGES, lambda d: d + b"xx", "trailing bytes"),
    (IMAGES, lambda d: b"\x00\x00\x0d\x03" + d[4:], "bad IDX magic"),
    (IMAGES, lambda d: b"\x00\x00\x08\x02" + d[4:], "has 2 dimensions"),
    (LABELS, lambda d: d[:2], "too short"),
    (LABELS, lambda d: d[:6], "truncated IDX header"),
    (IMAGES, lambda d: gzip.compress(d)[:-20], "corrupt or truncated gzip"),
    (IMAGES, lambda d: b"\x1f\x8b" + b"\x00" * 40, "corrupt or truncated gzip"),
    (IMAGES, lambda d: header(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), "images are 4294967295x4294967295"),
    (IMAGES, lambda d: header(0xFFFFFFFF, 28, 28), "4294967295 images, the official split has 20"),
    (LABELS, lambda d: idx_bytes(np.full(20, 200, np.uint8)), "label 200 outside 0..9"),
    (LABELS, lambda d: idx_bytes(np.zeros(19, np.uint8)), "20 images but"),
    (IMAGES, lambda d: idx_bytes(np.zeros((20, 32, 32), np.uint8)), "32x32, expected 28x28"),
])
def test_a_bad_idx_file_is_named(tmp_path, name, content, message):
    write_idx_set(tmp_path, compress=False)
    path = tmp_path / name
    path.write_bytes(content(path.read_bytes()))
    with pytest.raises(DataError, match=message) as err:
        load_dataset(tiny_spec(), "train", data_dir=tmp_path, download=False)
    assert name in str(err.value)


def test_a_gzip_bomb_is_not_unpacked_beyond_the_header(tmp_path):
    """2 MB that inflate to 2 GiB in place of the labels: refused after reading the 21 bytes the
    header allows, with no memory growth to speak of."""
    write_idx_set(tmp_path, compress=False)
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [squeeze.compress(header(20)[:8])] + [squeeze.compress(bytes(1 << 24)) for _ in range(128)]
    (tmp_path / LABELS).unlink()
    (tmp_path / (LABELS + ".gz")).write_bytes(b"".join(parts) + squeeze.flush())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DataError, match="trailing bytes"):
        load_dataset(tiny_spec(), "train", data_dir=tmp_path, download=False)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: far below 2 GiB


def test_a_folder_in_place_of_a_data_file_is_not_a_fallback(tmp_path):
    write_idx_set(tmp_path, compress=False)
    (tmp_path / LABELS).unlink()
    (tmp_path / LABELS).mkdir()
    with pytest.raises(DataError, match="does not hold"):
        load_dataset(tiny_spec(), "train", data_dir=tmp_path, download=False)


def test_an_unreadable_data_file_is_one_line(tmp_path, capsys, monkeypatch):
    """Permission denied (simulated: root reads everything) reaches the user as one line naming it."""
    write_idx_set(tmp_path / "fmnist", compress=False)
    real_open = builtins.open

    def denied(file, *a, **k):
        if str(file).endswith(IMAGES):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **k)
    monkeypatch.setattr(builtins, "open", denied)
    err = one_line_error(["train", "--dataset", "fmnist", "--objective", "vanilla", "--data-dir", tmp_path,
                          "--out", tmp_path / "r", "--no-progress"], capsys)
    assert IMAGES in err and "Permission denied" in err


def cifar_folder(tmp_path, batch: dict | bytes, name="data_batch_1"):
    from conftest import cifar_batch_pickle
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i, n in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        (folder / n).write_bytes(cifar_batch_pickle(4, i)[0])
    (folder / name).write_bytes(batch if isinstance(batch, bytes) else pickle.dumps(batch, protocol=2))
    return tmp_path


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("batch, message", [
    ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0.0, 1.5, 2.0, 3.0]}, "'labels' must be integers"),
    ({b"data": np.zeros((4, 3072), np.uint8), b"labels": ["cat", "dog", "cat", "dog"]}, "'labels' must be integers"),
    ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1]}, "4 images but 2 labels"),
    ({b"data": np.zeros((4, 3072), np.float32), b"labels": [0, 1, 2, 3]}, "expected uint8"),
    ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 12]}, "label outside 0..9"),
    ({b"labels": [0, 1, 2, 3]}, "lacks 'data' or 'labels'"),
    ([1, 2, 3], "must be a dict"),
    (b"\x80\x02garbage", "corrupt CIFAR-10 batch"),
])
def test_a_bad_cifar_batch_is_named(tmp_path, batch, message):
    with pytest.raises(DataError, match=message) as err:
        load_dataset(tiny_spec("cifar10", 20, 4), "train", data_dir=cifar_folder(tmp_path, batch), download=False)
    assert "data_batch_1" in str(err.value) or "cifar-10-batches-py" in str(err.value)


def test_a_cifar_batch_that_runs_code_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "ran"
    data = pickle.dumps({b"data": Payload(str(marker)), b"labels": [0]}, protocol=2)
    with pytest.raises(DataError, match="refused to unpickle"):
        load_dataset(tiny_spec("cifar10", 20, 4), "train", data_dir=cifar_folder(tmp_path, data), download=False)
    assert not marker.exists()


def test_a_truncated_cifar_archive_is_named(tmp_path):
    from conftest import write_cifar_tar
    write_cifar_tar(tmp_path / "cifar-10-python.tar.gz")
    blob = (tmp_path / "cifar-10-python.tar.gz").read_bytes()
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="cifar-10-python.tar.gz: corrupt or truncated"):
        load_dataset(tiny_spec("cifar10", 20, 4), "train", data_dir=tmp_path, download=False)


def npz(tmp_path, **over):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (20, 8, 8), dtype=np.uint8), "y_train": np.arange(20) % 2,
              "x_test": rng.integers(0, 256, (6, 8, 8), dtype=np.uint8), "y_test": np.arange(6) % 2, **over}
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(tmp_path / "d.npz", **arrays)
    return tmp_path / "d.npz"


@pytest.mark.parametrize("over, message", [
    ({"x_test": None}, "x_test"),
    ({"y_train": np.arange(20) % 2 + 0.5}, "y_train must be integers"),
    ({"y_train": np.arange(19) % 2}, "20 images but 19 labels"),
    ({"y_train": -(np.arange(20) % 2)}, "labels must lie in"),
    ({"x_train": np.full((20, 8, 8), np.nan, np.float32)}, "NaN"),
    ({"x_train": np.full((20, 8, 8), 3.0, np.float32)}, "float pixels must lie in [0, 1]"),
    ({"x_train": np.zeros((20, 2, 8, 8), np.uint8)}, "shape"),
    ({"x_train": np.full((20, 8, 8), "a")}, "images must be numbers"),
    ({"x_train": np.array([np.zeros((8, 8)), None] * 10, dtype=object)}, "pickle"),
])
def test_a_bad_npz_dataset_is_one_line_through_the_cli(tmp_path, capsys, over, message):
    path = npz(tmp_path, **over)
    err = one_line_error(["train", "--dataset", f"npz:{path}", "--objective", "vanilla", "--epochs", "1",
                          "--no-progress", "--out", tmp_path / "r"], capsys, folder=tmp_path)
    assert message in err


@pytest.mark.parametrize("make, message", [
    (lambda root: (root / "a" / "0.png").write_text("not an image"), "not a readable image"),
    (lambda root: (root / "a" / "notes.txt").write_text("hello"), "not a PNG or JPEG"),
    (lambda root: [p.unlink() for p in (root / "b").iterdir()], "at least 2 images"),
    (lambda root: __import__("shutil").rmtree(root / "b"), "at least two class"),
])
def test_a_bad_image_folder_is_one_line_through_the_cli(tmp_path, capsys, make, message):
    from PIL import Image
    root = tmp_path / "imgs"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(root / c / f"{i}.png")
    make(root)
    err = one_line_error(["train", "--dataset", f"folder:{root}", "--objective", "vanilla", "--epochs", "1",
                          "--no-progress", "--out", tmp_path / "r"], capsys, folder=tmp_path)
    assert message in err


SCAN = ["--model", "lenet", "--plugin", "user_dataset", "--dataset", "stripes", "--defenses", "strip", "--pool",
        "20", "--strip-reserved", "10", "--no-progress"]


@pytest.mark.parametrize("make, message", [
    (lambda p, good: p.write_bytes(b""), "not a readable safetensors file"),
    (lambda p, good: p.write_bytes(good[:-100]), "not a readable safetensors file"),
    (lambda p, good: p.write_bytes(struct.pack("<Q", 1 << 60) + b"{}"), "not a readable safetensors file"),
    (lambda p, good: p.write_bytes(struct.pack("<Q", 9) + b"not json!"), "not a readable safetensors file"),
    (lambda p, good: p.mkdir(), "not a run folder"),
    (lambda p, good: save_file({k: v[..., :1].contiguous() for k, v in load(good).items()}, str(p)),
     "tensors do not fit"),
])
def test_a_bad_weights_file_is_named(run, tmp_path, capsys, make, message):
    make(tmp_path / "w.safetensors", (run / "model.safetensors").read_bytes())
    assert message in one_line_error(["scan", tmp_path / "w.safetensors", *SCAN], capsys)


def test_a_torch_pickle_in_place_of_weights_does_not_run(tmp_path, capsys):
    marker = tmp_path / "ran"
    torch.save({"conv1.weight": Payload(str(marker))}, tmp_path / "model.pt")
    err = one_line_error(["scan", tmp_path / "model.pt", *SCAN], capsys)
    assert "not a readable safetensors file" in err and not marker.exists()


def test_a_tar_with_a_path_outside_is_never_extracted(tmp_path):
    """CIFAR archives are read member by member in memory; a member named ../x is not written."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "cifar-10-python.tar.gz").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="archive has no member"):
        load_dataset(tiny_spec("cifar10", 20, 4), "train", data_dir=tmp_path / "d", download=False)
    assert not (tmp_path / "escaped").exists()


def test_a_cifar_tar_bomb_is_refused_before_unpacking(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = 100 << 20  # 100 MB of zeros, a few hundred kB compressed
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="would unpack to 104857600 bytes"):
        load_dataset(tiny_spec("cifar10", 20, 4), "train", data_dir=tmp_path, download=False)


def test_weights_from_other_tools_with_plain_string_metadata_are_read(run, tmp_path):
    """safetensors files written by other tools carry ``{"format": "pt"}`` (not JSON): accepted."""
    from advtrojan.models.weights import check_metadata, read_weights
    save_file(load((run / "model.safetensors").read_bytes()), str(tmp_path / "w.safetensors"),
              metadata={"format": "pt"})
    tensors, meta = read_weights(tmp_path / "w.safetensors")
    assert meta == {"format": "pt"} and "conv1.weight" in tensors
    check_metadata(meta, "w", dataset="stripes", model="lenet")
