"""Data: MNIST, Fashion-MNIST and CIFAR-10 with their official splits, pixels in [0,1]."""

from .datasets import ImageData, get_spec, load_dataset
from .specs import SPECS, DatasetSpec

__all__ = ["ImageData", "DatasetSpec", "SPECS", "get_spec", "load_dataset"]
