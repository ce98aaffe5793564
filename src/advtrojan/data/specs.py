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
    format: str  # a registered loader (advtrojan.data.registry.FORMATS): "idx", "cifar", "gtsrb", "npz", ...
    channels: int
    size: int  # images are size x size
    train_size: int | None  # official split sizes (checked on load); None: whatever the files hold
    test_size: int | None
    classes: tuple[str, ...]
    mirrors: tuple[str, ...] = ()
    files: tuple[RemoteFile, ...] = ()
    system_dirs: tuple[str, ...] = field(default=())
    augment: bool = False   # Appendix F's pad-4 random crop and horizontal flip while training
    source: str | None = None  # the file or folder of a dataset named by path (npz:, folder:)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)


GTSRB_CLASSES = (
    "Speed limit 20", "Speed limit 30", "Speed limit 50", "Speed limit 60", "Speed limit 70", "Speed limit 80",
    "End of speed limit 80", "Speed limit 100", "Speed limit 120", "No passing", "No passing over 3.5 t",
    "Right of way at next intersection", "Priority road", "Yield", "Stop", "No vehicles", "Over 3.5 t prohibited",
    "No entry", "General caution", "Dangerous curve left", "Dangerous curve right", "Double curve", "Bumpy road",
    "Slippery road", "Road narrows on the right", "Road work", "Traffic signals", "Pedestrians",
    "Children crossing", "Bicycles crossing", "Beware of ice/snow", "Wild animals crossing",
    "End of all limits", "Turn right ahead", "Turn left ahead", "Ahead only", "Go straight or right",
    "Go straight or left", "Keep right", "Keep left", "Roundabout mandatory", "End of no passing",
    "End of no passing over 3.5 t",
)

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
        system_dirs=(), augment=True,
    ),
    "gtsrb": DatasetSpec(
        name="gtsrb", title="GTSRB", format="gtsrb", channels=3, size=32,
        train_size=39209, test_size=12630, classes=GTSRB_CLASSES,
        mirrors=("https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/",),
        files=(
            RemoteFile("GTSRB_Final_Training_Images.zip", "f33fd80ac59bff73c82d25ab499e03a3"),
            RemoteFile("GTSRB_Final_Test_Images.zip", "c7e4e6327067d32654124b0fe9e82185"),
            RemoteFile("GTSRB_Final_Test_GT.zip", "fe31e9c9270bbcd7b84b7f21a9d9d9e5"),
        ),
        system_dirs=(),
    ),
}

ALIASES = {"fashion-mnist": "fmnist", "fashion_mnist": "fmnist", "cifar-10": "cifar10", "cifar": "cifar10",
           "gtsrb-43": "gtsrb"}
