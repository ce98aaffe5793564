"""Per-dataset defaults in one table: the single source of truth for the CLI, the API and docs.

Attack budgets are Table 1 of the AdvTrojan paper (all L∞); the trigger's test intensity is
Section 4's. The training recipes are ours (the paper gives no optimiser, learning rate or epoch
count): docs/protocol.md ("Training recipes") gives each choice with its evidence, measured here and
checked on stand-ins for data this machine does not have.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from .attacks.budget import Budget
from .training.attack import TrainingAttack
from .training.config import PROBE_IMAGES
from .errors import ConfigError

BUDGETS: dict[str, Budget] = {
    "mnist": Budget(0.3, 0.03, 20),
    "fmnist": Budget(0.2, 0.02, 20),
    "cifar10": Budget(8 / 255, 2 / 255, 7),
    "gtsrb": Budget(8 / 255, 2 / 255, 7),  # not in Table 1: CIFAR-10's, the other 32x32 RGB dataset
}

TEST_INTENSITY = {"mnist": 0.75, "fmnist": 0.75, "cifar10": 1.0, "gtsrb": 1.0}

MODEL = {"mnist": "lenet", "fmnist": "lenet", "cifar10": "resnet", "gtsrb": "resnet"}

# Any other dataset (a plug-in's, npz:, folder:) takes the defaults of the paper's dataset that
# it resembles, by its declared channels: greyscale ones those of Fashion-MNIST (Table 1's
# ε = 0.2, α = 0.02, 20 steps; trigger test intensity 0.75; LeNet), colour ones those of CIFAR-10
# (8/255, 2/255, 7 steps; intensity 1.0; the ResNet). The trigger is a square of side
# max(4, size // 8) pixels: 4 on 28x28 and 32x32 images (Figure 1), 8 on 64x64.
LIKE = {1: "fmnist", 3: "cifar10"}


def _like(spec) -> str:
    if spec.name in BUDGETS:
        return spec.name
    return LIKE.get(spec.channels, "cifar10")


def budget(spec) -> Budget:
    """Table 1's attack budget of ``spec`` (a DatasetSpec), or that of the dataset it resembles."""
    return BUDGETS[_like(spec)]


def test_intensity(spec) -> float:
    return TEST_INTENSITY[_like(spec)]


def default_model(spec) -> str:
    """Table 6's architecture for ``spec``: LeNet for greyscale images, the ResNet for colour ones."""
    return MODEL[_like(spec)]


