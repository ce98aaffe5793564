"""GTSRB (Stallkamp et al. 2012), the German Traffic Sign Recognition Benchmark, from its three
official archives, read in place (nothing is extracted to disk):

- ``GTSRB_Final_Training_Images.zip``: ``GTSRB/Final_Training/Images/<class>/<track>_<frame>.ppm``
  with one ``GT-<class>.csv`` per class (39,209 images, 43 classes);
- ``GTSRB_Final_Test_Images.zip``: ``GTSRB/Final_Test/Images/<n>.ppm`` (12,630 images);
- ``GTSRB_Final_Test_GT.zip``: ``GT-final_test.csv``, the test labels.

The CSVs are ``;``-separated with a header (``Filename;Width;Height;Roi.X1;…;ClassId``). Images
vary in size (15 to 250 pixels a side); the customary preprocessing of the backdoor benchmarks
(BackdoorBench, Evil Twins) resizes the **whole** image, not the annotated region, to 32x32
(bilinear). No augmentation: flipping would turn "keep left" into "keep right".

Decoded splits are cached beside the archives as ``gtsrb-<size>-<split>.npz`` (atomic write,
read back with ``allow_pickle=False``), so the 50k images are decoded once.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..utils.io import atomic_path
from .provenance import record_file

TRAIN_ZIP, TEST_ZIP, TEST_GT_ZIP = ("GTSRB_Final_Training_Images.zip", "GTSRB_Final_Test_Images.zip",
                                    "GTSRB_Final_Test_GT.zip")
MAX_MEMBER_BYTES = 8 << 20  # a GTSRB image is at most ~200 kB; larger members are refused, not read


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: Path) -> bytes:
    if info.file_size > MAX_MEMBER_BYTES:
        raise DataError(f"{where}: member {info.filename} would unpack to {info.file_size} bytes, more than any "
                        f"GTSRB file; refused")
    return archive.read(info)


def _rows(text: str, where: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text), delimiter=";")
    if not reader.fieldnames or "Filename" not in reader.fieldnames or "ClassId" not in reader.fieldnames:
        raise DataError(f"{where}: not a GTSRB annotation file (needs the columns Filename and ClassId)")
    return list(reader)


def _label(row: dict, num_classes: int, where: str) -> int:
    text = (row.get("ClassId") or "").strip()
    if not text.isdigit() or int(text) >= num_classes:
        raise DataError(f"{where}: ClassId {text!r} of {row.get('Filename')!r} is not a class 0..{num_classes - 1}")
    return int(text)


def _decode(data: bytes, size: int, where: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > 4096 * 4096:
                raise DataError(f"{where}: {img.width}x{img.height} pixels, not a GTSRB image")
            return np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{where}: not a readable image ({exc})") from None


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path}: not a readable zip archive ({exc})") from None


def _train(folder: Path, size: int, num_classes: int) -> tuple[list, list]:
    path = folder / TRAIN_ZIP
    images, labels = [], []
    with _open(path) as archive:
        members = {Path(i.filename).as_posix(): i for i in archive.infolist() if not i.is_dir()}
        annotations = sorted(n for n in members if Path(n).name.startswith("GT-") and n.endswith(".csv"))
        if not annotations:
            raise DataError(f"{path}: no GT-<class>.csv annotation files; not the GTSRB training archive")
        for ann in annotations:
            where = f"{path}:{ann}"
            rows = _rows(_read_member(archive, members[ann], path).decode("utf-8", "replace"), where)
            base = str(Path(ann).parent)
            for row in rows:
                name = f"{base}/{row['Filename']}"
                if name not in members:
                    raise DataError(f"{where}: lists {row['Filename']}, which the archive does not hold")
                labels.append(_label(row, num_classes, where))
                images.append(_decode(_read_member(archive, members[name], path), size, f"{path}:{name}"))
    return images, labels


def _test(folder: Path, size: int, num_classes: int) -> tuple[list, list]:
    images_path, gt_path = folder / TEST_ZIP, folder / TEST_GT_ZIP
    with _open(gt_path) as gt:
        names = [n for n in gt.namelist() if n.endswith(".csv")]
        if len(names) != 1:
            raise DataError(f"{gt_path}: expected one CSV of test labels (GT-final_test.csv), found {len(names)}")
        rows = _rows(_read_member(gt, gt.getinfo(names[0]), gt_path).decode("utf-8", "replace"),
                     f"{gt_path}:{names[0]}")
    images, labels = [], []
    with _open(images_path) as archive:
        by_name = {Path(i.filename).name: i for i in archive.infolist()
                   if not i.is_dir() and i.filename.lower().endswith(".ppm")}
        for row in rows:
            info = by_name.get(row["Filename"])
            if info is None:
                raise DataError(f"{gt_path}: labels {row['Filename']}, which {images_path} does not hold")
            labels.append(_label(row, num_classes, f"{gt_path}:{names[0]}"))
            images.append(_decode(_read_member(archive, info, images_path), size, f"{images_path}:{info.filename}"))
    return images, labels


def load_gtsrb_split(folder: Path, split: str, size: int, num_classes: int,
                     count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``split`` of GTSRB as uint8 (N, 3, size, size) and labels, decoded once and then cached."""
    cache = folder / f"gtsrb-{size}-{split}.npz"
    sources = [folder / n for n in ((TRAIN_ZIP,) if split == "train" else (TEST_ZIP, TEST_GT_ZIP))]
    for p in sources:
        record_file(p)
    fingerprint = np.array([p.stat().st_size for p in sources], dtype=np.int64)  # the archives it came from
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                images, labels, made_from = z["images"], z["labels"], z["sources"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # torn or foreign: decode again, and overwrite it below
        else:
            if (images.dtype == np.uint8 and images.shape[1:] == (3, size, size) and len(images) == len(labels)
                    and np.array_equal(made_from, fingerprint)):
                return images, labels
    images, labels = (_train if split == "train" else _test)(folder, size, num_classes)
    if count is not None and len(images) != count:
        raise DataError(f"{folder}: the GTSRB {split} split has {len(images)} images, the official one {count}")
    x = np.stack(images).transpose(0, 3, 1, 2).copy() if images else np.zeros((0, 3, size, size), np.uint8)
    y = np.asarray(labels, dtype=np.int64)
    try:
        with atomic_path(cache) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, images=x, labels=y, sources=fingerprint)
    except OSError:
        pass  # the cache is only a speed-up: in a read-only folder the archives are decoded each time
    return x, y
