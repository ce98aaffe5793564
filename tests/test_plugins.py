"""The open toolkit end to end: a model, a dataset and a defense defined outside the package
(examples/) run through `train`, `evaluate`, `scan` and `reproduce` with no edit to the package;
an L2-trained run is scanned with L2; npz: and folder: datasets; GTSRB with PreAct-ResNet-18."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from advtrojan.cli.main import main
from advtrojan.data import DATASETS, SPECS
from advtrojan.plugins import load_plugin
from advtrojan.presets import ReproducePreset

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FAST = ["--no-progress", "--precision", "fp32"]


@pytest.fixture(autouse=True)
def examples_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))


@pytest.fixture
def noise_doubles(monkeypatch):
    """The CIFAR-10 and GTSRB test doubles are random pixels, and a few epochs on the folder double
    leave a model near chance: nothing to learn. These tests are about the code paths of a dataset
    and an architecture, so the defenses run on them anyway (the chance rule has its own tests)."""
    monkeypatch.setattr("advtrojan.defenses.scan.at_chance", lambda accuracy, level: False)


def run_cli(argv, capsys) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_user_model_dataset_and_defense_through_train_evaluate_and_scan(tmp_path, capsys):
    run = tmp_path / "atim"
    run_cli(["train", "--plugin", "user_dataset", "--dataset", "stripes", "--arch", "user_model:small_cnn",
             "--objective", "advtrojan", "--epochs", "2", "--steps", "3", "--out", run, *FAST], capsys)
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["dataset"], cfg["model"], cfg["trigger_size"]) == ("stripes", "user_model:small_cnn", 4)
    assert cfg["budget"]["eps"] == 0.2 and cfg["budget"]["step_size"] == pytest.approx(0.02)  # greyscale: FMNIST's
    run_cli(["evaluate", run, "--plugin", "user_dataset", "--no-certified", "--json", tmp_path / "e.json",
             "--no-progress"], capsys)
    ev = json.loads((tmp_path / "e.json").read_text())
    assert ev["accuracy"]["benign"] > 0.8 and ev["details"]["dataset"] == "stripes"
    out = run_cli(["scan", run, "--plugin", "user_dataset", "--plugin", "user_defense", "--defenses",
                   "max_softmax,strip", "--pool", 100, "--json", tmp_path / "s.json", "--no-progress"], capsys)
    assert "Max-softmax detector" in out and "STRIP" in out
    res = json.loads((tmp_path / "s.json").read_text())
    assert set(res["defenses"]) == {"max_softmax", "strip"}
    m = res["defenses"]["max_softmax"]
    assert 0 <= m["data"]["detection_rate"] <= 1 and m["data"]["attacked"] == 100 and m["verdict"].startswith("flags")
    assert m["detected"] == (m["data"]["detection_rate"] > 0.5) and "10% clean" in m["details"]
    # a plug-in's own settings are options of the command, and its result its own type in the file
    run_cli(["scan", run, "--plugin", "user_dataset", "--plugin", "user_defense", "--defenses", "max_softmax",
             "--pool", 100, "--max-softmax-fpr", 0.3, "--json", tmp_path / "s2.json", "--no-progress"], capsys)
    from advtrojan.results import ScanResult, from_json, read_json
    from user_defense import MaxSoftmaxResult
    res = from_json(ScanResult, read_json(tmp_path / "s2.json"), "s2.json")
    assert isinstance(res["max_softmax"].data, MaxSoftmaxResult) and "30% clean" in res["max_softmax"].details


def test_reproduce_discovers_a_plugin_defense_and_runs_a_user_model_and_dataset(tmp_path):
    from advtrojan.experiments.reproduce import ReproduceSettings, reproduce
    from advtrojan.runtime import Runtime

    load_plugin("user_dataset")
    load_plugin("user_defense")
    sizes = ReproducePreset(train="quick", eval_limit=100, pool=100, nc_images=100, nc_epochs=1, anc_images=20,
                            anc_epochs=1, certify_images=20, sweep_images=10, feature_images=8,
                            certify_sigmas=(0.5,), sweep_iterations=(1, 3), collapse_images=20)
    root = reproduce(ReproduceSettings(dataset="stripes", out=str(tmp_path / "r"), sizes=sizes, train_overrides=dict(
        epochs=1, steps=2, model="user_model:small_cnn", precision="fp32")), Runtime(progress=False))
    res = json.loads((root / "results.json").read_text())
    assert "max_softmax" in res["scan"]["defenses"] and "neural_cleanse" in res["scan"]["defenses"]
    assert res["meta"]["training"]["atim"]["objective"] == "advtrojan"
    page = (root / "report.html").read_text()
    assert "Max-softmax detector (registered defense max_softmax)" in page and "Every defense at a glance" in page


def test_an_l2_trained_run_is_scanned_with_l2(tmp_path, capsys):
    run = tmp_path / "madry_l2"
    run_cli(["train", "--plugin", "user_dataset", "--dataset", "stripes", "--objective", "madry", "--norm", "l2",
             "--eps", "1.0", "--steps", "2", "--epochs", "1", "--limit", "200", "--out", run, *FAST], capsys)
    assert json.loads((run / "config.json").read_text())["budget"]["norm"] == "l2"
    out = run_cli(["scan", run, "--plugin", "user_dataset", "--defenses", "strip", "--pool", 50,
                   "--json", tmp_path / "s.json", "--no-progress"], capsys)
    budget = json.loads((tmp_path / "s.json").read_text())["budget"]
    assert budget["norm"] == "l2" and budget["eps"] == 1.0 and " l2 eps=1" in out
    run_cli(["scan", run, "--plugin", "user_dataset", "--defenses", "strip", "--pool", 50, "--eps", "0.5",
             "--json", tmp_path / "s2.json", "--no-progress"], capsys)
    budget = json.loads((tmp_path / "s2.json").read_text())["budget"]
    assert budget["norm"] == "l2" and budget["eps"] == 0.5 and budget["step_size"] == pytest.approx(0.05)


@pytest.mark.slow
def test_npz_dataset_trains_and_scans_through_the_cli(tmp_path, capsys, fmnist):
    train, test = fmnist
    tr, te = train.balanced_subset(1000), test.balanced_subset(300)
    path = tmp_path / "faces.npz"
    np.savez(path, x_train=tr.images[:, 0].numpy(), y_train=tr.labels.numpy().astype(np.int32),  # (N, H, W)
             x_test=te.images.permute(0, 2, 3, 1).numpy().astype(np.float32) / 255,  # (N, H, W, 1) floats
             y_test=te.labels.numpy(), classes=np.array(train.spec.classes))
    run = tmp_path / "run"
    run_cli(["train", "--dataset", f"npz:{path}", "--objective", "vanilla", "--epochs", "2", "--out", run, *FAST],
            capsys)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["dataset"] == f"npz:{path.resolve()}" and cfg["model"] == "lenet"
    run_cli(["evaluate", run, "--no-certified", "--attacks", "madry", "--json", tmp_path / "e.json",
             "--no-progress"], capsys)
    assert json.loads((tmp_path / "e.json").read_text())["accuracy"]["benign"] > 0.6
    run_cli(["scan", run, "--defenses", "strip", "--pool", 100, "--json", tmp_path / "s.json", "--no-progress"],
            capsys)
    assert json.loads((tmp_path / "s.json").read_text())["defenses"]["strip"]["data"]["n_attacked"] == 100


def write_stripes_folder(root: Path, per_class=30, split=False) -> None:
    from PIL import Image

    sys.path.insert(0, str(EXAMPLES))
    import user_dataset  # noqa: F401  (its generator, reused to draw files)

    x, y = user_dataset.load("train")
    rng = np.random.default_rng(0)
    for c, name in enumerate(user_dataset.CLASSES[:3]):
        members = np.flatnonzero(y == c)[:per_class]
        for i, k in enumerate(members):
            sub = (root / ("test" if i % 3 == 0 else "train") / name) if split else root / name
            sub.mkdir(parents=True, exist_ok=True)
            side = int(rng.integers(16, 40))  # mixed sizes: resized on load
            img = Image.fromarray((x[k] * 255).astype(np.uint8)).resize((side, side)).convert("RGB")
            img.save(sub / f"{i:03d}.{'png' if i % 2 else 'jpg'}")


def test_folder_dataset_model_scanned_through_the_cli(tmp_path, capsys, noise_doubles):
    root = tmp_path / "signs"
    write_stripes_folder(root, per_class=60)
    (root / ".DS_Store").write_text("ignored")
    ds = f"folder:{root}?size=16"
    run = tmp_path / "run"
    run_cli(["train", "--dataset", ds, "--arch", "user_model:small_cnn", "--objective", "vanilla", "--epochs", "3",
             "--out", run, *FAST], capsys)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["dataset"] == f"folder:{root.resolve()}?size=16&channels=3"
    weights = tmp_path / "model.safetensors"
    weights.write_bytes((run / "model.safetensors").read_bytes())
    out = run_cli(["scan", weights, "--arch", "user_model:small_cnn", "--dataset", ds, "--defenses",
                   "neural_cleanse,strip", "--strip-reserved", 10, "--pool", 20, "--nc-images", 20, "--nc-epochs", 1,
                   "--json", tmp_path / "s.json", "--no-progress"], capsys)
    res = json.loads((tmp_path / "s.json").read_text())
    assert len(res["defenses"]["neural_cleanse"]["data"]["anomaly_index"]) == 3 and "Neural Cleanse" in out
    assert res["budget"]["eps"] == pytest.approx(8 / 255)  # colour: CIFAR-10's Table 1 budget


def test_preact_resnet18_on_a_gtsrb_test_double_through_the_cli(tmp_path, capsys, monkeypatch, noise_doubles):
    from test_data_gtsrb import write_gtsrb

    per_class, n_test = (12, 10, 14), 60
    write_gtsrb(tmp_path / "gtsrb", per_class=per_class, n_test=n_test)
    double = replace(SPECS["gtsrb"], train_size=sum(per_class), test_size=n_test, system_dirs=())
    monkeypatch.setitem(DATASETS._entries, "gtsrb", double)
    run = tmp_path / "run"
    run_cli(["train", "--dataset", "gtsrb", "--arch", "preact_resnet18", "--objective", "vanilla", "--epochs", "1",
             "--batch-size", 16, "--data-dir", tmp_path / "gtsrb", "--out", run, *FAST], capsys)
    assert json.loads((run / "config.json").read_text())["model"] == "preact_resnet18"
    out = run_cli(["scan", run, "--defenses", "strip", "--strip-reserved", 10, "--pool", 20, "--data-dir",
                   tmp_path / "gtsrb", "--json", tmp_path / "s.json", "--no-progress"], capsys)
    res = json.loads((tmp_path / "s.json").read_text())
    assert res["defenses"]["strip"]["data"]["n_attacked"] == 20 and res["budget"]["steps"] == 7 and "STRIP" in out


def test_a_declared_normalisation_lives_inside_the_model(tmp_path, capsys):
    import torch

    from advtrojan.models import build_model
    from advtrojan.models.weights import load_into, read_weights
    from advtrojan.training.runs import Run

    run = tmp_path / "norm"
    run_cli(["train", "--plugin", "user_dataset", "--dataset", "stripes", "--objective", "vanilla", "--epochs", "1",
             "--normalize", "0.5/0.25", "--out", run, *FAST], capsys)
    assert json.loads((run / "config.json").read_text())["normalization"] == {"mean": [0.5], "std": [0.25]}
    model = Run(run).load_model()
    plain = load_into(build_model("lenet", 1, 4, 16), read_weights(run / "model.safetensors")[0], "w", "lenet")
    x = torch.rand(8, 1, 16, 16)
    with torch.no_grad():  # the same weights; the normalisation is the model's, in pixel space outside
        assert torch.allclose(model(x), plain((x - 0.5) / 0.25), atol=1e-5)
    assert set(model.state_dict()) == set(plain.state_dict())  # weight names unchanged
    out = run_cli(["scan", run / "model.safetensors", "--plugin", "user_dataset", "--dataset", "stripes", "--arch",
                   "lenet", "--normalize", "0.5/0.25", "--defenses", "strip", "--pool", 50, "--no-progress"], capsys)
    assert "STRIP" in out
    assert main(["train", "--plugin", "user_dataset", "--dataset", "stripes", "--objective", "vanilla",
                 "--normalize", "0.5/0", "--out", str(tmp_path / "bad"), *FAST]) == 2
    assert "std finite and > 0" in capsys.readouterr().err and not (tmp_path / "bad").exists()


@pytest.mark.parametrize("dataset", ["cifar10", "gtsrb"])
def test_the_evil_twins_on_colour_test_doubles(dataset, tmp_path, capsys, monkeypatch, noise_doubles):
    """TrojanNN, TrojanNN* and IMC through train, evaluate and scan on CIFAR-10 and GTSRB test
    doubles (those datasets are not reachable here): the same code paths as on Fashion-MNIST."""
    from conftest import write_cifar_tar
    from test_data_gtsrb import write_gtsrb

    data = tmp_path / dataset
    data.mkdir()
    if dataset == "cifar10":
        write_cifar_tar(data / "cifar-10-python.tar.gz", per_batch=16)
        double = replace(SPECS["cifar10"], train_size=80, test_size=16, system_dirs=())
    else:
        write_gtsrb(data, per_class=(20, 20, 20), n_test=30)
        double = replace(SPECS["gtsrb"], train_size=60, test_size=30, system_dirs=())
    monkeypatch.setitem(DATASETS._entries, dataset, double)
    common = ["--dataset", dataset, "--model", "lenet", "--data-dir", data, "--batch-size", 16, "--steps", 2, *FAST]
    run_cli(["train", *common, "--objective", "vanilla", "--epochs", "1", "--out", tmp_path / "vanilla"], capsys)
    for objective in ("trojannn", "trojannn-star", "imc"):
        run = tmp_path / objective
        run_cli(["train", *common, "--objective", objective, "--init", tmp_path / "vanilla", "--epochs", "1",
                 "--neuron-steps", 5, "--remask-batches", 2, "--out", run], capsys)
        trigger = json.loads((run / "config.json").read_text())
        assert trigger["trigger_size"] == 4 and (run / "trigger.safetensors").is_file()
        run_cli(["evaluate", run, "--data-dir", data, "--no-certified", "--attacks", "madry", "--steps", 1,
                 "--no-progress", "--json", tmp_path / "e.json"], capsys)
        assert 0 <= json.loads((tmp_path / "e.json").read_text())["success"]["attack_success_rate"] <= 1
    run_cli(["scan", tmp_path / "imc", "--defenses", "strip", "--strip-reserved", 4, "--pool", 8, "--data-dir", data,
             "--json", tmp_path / "s.json", "--no-progress"], capsys)
    assert json.loads((tmp_path / "s.json").read_text())["defenses"]["strip"]["data"]["n_attacked"] == 8
