"""``advtrojan data``: find, download and validate a dataset."""

from __future__ import annotations

import argparse

from ..data import load_dataset
from ..data.sources import locate
from ..data.specs import SPECS

HELP = "find (or download) a dataset and check its files"


def add_parser(sub) -> None:
    p = sub.add_parser("data", help=HELP, description=HELP + ". Files are searched in --data-dir, system "
                       "locations, the cache, then downloaded from the official mirrors and verified by MD5.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", choices=sorted(SPECS))
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--no-download", action="store_true", help="only look for local files")
    p.set_defaults(func=run)


def run(args) -> int:
    source = None
    for split in ("train", "test"):
        data = load_dataset(args.dataset, split, data_dir=args.data_dir, download=not args.no_download)
        source = source or locate(data.spec, args.data_dir, download=False)
        counts = data.labels.bincount(minlength=data.spec.num_classes).tolist()
        print(f"{data.spec.title} {split}: {len(data)} images {tuple(data.images.shape[1:])}, per class {counts}")
    print(f"files: {source}")
    return 0
