"""Typed results, end to end: what every evaluation, defense, sweep and experiment returns, and
the files they are stored in.

Every result is a frozen dataclass. The codec (:mod:`advtrojan.codec`) turns one into JSON, tensors
(masks, entropies, difference maps) into entries of a separate array file (safetensors) that the JSON
names, so a results file holds numbers a person reads and no array longer than a table row; it
rebuilds a result from its type hints and refuses a damaged or older file with one error that names
every missing piece. The schemas (``results.json`` of ``reproduce``, ``matrix.json`` of ``matrix``)
carry a version that changes when they do; docs/results-schema.md describes them.

Each number is stored once: Table 5, Figure 4, Tables 2-4, Figure 5 and Figure 8 are views derived
from the evaluations, the scan and the sweeps (:mod:`advtrojan.report.views`), not copies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .attacks.budget import Budget
from .codec import ResultsError, _read, _read_fields, _Reader, from_json, to_json  # noqa: F401 (re-exported)

SCHEMA = "advtrojan.results/3"
MATRIX_SCHEMA = "advtrojan.matrix/2"


def arrays_name(json_name: str) -> str:
    """The array file beside a results file: ``results.json`` -> ``results.arrays.safetensors``."""
    return Path(json_name).stem + ".arrays.safetensors"


def write_result(path: Path, obj) -> None:
    """``obj`` to ``path`` (JSON) and its arrays to the array file beside it (:func:`arrays_name`,
    which the JSON names in ``arrays``), the arrays first, both atomically."""
    from safetensors.torch import save_file

    from .utils.io import atomic_path, write_json
    arrays: dict = {}
    data = to_json(obj, arrays)
    with atomic_path(Path(path).parent / arrays_name(Path(path).name)) as tmp:
        save_file(arrays, str(tmp))
    write_json(path, data)


def read_json(path: Path) -> Any:
    """A JSON file, or one error naming it."""
    if not path.is_file():
        raise ResultsError(f"{path.parent}: no {path.name}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def read_arrays(json_path: Path, data) -> dict | None:
    """The arrays of the results file ``json_path`` (None where it names no array file)."""
    from .models.weights import read_weights
    name = data.get("arrays") if isinstance(data, dict) else None
    if not name:
        return None
    path = Path(json_path).parent / Path(str(name)).name  # beside it, never elsewhere
    if not path.is_file():
        raise ResultsError(f"{json_path}: its array file {path.name} is missing")
    return read_weights(path)[0]


# ---------------------------------------------------------------------------------------------
# evaluation (Table 5, Figure 4)


@dataclass(frozen=True)
class Chance:
    """The accuracy of a constant classifier on the labels, and whether the model is no clear step
    above it (:mod:`advtrojan.chance`)."""

    level: float
    at_chance: bool


@dataclass(frozen=True)
class CertCount:
    """Eq. 10 on AdvTrojan examples: certified and correct / certified, and their counts."""

    accuracy: float
    correct: int
    count: int
    robust: float  # certified and correct / all (Li et al.'s code)
    sigma: float
    radius: float
    noise_samples: int
    method: str
    confidence: float


@dataclass(frozen=True)
class EvalResult:
    """Table 5's rows for one model: ``accuracy`` maps a row (``benign``, ``madry``, ``trigger``,
    ``advtrojan``, ``fgsm``, ``advtrojan_fgsm``, ..., ``transferred_advtrojan``) to an accuracy;
    ``success`` the success rates of a poisoning attacker on non-target inputs."""

    accuracy: dict[str, float]
    examples: int
    budget: Budget
    intensity: float
    chance: Chance
    certified: CertCount | None = None
    success: dict[str, float] = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        """A row by name: an accuracy, a success rate, or ``advtrojan_certified``."""
        if key in self.accuracy:
            return self.accuracy[key]
        if key in self.success:
            return self.success[key]
        if key == "advtrojan_certified" and self.certified is not None:
            return self.certified.accuracy
        raise KeyError(key)

    def get(self, key: str, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def rows(self) -> dict[str, float]:
        """Every row, in the order of Table 5 and the evaluate command's table."""
        out = dict(self.accuracy)
        if self.certified is not None:
            out["advtrojan_certified"] = self.certified.accuracy
            out["advtrojan_robust"] = self.certified.robust
        return {**out, **self.success}


# ---------------------------------------------------------------------------------------------
# defenses (Tables 2-4, Figure 5)


