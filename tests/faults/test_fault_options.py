"""Options and paths: every bad value is one error line naming the option, before any work, and
nothing is written. ``RUN`` is the shared finished run, ``TMP`` the case's own folder."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from faultkit import EVALUATE, TRAIN, examples_importable, one_line_error, run  # noqa: F401 (fixtures)

OUT = ["--out", "TMP/x"]
SCAN = ["scan", "RUN", "--plugin", "user_dataset", "--no-progress", "--defenses", "strip", "--pool", "20",
        "--strip-reserved", "10"]
BADNETS = [a if a != "vanilla" else "badnets" for a in TRAIN]

CASES = {
    # training options: type, finiteness, range
    "lr nan": ([*TRAIN, *OUT, "--lr", "nan"], "--lr: must be a finite number"),
    "lr negative": ([*TRAIN, *OUT, "--lr", "-1"], "lr must be > 0"),
    "eps nan": ([*TRAIN, *OUT, "--eps", "nan"], "eps"),
    "eps negative": ([*TRAIN, *OUT, "--eps", "-0.1"], "eps"),
    "steps negative": ([*TRAIN, *OUT, "--steps", "-1"], "steps"),
    "test intensity 5": ([*TRAIN, *OUT, "--test-intensity", "5"], "test_intensity must be <= 1"),
    "train intensity 0": ([*TRAIN, *OUT, "--train-intensity", "0"], "train_intensity must be > 0"),
    "batch size 0": ([*TRAIN, *OUT, "--batch-size", "0"], "batch-size"),
    "epochs 0": ([*TRAIN, *OUT, "--epochs", "0"], "epochs"),
    "limit 0": ([*TRAIN, *OUT, "--limit", "0"], "limit"),
    "limit beyond the data": ([*TRAIN, *OUT, "--limit", "999999"], "more than the 2000 training images"),
    "target outside the classes": ([*BADNETS, *OUT, "--target", "9"], "target label 9 outside 0..3"),
    "poison rate 0": ([*BADNETS, *OUT, "--poison-rate", "0"], "poison_rate must be > 0"),
    "poison rate above 1": ([*BADNETS, *OUT, "--poison-rate", "1.5"], "poison_rate must be <= 1"),
    "mu 0": ([*TRAIN, *OUT, "--mu", "0"], "mu"),
    "unknown objective": ([*TRAIN, *OUT, "--objective", "nosuch"], "nosuch"),
    "unknown dataset": ([*TRAIN, *OUT, "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    "unknown architecture": ([*TRAIN, *OUT, "--model", "lenett"], "unknown model 'lenett'"),
    "architecture module missing": ([*TRAIN, *OUT, "--model", "no_such_module_xyz:f"], "cannot import 'no_such_module_xyz'"),
    "normalisation unparsable": ([*TRAIN, *OUT, "--normalize", "0.5"], "normalize"),
    "normalisation std 0": ([*TRAIN, *OUT, "--normalize", "0.5/0"], "std"),
    "device unknown": ([*TRAIN, *OUT, "--device", "tpu"], "device"),
    "device cuda absent": ([*TRAIN, *OUT, "--device", "cuda:3"], "cuda"),
    "Evil Twins option on vanilla": ([*TRAIN, *OUT, "--neuron-lr", "0.1"], "applies to"),
    "neurons 0": ([*TRAIN, *OUT, "--objective", "trojannn", "--neurons", "0"], "neurons"),
    "trigger opacity 2": ([*TRAIN, *OUT, "--objective", "trojannn", "--trigger-opacity", "2"], "opacity"),
    "remask epochs negative": ([*TRAIN, *OUT, "--objective", "trojannn-star", "--remask-epochs", "-1"], "remask_epochs"),
    "perturbation eps on trojannn": ([*TRAIN, *OUT, "--objective", "trojannn", "--perturbation-eps", "0.03"],
                                     "applies to trojannn-star only"),
    "perturbation eps on badnets": ([*TRAIN, *OUT, "--objective", "badnets", "--perturbation-steps", "3"],
                                    "applies to trojannn-star only"),
    "perturbation eps 0": ([*TRAIN, *OUT, "--objective", "trojannn-star", "--perturbation-eps", "0"],
                           "perturbation_eps"),
    "perturbation steps negative": ([*TRAIN, *OUT, "--objective", "trojannn-star", "--perturbation-steps", "-2"],
                                    "perturbation_steps"),
    "trigger size 0": ([*TRAIN, *OUT, "--trigger-size", "0"], "trigger-size"),
    "trigger larger than the image": ([*TRAIN, *OUT, "--trigger-size", "40"], "trigger"),
    "trigger margin negative": ([*TRAIN, *OUT, "--trigger-margin", "-1"], "trigger_margin must be >= 0"),
    "seed negative": ([*TRAIN, *OUT, "--seed", "-1"], "seed must be >= 0"),
    "precision unknown": ([*TRAIN, *OUT, "--precision", "fp64"], "precision"),
    "imc without --init": ([*TRAIN, *OUT, "--objective", "imc"], "--init"),
    # paths given to train
    "data dir missing": ([*TRAIN, *OUT, "--data-dir", "TMP/none"], "no such folder"),
    "out is a file": ([*TRAIN, "--out", "TMP/afile"], "is a file"),
    "out under a file": ([*TRAIN, "--out", "TMP/afile/run"], "afile"),
    "out on a read-only file system": ([*TRAIN, "--out", "/proc/advtrojan-run"], "cannot write"),
    "init missing": ([*BADNETS, *OUT, "--init", "TMP/none.safetensors"], "no such weights file"),
    "init a folder that is not a run": ([*BADNETS, *OUT, "--init", "TMP/emptydir"], "not a run folder"),
    "init NaN weights": ([*BADNETS, *OUT, "--init", "TMP/nan.safetensors"], "NaN or infinite"),
    "init weights of another model": ([*BADNETS, *OUT, "--init", "TMP/other.safetensors"], "metadata says"),
    "init a run of another dataset": ([*BADNETS, *OUT, "--dataset", "fmnist", "--init", "RUN"],
                                      "metadata says dataset 'stripes'"),
    "init a run of another model": ([*BADNETS, *OUT, "--model", "resnet", "--init", "RUN"],
                                    "metadata says model 'lenet'"),
    # evaluate
    "evaluate a missing folder": (["evaluate", "TMP/none", *EVALUATE], "none"),
    "evaluate a file": (["evaluate", "TMP/afile", *EVALUATE], "afile"),
    "evaluate json to a folder": (["evaluate", "RUN", *EVALUATE, "--json", "TMP/emptydir"], "is a folder"),
    "evaluate json under a file": (["evaluate", "RUN", *EVALUATE, "--json", "TMP/afile/e.json"], "afile"),
    "evaluate json read-only": (["evaluate", "RUN", *EVALUATE, "--json", "/proc/e.json"], "cannot write"),
    "evaluate eps nan": (["evaluate", "RUN", *EVALUATE, "--eps", "nan"], "eps"),
    "evaluate unknown attack": (["evaluate", "RUN", *EVALUATE, "--attacks", "nosuch"], "unknown attack nosuch"),
    "evaluate empty attack list": (["evaluate", "RUN", *EVALUATE, "--attacks", ","], "expected attack names"),
    "evaluate transfer from nowhere": (["evaluate", "RUN", *EVALUATE, "--transfer-from", "TMP/none"], "none"),
    "evaluate sigma nan": (["evaluate", "RUN", "--plugin", "user_dataset", "--no-progress", "--steps", "1", "--sigma",
                            "nan"], "must be a finite number"),
    "evaluate intensity inf": (["evaluate", "RUN", *EVALUATE, "--intensity", "inf"], "must be a finite number"),
    "out is an empty path": ([*TRAIN, "--out", ""], "an empty path"),
    "evaluate limit beyond the test set": (["evaluate", "RUN", *EVALUATE, "--limit", "99999"],
                                           "more than the 600 test images"),
    "evaluate intensity 2": (["evaluate", "RUN", *EVALUATE, "--intensity", "2"], "intensity"),
    # scan
    "scan empty defenses": ([*SCAN[:4], "--defenses", ","], "expected defense names"),
    "scan defense twice": ([*SCAN[:4], "--defenses", "strip,strip"], "named twice"),
    "scan unknown defense": ([*SCAN[:4], "--defenses", "nosuch"], "nosuch"),
    "scan json read-only": ([*SCAN, "--json", "/proc/s.json"], "cannot write"),
    "scan figures dir is a file": ([*SCAN, "--figures-dir", "TMP/afile"], "is a file"),
    "scan pool 0": ([*SCAN, "--pool", "0"], "pool"),
    "scan sigma negative": ([*SCAN, "--sigma", "-1"], "sigma"),
    "scan weights of another dataset": (["scan", "RUN/model.safetensors", "--model", "lenet", "--dataset", "fmnist",
                                         "--no-progress"], "metadata says dataset 'stripes'"),
    "scan a file that is not weights": (["scan", "TMP/afile", "--model", "lenet", "--plugin", "user_dataset",
                                         "--dataset", "stripes", "--no-progress"], "afile"),
    # staged experiments and the report
    "reproduce unknown preset": (["reproduce", "--preset", "nosuch", "--out", "TMP/r"], "nosuch"),
    "reproduce out is a file": (["reproduce", "--out", "TMP/afile", "--no-progress"], "is a file"),
    "matrix out read-only": (["matrix", "--out", "/proc/m", "--no-progress"], "cannot write"),
    "report of a missing folder": (["report", "TMP/none"], "none"),
    "report of garbled results": (["report", "TMP/garbled"], "results.json"),
    "report of results missing keys": (["report", "TMP/partial"], "results.json"),
    # plug-ins
    "plugin module missing": ([*TRAIN, *OUT, "--plugin", "no_such_plugin_xyz"], "no_such_plugin_xyz"),
    "plugin file missing": ([*TRAIN, *OUT, "--plugin", "TMP/none.py"], "no such file"),
    "plugin that raises": ([*TRAIN, *OUT, "--plugin", "TMP/boom.py"], "RuntimeError: boom"),
    "plugin registering a taken name": ([*TRAIN, *OUT, "--plugin", "TMP/twice.py"], "registered twice"),
}


def _materials(tmp_path, run_dir):
    """The files the cases point at, made in the case's folder before the snapshot."""
    (tmp_path / "afile").write_text("not what was expected\n")
    (tmp_path / "emptydir").mkdir()
    tensors = load_file(str(run_dir / "model.safetensors"))
    meta = {"dataset": json.dumps("stripes"), "model": json.dumps("lenet")}
    save_file({k: torch.full_like(v, float("nan")) for k, v in tensors.items()}, str(tmp_path / "nan.safetensors"),
              metadata=meta)
    save_file(tensors, str(tmp_path / "other.safetensors"), metadata={**meta, "model": json.dumps("resnet18")})
    for name, text in (("garbled", "{not json"), ("partial", json.dumps({"schema": "advtrojan.results/2"}))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(text)
    (tmp_path / "boom.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "twice.py").write_text("from advtrojan.data import register_dataset\n"
                                       "register_dataset('stripes', classes='ab', channels=1, size=8)(lambda split: 0)\n")


@pytest.mark.parametrize("case", list(CASES))
def test_bad_option_or_path_is_one_line_before_any_work(case, run, tmp_path, capsys, monkeypatch):
    argv, fragment = CASES[case]
    _materials(tmp_path, run)
    monkeypatch.chdir(tmp_path)
    argv = [a.replace("TMP", str(tmp_path)).replace("RUN", str(run)) for a in argv]
    line = one_line_error(argv, capsys, folder=tmp_path)
    assert fragment in line, line
