"""IDX files (gzip and raw), corrupt variants, and where files are looked for."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest

from advtrojan.data import load_dataset
from advtrojan.data import sources
from advtrojan.errors import DataError
from conftest import idx_bytes, tiny_spec, write_idx_set


@pytest.mark.parametrize("compress", [True, False])
def test_reads_gzip_and_raw_idx(tmp_path, compress):
    arrays = write_idx_set(tmp_path, compress=compress)
    data = load_dataset(tiny_spec(), "train", data_dir=tmp_path, download=False)
    images, labels = arrays["train"]
    assert data.images.shape == (20, 1, 28, 28)
    assert np.array_equal(data.images[:, 0].numpy(), images)
    assert np.array_equal(data.labels.numpy(), labels)
    x, y = next(data.batches(8))
    assert x.dtype.is_floating_point and 0 <= x.min() and x.max() <= 1
    assert np.allclose(x[0, 0].numpy(), images[0] / 255.0)


def test_idx_files_in_dataset_subfolder_and_dot_names(tmp_path):
    write_idx_set(tmp_path / "fmnist", compress=False)
    for f in (tmp_path / "fmnist").iterdir():  # Kaggle-style names: train-images.idx3-ubyte
        f.rename(f.with_name(f.name.replace("-idx", ".idx")))
    assert len(load_dataset(tiny_spec(), "test", data_dir=tmp_path, download=False)) == 10


# Damaged IDX files (truncated, trailing bytes, bad magic, corrupt gzip, gzip bombs, headers that
# overflow) are cases of the fault suite: tests/faults/test_fault_files.py.


def test_mismatched_counts_shapes_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    write_idx_set(tmp_path, compress=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(19, np.uint8)))
    with pytest.raises(DataError, match="20 images but .* 19 labels"):
        load_dataset(tiny_spec(), "train", data_dir=tmp_path, download=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(20, 12, np.uint8)))
    with pytest.raises(DataError, match="label 12 outside 0..9"):
        load_dataset(tiny_spec(), "train", data_dir=tmp_path, download=False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(rng.integers(0, 255, (20, 32, 32), dtype=np.uint8)))
    with pytest.raises(DataError, match="32x32, expected 28x28"):
        load_dataset(tiny_spec(), "train", data_dir=tmp_path, download=False)
    write_idx_set(tmp_path, compress=False)
    with pytest.raises(DataError, match="the official split has 60000"):  # a tiny file posing as the real set
        load_dataset("fmnist", "train", data_dir=tmp_path, download=False)


def test_balanced_limit_is_deterministic(tmp_path):
    write_idx_set(tmp_path, n_train=200, n_test=10)
    a = load_dataset(tiny_spec(n_train=200), "train", data_dir=tmp_path, limit=50, download=False)
    b = load_dataset(tiny_spec(n_train=200), "train", data_dir=tmp_path, limit=50, download=False)
    assert len(a) == 50 and a.labels.bincount().tolist() == [5] * 10
    assert (a.images == b.images).all()


def test_search_order_data_dir_before_system_before_cache(tmp_path, monkeypatch):
    first, system, cache = tmp_path / "mine", tmp_path / "system", tmp_path / "cache"
    write_idx_set(first, seed=1)
    write_idx_set(system, seed=2)
    write_idx_set(cache / "fmnist", seed=3)
    spec = tiny_spec()
    from dataclasses import replace
    spec = replace(spec, system_dirs=(str(system),))
    assert sources.locate(spec, first) == first
    assert sources.locate(spec, None) == system
    assert sources.locate(replace(spec, system_dirs=()), None) == cache / "fmnist"


class FakeResponse(io.BytesIO):
    headers = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _serve(monkeypatch, files: dict[str, bytes], seen: list):
    def fake_urlopen(url, timeout=None):
        seen.append(url)
        name = url.rsplit("/", 1)[1]
        if name not in files:
            raise OSError("404")
        return FakeResponse(files[name])
    monkeypatch.setattr(sources, "urlopen", fake_urlopen)


def _official_like(tmp_path):
    folder = tmp_path / "served"
    write_idx_set(folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    spec = tiny_spec()
    from dataclasses import replace
    remote = tuple(type(f)(f.name, hashlib.md5(files[f.name]).hexdigest()) for f in spec.files)
    return replace(spec, files=remote, system_dirs=()), files


def test_download_verifies_checksums_and_caches(tmp_path, monkeypatch):
    spec, files = _official_like(tmp_path)
    seen = []
    _serve(monkeypatch, files, seen)
    data = load_dataset(spec, "train")
    assert len(data) == 20
    assert all(u.startswith(spec.mirrors[0]) for u in seen) and len(seen) == 4
    cached = sorted(p.name for p in (sources.cache_root() / "fmnist").iterdir())
    assert cached == sorted(files)
    seen.clear()
    load_dataset(spec, "test")  # served from the cache now
    assert seen == []


def test_a_dead_mirror_falls_through_to_the_next(tmp_path, monkeypatch):
    import urllib.error
    from dataclasses import replace
    spec, files = _official_like(tmp_path)
    spec = replace(spec, mirrors=("http://dead.example/fmnist/", *spec.mirrors))
    seen = []
    _serve(monkeypatch, files, seen)
    serve = sources.urlopen

    def first_mirror_down(url, timeout=None):
        if url.startswith(spec.mirrors[0]):
            seen.append(url)
            raise urllib.error.URLError("connection refused")
        return serve(url, timeout)
    monkeypatch.setattr(sources, "urlopen", first_mirror_down)
    assert len(load_dataset(spec, "train")) == 20
    assert {u.split("/")[2] for u in seen} == {m.split("/")[2] for m in spec.mirrors[:2]}


def test_bad_checksum_leaves_nothing_in_cache(tmp_path, monkeypatch):
    spec, files = _official_like(tmp_path)
    files["t10k-images-idx3-ubyte.gz"] = b"garbage"
    _serve(monkeypatch, files, [])
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset(spec, "train")
    left = [p.name for p in (sources.cache_root() / "fmnist").iterdir()]
    assert "t10k-images-idx3-ubyte.gz" not in left and not any(n.endswith(".part") for n in left)


def test_offline_without_files_says_what_is_missing_and_how(tmp_path, monkeypatch):
    from dataclasses import replace
    spec = replace(tiny_spec(), system_dirs=())
    monkeypatch.setenv("ADVTROJAN_OFFLINE", "1")
    with pytest.raises(DataError) as err:
        load_dataset(spec, "train")
    text = str(err.value)
    for needle in ("train-images-idx3-ubyte.gz", "--data-dir", "apt-get install dataset-fashion-mnist",
                   "ADVTROJAN_CACHE"):
        assert needle in text


def test_data_dir_means_those_files_or_an_error_never_a_fallback(tmp_path, monkeypatch):
    """A --data-dir that is missing, or lacks a file, is an error even where another copy exists."""
    from dataclasses import replace
    spec = replace(tiny_spec(), system_dirs=())
    write_idx_set(tmp_path / "cache" / "fmnist")  # a complete copy elsewhere, in the cache
    monkeypatch.setenv("ADVTROJAN_CACHE", str(tmp_path / "cache"))
    assert len(load_dataset(spec, "test", download=False)) == 10  # found without --data-dir
    with pytest.raises(DataError, match="no such folder"):
        load_dataset(spec, "test", data_dir=tmp_path / "missing", download=False)
    write_idx_set(tmp_path / "partial")
    (tmp_path / "partial" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="does not hold Fashion-MNIST's files"):
        load_dataset(spec, "test", data_dir=tmp_path / "partial", download=False)