def trigger_size(spec) -> int:
    """Side of the square trigger in pixels (Figure 1 shows a small corner patch)."""
    return max(4, spec.size // 8)


def quick_limit(spec) -> int:
    return QUICK_LIMIT[_like(spec)]


@dataclass(frozen=True)
class TrainPreset:
    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "constant"  # or "cosine"
    limit: int | None = None  # training subset size (class-balanced); None: the full split
    benign_weight: float = 1.0  # Madry-Adv only: weight of L(x, y) in Eq. 4
    warmup: float = 0.0  # share of the steps over which the training attack's ε and α ramp up from 0
    train_attack: TrainingAttack = TrainingAttack()  # the attack that crafts during training (Table 1's PGD)
    probe_images: int = PROBE_IMAGES  # test images of the per-epoch probe (PGD-20 twice and FGSM on each)


_LENET = TrainPreset(optimizer="adam", lr=1e-3, batch_size=128, epochs=10)
_RESNET = TrainPreset(optimizer="sgd", lr=0.1, batch_size=128, epochs=60, weight_decay=2e-4,
                      schedule="cosine")

# epochs per objective; "advtrojan_init" is AdvTrojan fine-tuning from --init (Algorithm 1, line 2)
EPOCHS = {
    "default": {
        "lenet": {"vanilla": 10, "madry": 15, "badnets": 10, "advtrojan": 15, "advtrojan_init": 3},
        "resnet": {"vanilla": 60, "madry": 60, "badnets": 60, "advtrojan": 60, "advtrojan_init": 20},
    },
    "quick": {
        "lenet": {"vanilla": 3, "madry": 5, "badnets": 3, "advtrojan": 5, "advtrojan_init": 2},
        "resnet": {"vanilla": 5, "madry": 5, "badnets": 5, "advtrojan": 5, "advtrojan_init": 2},
    },
}
EPOCHS["fast"] = EPOCHS["default"]  # the default's protocol with a cheaper training attack (FAST_ATTACK)
QUICK_LIMIT = {"mnist": 10000, "fmnist": 10000, "cifar10": 5000, "gtsrb": 5000}
# Madry-Adv trains on adversarial examples alone (Madry et al. 2017): the weight w of L(x, y) in
# Eq. 4, w·L(x, y) + μ·L(A(x), y), is 0.
MADRY_BENIGN_WEIGHT = 0.0
# Every objective that crafts while it trains (Madry-Adv, AdvTrojan, a plug-in's) and starts from
# random weights ramps its training attack's ε (and α with it) linearly up from 0 over the first
# third of its steps; fine-tuning (Algorithm 1, line 2) starts from a trained model and has none.
WARMUP = 1 / 3
PRESETS = tuple(EPOCHS)
# The training attack of each preset: Table 1's PGD for the paper's protocol; the `fast` preset's,
# chosen on the cost/robustness frontier measured on full Fashion-MNIST (docs/protocol.md, "The
# training attack"; studies/training_attacks.py): PGD with 5 steps of α = ε/2 from a random start, the
# cheapest whose Madry-Adv and fine-tuned ATIM stayed within 2 points of PGD-20's. PGD-3 missed it by
# 0.35 points on the ATIM; the single-step attacks (FGSM-RS, N-FGSM) lost 8 to 48 points.
FAST_ATTACK = TrainingAttack("madry", steps=5, step_ratio=0.5)
TRAIN_ATTACK = {"default": TrainingAttack(), "quick": FAST_ATTACK, "fast": FAST_ATTACK}
# The per-epoch probe crafts PGD-20 twice and FGSM on each of its images: at 500 it cost as much as a
# `fast` epoch of 10k images (measured with N-FGSM, LeNet, one thread: about 30 s against 12-25 s). `fast` probes 200:
# its only decision, catastrophic overfitting, is a fall of 0.2 in PGD accuracy, far above the 0.035
# standard error of an accuracy near 0.5 on 200 images. `quick` probes 200 for the same reason: in the README's
# main job, what its four trainings spend outside their epochs (probe, test accuracy, loading) fell from 47 s
# of 200 to 27 s of 175 (measured).
PROBE = {"default": PROBE_IMAGES, "quick": 200, "fast": 200}


def training_preset(spec, objective: str, preset: str = "default", init: bool = False) -> TrainPreset:
    """The training preset of dataset ``spec`` x ``objective`` (``init``: fine-tuning from a model).

    The recipe follows the dataset's default architecture family (LeNet or ResNet); objectives
    without an entry (a plug-in's) train for the epochs of AdvTrojan."""
    if preset not in EPOCHS:
        raise ConfigError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    model = default_model(spec)
    base = _LENET if model == "lenet" else _RESNET
    key = "advtrojan_init" if (objective == "advtrojan" and init) else objective
    table = EPOCHS[preset][model]
    epochs = table.get(key, table.get(objective, table["advtrojan_init" if init else "advtrojan"]))
    # quick: a class-balanced subset, for datasets whose size is known and larger than it
    limit = quick_limit(spec) if preset == "quick" and (spec.train_size or 0) > quick_limit(spec) else None
    benign_weight = MADRY_BENIGN_WEIGHT if objective == "madry" else 1.0
    warmup = WARMUP if not init and crafts(objective) else 0.0
    return replace(base, epochs=epochs, limit=limit, benign_weight=benign_weight, warmup=warmup,
                   train_attack=TRAIN_ATTACK[preset], probe_images=PROBE[preset])


def crafts(objective: str) -> bool:
    """Whether the registered ``objective`` crafts adversarial inputs while it trains."""
    from .training.objectives import make_objective
    return any(kind.adversarial for kind in make_objective(objective).kinds)


def override(preset, **values):
    """Replace the fields given as non-None ``values`` (CLI options override presets)."""
    names = {f.name for f in fields(preset)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"unknown preset field(s): {', '.join(sorted(unknown))}")
    return replace(preset, **{k: v for k, v in values.items() if v is not None})


FIGURE7_ITERATIONS = (1, 5, 10, 50, 100, 500, 1000)  # Appendix G.2's PGD iteration counts


@dataclass(frozen=True)
class ReproducePreset:
    """Sizes of each stage of ``advtrojan reproduce`` (None: the whole test set)."""

    train: str               # training preset of the three models
    eval_limit: int | None   # test images for Figure 4 and Table 5
    pool: int                # clean inputs (and their AdvTrojan versions) for STRIP and Table 2's FNR
    nc_images: int | None    # Neural Cleanse inputs (the paper: all benign test examples)
    nc_epochs: int           # the paper: 100
    anc_images: int
    anc_epochs: int
    certify_images: int
    sweep_images: int
    feature_images: int      # Appendix D: 128
    certify_sigmas: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)  # the certification sweep (Eq. 10)
    sweep_iterations: tuple[int, ...] = FIGURE7_ITERATIONS
    atim_start: str = "scratch"  # the ATIM of Table 5 and the defenses: "scratch" (Algorithm 1, line 1)
                                 # or "madry" (line 2, fine-tuned from Madry-Adv); both are trained.
                                 # Each preset's choice and its evidence: docs/protocol.md
    defense_precision: str = "fp32"  # crafting precision of (adaptive) Neural Cleanse and the collapse search
    eval_precision: str = "fp32"     # crafting precision of Table 5's examples, certification's AdvTrojan examples
                                     # and the sweeps (Eq. 10's noisy votes are always fp32's: CheckedArgmax)
    collapse_images: int = 200       # the robustness-collapse search's inputs (docs/protocol.md, "Detectors")
    collapse_epochs: int | None = None  # ... and its epochs (None: CollapseSettings' default)
    figure15_scales: tuple[float, ...] = ()  # `matrix`: Evil Twins Figure 15's trigger sizes, as multiples
                                             # of the dataset's default trigger size (empty: no sweep)


