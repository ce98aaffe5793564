"""GTSRB from archives in the official layout (PPM images of varying sizes, ';' CSVs), the
customary 32x32 resize, the cache, hostile archives, and the download against a test double."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from advtrojan.data import SPECS, load_dataset
from advtrojan.data import sources
from advtrojan.data.gtsrb import TEST_GT_ZIP, TEST_ZIP, TRAIN_ZIP
from advtrojan.errors import DataError

HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"


def ppm(colour, size) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PPM")
    return buf.getvalue()


def write_gtsrb(folder, per_class=(2, 1, 3), n_test=4, bad=None):
    """The three official archives, tiny: class k's images are filled with colour (20k, 5k, 255-k)."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / TRAIN_ZIP, "w") as z:
        for k, n in enumerate(per_class):
            base = f"GTSRB/Final_Training/Images/{k:05d}"
            rows = HEADER
            for i in range(n):
                name = f"00000_{i:05d}.ppm"
                size = (30 + 7 * i, 25 + 3 * k)  # sizes vary, as in the real set
                image = b"this is not a picture" if (bad == "not_image" and k == i == 0) else ppm(
                    (20 * k, 5 * k, 255 - k), size)
                z.writestr(f"{base}/{name}", image)
                rows += f"{name};{size[0]};{size[1]};5;5;20;20;{k}\n"
            if bad == "label" and k == 1:
                rows = rows.rsplit(";", 1)[0] + ";77\n"
            if bad == "missing" and k == 2:
                rows += "00000_00099.ppm;30;30;5;5;20;20;2\n"
            z.writestr(f"{base}/GT-{k:05d}.csv", rows)
    labels = [i % len(per_class) for i in range(n_test)]
    with zipfile.ZipFile(folder / TEST_ZIP, "w") as z:
        for i in range(n_test):
            z.writestr(f"GTSRB/Final_Test/Images/{i:05d}.ppm", ppm((20 * labels[i], 5 * labels[i], 255 - labels[i]),
                                                                  (40, 44)))
        z.writestr("GTSRB/Final_Test/Images/GT-final_test.test.csv", HEADER.replace(";ClassId", ""))
    with zipfile.ZipFile(folder / TEST_GT_ZIP, "w") as z:
        z.writestr("GT-final_test.csv", HEADER + "".join(f"{i:05d}.ppm;40;44;5;5;30;30;{labels[i]}\n"
                                                         for i in range(n_test)))
    return labels


def tiny(per_class=(2, 1, 3), n_test=4):
    return replace(SPECS["gtsrb"], train_size=sum(per_class), test_size=n_test, system_dirs=())


def test_reads_the_official_layout_resized_to_32(tmp_path):
    labels = write_gtsrb(tmp_path)
    train = load_dataset(tiny(), "train", data_dir=tmp_path, download=False)
    assert train.images.shape == (6, 3, 32, 32) and train.images.dtype.is_floating_point is False
    assert train.labels.tolist() == [0, 0, 1, 2, 2, 2]
    # the whole image, resized: a flat colour stays that colour
    assert train.images[3, :, 16, 16].tolist() == [40, 10, 253]
    test = load_dataset(tiny(), "test", data_dir=tmp_path, download=False)
    assert test.labels.tolist() == labels and test.images.shape == (4, 3, 32, 32)
    assert SPECS["gtsrb"].num_classes == 43 and SPECS["gtsrb"].shape == (3, 32, 32)


def test_decoded_splits_are_cached_and_rebuilt_when_the_archive_changes(tmp_path):
    write_gtsrb(tmp_path)
    first = load_dataset(tiny(), "train", data_dir=tmp_path, download=False)
    cache = tmp_path / "gtsrb-32-train.npz"
    assert cache.is_file()
    with np.load(cache, allow_pickle=False) as z:
        assert np.array_equal(z["images"], first.images.numpy())
    write_gtsrb(tmp_path, per_class=(1, 1, 1))  # another archive of another size: the cache is stale
    again = load_dataset(tiny((1, 1, 1)), "train", data_dir=tmp_path, download=False)
    assert len(again) == 3
    cache.write_bytes(b"torn")  # a torn cache is decoded again, not trusted
    assert len(load_dataset(tiny((1, 1, 1)), "train", data_dir=tmp_path, download=False)) == 3


@pytest.mark.parametrize("bad, message", [("label", "ClassId '77'"), ("missing", "does not hold"),
                                          ("not_image", "not a readable image")])
def test_bad_archives_get_one_clear_error(tmp_path, bad, message):
    write_gtsrb(tmp_path, bad=bad)
    with pytest.raises(DataError, match=message):
        load_dataset(tiny(), "train", data_dir=tmp_path, download=False)
    assert not (tmp_path / "gtsrb-32-train.npz").exists()


def test_wrong_count_and_garbage_archive(tmp_path):
    write_gtsrb(tmp_path)
    with pytest.raises(DataError, match="official one 39209"):
        load_dataset(replace(SPECS["gtsrb"], system_dirs=()), "train", data_dir=tmp_path, download=False)
    (tmp_path / TEST_GT_ZIP).write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(DataError, match="not a readable zip archive"):
        load_dataset(tiny(), "test", data_dir=tmp_path, download=False)


def test_downloads_the_three_archives_and_verifies_them(tmp_path, monkeypatch):
    served = tmp_path / "served"
    write_gtsrb(served)
    files = {p.name: p.read_bytes() for p in served.iterdir()}
    spec = replace(tiny(), files=tuple(replace(f, md5=hashlib.md5(files[f.name]).hexdigest())
                                       for f in SPECS["gtsrb"].files))
    seen = []

    class Response(io.BytesIO):
        headers: dict = {}

    def fake_urlopen(url, timeout=None):
        seen.append(url)
        return Response(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(sources, "urlopen", fake_urlopen)
    monkeypatch.setenv("ADVTROJAN_CACHE", str(tmp_path / "cache"))
    assert len(load_dataset(spec, "test")) == 4
    assert sorted(u.rsplit("/", 1)[1] for u in seen) == sorted(f.name for f in SPECS["gtsrb"].files)
    assert all(u.startswith("https://sid.erda.dk/") for u in seen)
    files[TRAIN_ZIP] = b"tampered"  # a fresh cache, a tampered archive: refused by its MD5
    monkeypatch.setenv("ADVTROJAN_CACHE", str(tmp_path / "cache2"))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset(spec, "train")
