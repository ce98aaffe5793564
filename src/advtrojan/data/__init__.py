"""Data: MNIST, Fashion-MNIST, CIFAR-10 and GTSRB with their official splits, a user's ``.npz`` file
or image folder, or a registered dataset; pixels in [0,1]."""

from . import folder, npz  # noqa: F401  (registers the npz: and folder: schemes)
from .datasets import ImageData, get_spec, load_dataset
from .provenance import record_file
from .registry import DATASETS, FORMATS, SCHEMES, register_dataset
from .specs import SPECS, DatasetSpec

__all__ = ["ImageData", "DatasetSpec", "SPECS", "DATASETS", "FORMATS", "SCHEMES", "get_spec", "load_dataset",
           "register_dataset", "record_file"]