@dataclass
class DefenseResult:
    """What one defense concluded about one model.

    ``verdict`` and ``details`` are the defense's line of ``scan``'s verdict table; ``detected``
    says whether it caught the attack (None for a defense that is not a detector, such as
    certification, and for a model at chance, which gets no verdict); ``data`` holds its numbers:
    the result type the defense registered (``register_defense(..., result=T)``), or a JSON-able
    dict; ``figures`` maps a figure name to the files written (not stored in results files).
    """

    verdict: str
    details: str = ""
    detected: bool | None = None
    data: Any = None
    figures: dict = field(default_factory=dict, metadata={"transient": True})
    name: str = ""
    title: str = ""
    skipped: str | None = None  # why the defense did not run (a model at chance)
    model_score: float | None = None  # model-level: how suspicious the model is (higher: more), if it scores models
    input_auc: float | None = None    # input-level: ROC AUC of attacked vs clean inputs, if it scores inputs

    @classmethod
    def _decode(cls, value: dict, r: "_Reader", path: str):
        from .defenses.registry import DEFENSES
        name = value.get("name", "")
        own = DEFENSES[name].result if name in DEFENSES else None
        kept = {k: v for k, v in value.items() if k != "data"}
        out = _read_fields(cls, {**kept, "data": None}, r, path)
        if out is None:
            return None
        raw = value.get("data")
        out.data = _read(own, raw, r, f"{path}.data") if own is not None and raw is not None else raw
        return out

    def __getitem__(self, key: str):
        """A number of the defense's ``data`` by name (typed or dict)."""
        if isinstance(self.data, dict):
            return self.data[key]
        if self.data is not None and hasattr(self.data, key):
            return getattr(self.data, key)
        raise KeyError(key)

    def get(self, key: str, default=None):
        try:
            return self[key]
        except KeyError:
            return default


@dataclass(frozen=True)
class Perturbation:
    """TrojanNN*'s own perturbation of the attacked inputs (towards ``target``)."""

    method: str
    budget: Budget
    target: int


@dataclass(frozen=True)
class ScanResult:
    """Every defense's result on one model, and what the attacked inputs were."""

    defenses: dict[str, DefenseResult]
    method: str                   # the attack of the defenses' budget (Madry PGD)
    budget: Budget                # the defenses' budget (adaptive Neural Cleanse's Eq. 11)
    intensity: float              # the trigger intensity of the attacked inputs
    attacked: str                 # what the attacked inputs are (Threat's value)
    chance: Chance
    benign_accuracy: float
    perturbation: Perturbation | None = None

    def __getitem__(self, name: str) -> DefenseResult:
        return self.defenses[name]

    @property
    def figures(self) -> dict:
        return {k: v for d in self.defenses.values() for k, v in d.figures.items()}


# ---------------------------------------------------------------------------------------------
# certification, sweeps and features (Eq. 10, Figures 6-9)


@dataclass(frozen=True)
class CertRow:
    """Eq. 10 at one σ and procedure: certified and correct / certified (with the counts), the
    robust accuracy of Li et al.'s code (certified and correct / all), the smoothed accuracy."""

    sigma: float
    method: str
    confidence: float
    interval_failures: int
    certified_accuracy: float
    certified_correct: int
    certified_count: int
    examples: int
    robust_accuracy: float
    smoothed_accuracy: float


@dataclass(frozen=True)
class Certification:
    """The certification sweep of every model: ``models[model][inputs]`` rows, inputs being
    ``advtrojan`` (AdvTrojan examples crafted against that model) and ``benign``."""

    sigmas: list[float]
    radius_B: float
    noise_samples: int
    examples: int
    models: dict[str, dict[str, list[CertRow]]]


@dataclass(frozen=True)
class IterationSweep:
    """Figure 7: accuracy on Madry and AdvTrojan examples per number of PGD iterations."""

    iterations: list[int]
    madry: list[float]
    advtrojan: list[float]
    budget: Budget
    examples: int


@dataclass(frozen=True)
class MethodCurves:
    without_trigger: list[float]
    advtrojan: list[float]


@dataclass(frozen=True)
class BudgetSweep:
    """Figures 8-9: accuracy at ε = 0 … Table 1's ε, per method, without and with the trigger; each
    point's α keeps the budget's ratio α/ε. Figure 8 is its Madry pair."""

    eps: list[float]
    budget: Budget
    examples: int
    methods: dict[str, MethodCurves]


@dataclass(frozen=True)
class LayerShift:
    cosine_mean: list[float]
    cosine_std: list[float]
    difference_maps: torch.Tensor  # (intensities, side, side): one example's f(x + t_i) − f(x + t_0)
    size: int


@dataclass(frozen=True)
class FeatureShift:
    """Figure 6 for one model: per layer (``conv``, ``dense``), 1 − cos to intensity 0."""

    intensities: list[float]
    examples: int
    distance: str
    layers: dict[str, LayerShift]


