"""``folder:PATH``: an image folder, one sub-folder per class, PNG or JPEG files.

``PATH/train/<class>/*`` and ``PATH/test/<class>/*`` when both exist; otherwise ``PATH/<class>/*``
split deterministically, every 5th image of each class (sorted by file name) to test and the rest
to train. Classes are the sorted sub-folder names (the same in both splits). Images are converted
to RGB (or greyscale) and resized to ``size`` x ``size`` with bilinear filtering, declared as
``folder:PATH?size=64&channels=1`` (defaults: 32 and 3). Hidden files are ignored; any other file
that is not a readable image is an error naming it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np

from ..errors import ConfigError, DataError
from .provenance import record_file
from .registry import FORMATS, SCHEMES
from .specs import DatasetSpec

DEFAULT_SIZE, DEFAULT_CHANNELS, TEST_EVERY = 32, 3, 5
SUFFIXES = (".png", ".jpg", ".jpeg")


def _options(argument: str) -> tuple[Path, int, int]:
    path_text, _, query = argument.partition("?")
    opts = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=False)) if query else {}
    unknown = set(opts) - {"size", "channels"}
    if unknown:
        raise ConfigError(f"folder:{argument}: unknown option {', '.join(sorted(unknown))} (size, channels)")
    try:
        size = int(opts.get("size", DEFAULT_SIZE))
        channels = int(opts.get("channels", DEFAULT_CHANNELS))
    except ValueError:
        raise ConfigError(f"folder:{argument}: size and channels must be integers") from None
    if not 4 <= size <= 1024 or channels not in (1, 3):
        raise ConfigError(f"folder:{argument}: size must lie in [4, 1024] and channels be 1 or 3")
    return Path(path_text).expanduser().resolve(), size, channels


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file())


def _layout(root: Path) -> tuple[tuple[str, ...], dict[str, list[tuple[Path, int]]]]:
    if not root.is_dir():
        raise ConfigError(f"folder:{root}: no such folder")
    split_dirs = {s: root / s for s in ("train", "test")}
    if all(d.is_dir() for d in split_dirs.values()):
        names = [d.name for d in _class_dirs(split_dirs["train"])]
        test_names = [d.name for d in _class_dirs(split_dirs["test"])]
        if names != test_names:
            raise DataError(f"{root}: train and test hold different class folders ({names} vs {test_names})")
        files = {s: [(f, c) for c, n in enumerate(names) for f in _files(split_dirs[s] / n)] for s in split_dirs}
        for s in split_dirs:
            for c, n in enumerate(names):
                if not any(label == c for _, label in files[s]):
                    raise DataError(f"{split_dirs[s] / n}: the class folder is empty")
    else:
        names = [d.name for d in _class_dirs(root)]
        files = {"train": [], "test": []}
        for c, n in enumerate(names):
            members = _files(root / n)
            if len(members) < 2:
                raise DataError(f"{root / n}: a class needs at least 2 images (one to train, one to test), "
                                f"found {len(members)}")
            for i, f in enumerate(members):
                files["test" if i % TEST_EVERY == TEST_EVERY - 1 or (i == len(members) - 1 and len(members) < TEST_EVERY)
                      else "train"].append((f, c))
    if len(names) < 2:
        raise DataError(f"{root}: an image folder needs at least two class sub-folders, found {len(names)}")
    for f, _ in files["train"] + files["test"]:
        if f.suffix.lower() not in SUFFIXES:
            raise DataError(f"{f}: not a PNG or JPEG file (an image folder holds {', '.join(SUFFIXES)} files)")
    return tuple(names), files


def folder_spec(argument: str) -> DatasetSpec:
    root, size, channels = _options(argument)
    names, files = _layout(root)
    query = f"?size={size}&channels={channels}"
    return DatasetSpec(name=f"folder:{root}{query}", title=root.name, format="folder", channels=channels,
                       size=size, train_size=len(files["train"]), test_size=len(files["test"]), classes=names,
                       source=str(root))


def _decode(path: str, size: int, channels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB").resize((size, size), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: not a readable image ({type(exc).__name__}: {exc})") from None
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def load_folder(spec: DatasetSpec, split: str, data_dir=None, download=True):
    if data_dir is not None:
        raise ConfigError(f"--data-dir does not apply to {spec.name}: the folder is named in the dataset")
    root = Path(spec.source)
    names, files = _layout(root)
    if names != spec.classes:
        raise DataError(f"{root}: its class folders changed since the run was made ({list(spec.classes)} -> {list(names)})")
    items = files[split]
    for f, _ in items:
        record_file(f)
    images = np.stack([_decode(str(f), spec.size, spec.channels)
                       for f, _ in items])
    labels = np.array([c for _, c in items], dtype=np.int64)
    return images, labels


SCHEMES.add("folder", folder_spec)
FORMATS.add("folder", load_folder)