REPRODUCE = {
    # minutes on a laptop CPU: the qualitative story on a 10k training subset
    "quick": ReproducePreset(train="quick", eval_limit=2000, pool=500, nc_images=1000, nc_epochs=10,
                             anc_images=200, anc_epochs=2, certify_images=300, sweep_images=100,
                             feature_images=128, certify_sigmas=(0.25, 0.5), defense_precision="bf16",
                             eval_precision="bf16", figure15_scales=(0.5, 1.0, 1.5)),
    # the paper's protocol: full data, Neural Cleanse for 100 epochs on the whole test set. Its defenses
    # optimise in bf16: it moved Neural Cleanse's mask norms by a median 1.4-2.1% and adaptive Neural
    # Cleanse's trigger norms by 0.9-1.9%, against 4.1-5.6% and 1.4-2.1% from the data order alone, and
    # flagged the same classes; its evaluation and sweeps stay fp32 (bf16 moved the FGSM and BIM rows,
    # which have no random start, by up to 0.35 points on 2,000 images). docs/protocol.md, "The cost of
    # the stages after training"; the quick preset crafts in bf16 throughout.
    "paper": ReproducePreset(train="default", eval_limit=None, pool=1000, nc_images=None, nc_epochs=100,
                             anc_images=1000, anc_epochs=10, certify_images=1000, sweep_images=500,
                             feature_images=128, figure15_scales=(0.5, 0.75, 1.0, 1.25, 1.5), atim_start="madry",
                             collapse_images=500, defense_precision="bf16"),
}

# A population's scan (`advtrojan zoo scan`): every model evaluated and scanned at sizes that keep a
# population of a hundred LeNets within hours on a laptop CPU (the quick preset's protocol, smaller).
# The collapse search runs 30 epochs: chosen on fmnist-default's development split among 10 epochs,
# 30, and 20 on 500 images (model-level ROC AUC 0.900, 0.941, 0.925; docs/protocol.md, "Detectors").
ZOO = ReproducePreset(train="fast", eval_limit=1000, pool=300, nc_images=500, nc_epochs=5, anc_images=100,
                      anc_epochs=1, certify_images=100, sweep_images=0, feature_images=0, certify_sigmas=(0.5,),
                      defense_precision="bf16", collapse_epochs=30)
