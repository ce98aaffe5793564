"""What each dataset is and where its official files live (Appendix F: official splits)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RemoteFile:
    name: str
    md5: str


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: its format, shapes, official sizes, download mirrors and checksums."""

    name: str
    title: str
    format: str  # "idx" or "cifar"
    channels: int
    size: int  # images are size x size
    train_size: int
    test_size: int
    classes: tuple[str, ...]
    mirrors: tuple[str, ...]
    files: tuple[RemoteFile, ...]
    system_dirs: tuple[str, ...] = field(default=())

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)


IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

SPECS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist", title="MNIST", format="idx", channels=1, size=28,
        train_size=60000, test_size=10000, classes=tuple(str(i) for i in range(10)),
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        files=(
            RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
        system_dirs=("/usr/share/datasets/mnist",),
    ),
    "fmnist": DatasetSpec(
        name="fmnist", title="Fashion-MNIST", format="idx", channels=1, size=28,
        train_size=60000, test_size=10000,
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        files=(
            RemoteFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            RemoteFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
    ),
    "cifar10": DatasetSpec(
        name="cifar10", title="CIFAR-10", format="cifar", channels=3, size=32,
        train_size=50000, test_size=10000,
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"),
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        files=(RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        system_dirs=(),
    ),
}

ALIASES = {"fashion-mnist": "fmnist", "fashion_mnist": "fmnist", "cifar-10": "cifar10", "cifar": "cifar10"}