@dataclass(frozen=True)
class Features:
    """Figure 6 for every model."""

    models: dict[str, FeatureShift]


# ---------------------------------------------------------------------------------------------
# reproduce


@dataclass(frozen=True)
class TriggerMeta:
    size: int
    margin: int
    train_intensity: float
    test_intensity: float
    spec: str = "square"  # the resolved trigger spec (advtrojan.attacks.triggers)


@dataclass(frozen=True)
class Meta:
    dataset: str
    dataset_title: str
    preset: str
    reproduce_preset: dict
    train_images: dict[str, int | None]
    test_images: int
    seed: int
    device: str
    versions: dict[str, str]
    started: str
    wall_time_s: dict[str, float]
    runs: dict[str, str]
    reused_runs: list[str]
    atim: str
    budget: Budget
    trigger: TriggerMeta
    classes: list[str]
    training: dict[str, dict]


@dataclass(frozen=True)
class Paper:
    """The paper's numbers for this dataset and its claims, as the run that wrote the file knew them."""

    table2: dict | None
    table3: dict[str, float] | None
    table4: dict[str, float] | None
    table5: dict[str, float] | None
    claims: dict[str, str]
    tolerance: float


@dataclass(frozen=True)
class ReproduceResult:
    """``results.json`` of ``advtrojan reproduce`` (schema :data:`SCHEMA`)."""

    schema: str
    arrays: str                         # the array file beside it (masks, entropies, difference maps)
    meta: Meta
    evaluations: dict[str, EvalResult]  # vanilla, madry, atim, atim_scratch
    scan: ScanResult                    # the defenses on the ATIM of meta.atim
    certification: Certification
    figure7: IterationSweep
    figure9: BudgetSweep
    figure6: dict[str, FeatureShift]
    paper: Paper

    @property
    def main(self) -> str:
        return self.meta.atim


def _check_schema(data, source: str, schema: str) -> None:
    if not isinstance(data, dict):
        raise ResultsError(f"{source}: not an advtrojan results file (a JSON object of schema {schema} is needed)")
    if data.get("schema") != schema:
        raise ResultsError(f"{source}: schema {data.get('schema')!r}, this advtrojan reads {schema}"
                           + (" (rerun the command that wrote it: its stages are reused)"
                              if str(data.get("schema", "")).startswith(schema.rsplit("/", 1)[0]) else ""))


def check_results(data, source: str, arrays: dict | None = None) -> ReproduceResult:
    """A :class:`ReproduceResult` read from ``data``, or one error naming what is missing."""
    _check_schema(data, source, SCHEMA)
    return from_json(ReproduceResult, data, source, arrays)


def load_results(root) -> ReproduceResult:
    """``ROOT/results.json`` (and its arrays), checked against the schema."""
    root = Path(root)
    path = root / "results.json"
    if not path.is_file():
        raise ResultsError(f"{root}: no results.json (run `advtrojan reproduce` first)")
    data = read_json(path)
    _check_schema(data, str(path), SCHEMA)
    return check_results(data, str(path), read_arrays(path, data))


# ---------------------------------------------------------------------------------------------
# the attack x defense matrix


@dataclass(frozen=True)
class MatrixRow:
    """One attack of the matrix: its clean accuracy, the drop from Vanilla, its success rate, and
    every defense's result on what its attacker sends."""

    attack: str
    clean_accuracy: float
    accuracy_drop: float
    attack_success_rate: float
    attacked_inputs: str
    trigger_size: int
    scan: ScanResult
    trigger_success_rate: float | None = None
    perturbation_success_rate: float | None = None


@dataclass(frozen=True)
class Figure15Curves:
    attack_success_rate: list[float]
    clean_accuracy: list[float]
    defenses: dict[str, dict[str, list]]  # defense -> f1 / fnr / f1_quantile (per size: {FPR: value}), roc_auc


@dataclass(frozen=True)
class Figure15:
    sizes: list[int]
    default_size: int
    attacks: dict[str, Figure15Curves]


@dataclass(frozen=True)
class MatrixResult:
    """``matrix.json`` of ``advtrojan matrix`` (schema :data:`MATRIX_SCHEMA`)."""

    schema: str
    arrays: str
    dataset: str
    preset: str
    examples: int
    defenses: list[str]
    attacks: list[MatrixRow]
    figure15: Figure15 | None = None


def load_matrix(root) -> MatrixResult:
    path = Path(root) / "matrix.json"
    data = read_json(path)
    _check_schema(data, str(path), MATRIX_SCHEMA)
    return from_json(MatrixResult, data, str(path), read_arrays(path, data))
