"""Hostile and faulty inputs: each gets one clear error line (no traceback), nothing is silently
accepted, and no code from a file runs. (A start of the fault suite: weights, run folders, options.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from advtrojan.cli.main import main

from faultkit import TRAIN, examples_importable, one_line_error, run  # noqa: F401 (fixtures)


def weights_like(run: Path, tmp_path: Path, change) -> Path:
    from safetensors.torch import load_file
    tensors = load_file(str(run / "model.safetensors"))
    path = tmp_path / "w.safetensors"
    save_file(change(tensors), str(path), metadata={"dataset": json.dumps("stripes"), "model": json.dumps("lenet")})
    return path


SCAN = ["--arch", "lenet", "--plugin", "user_dataset", "--dataset", "stripes", "--defenses", "strip", "--pool", "20",
        "--strip-reserved", "10", "--no-progress"]


@pytest.mark.parametrize("change, message", [
    (lambda t: {k: torch.full_like(v, float("nan")) for k, v in t.items()}, "NaN or infinite"),
    (lambda t: {k: torch.full_like(v, float("inf")) for k, v in t.items()}, "NaN or infinite"),
    (lambda t: {k: v.to(torch.int32) for k, v in t.items()}, "needs floating point weights"),
    (lambda t: {k: v for k, v in t.items() if k != "fc2.bias"}, "missing fc2.bias"),
    (lambda t: {**t, "extra.weight": torch.zeros(2)}, "unexpected extra.weight"),
])
def test_bad_weights_are_refused_before_any_verdict(run, tmp_path, capsys, change, message):
    path = weights_like(run, tmp_path, change)
    assert message in one_line_error(["scan", path, *SCAN, "--json", tmp_path / "s.json"], capsys)
    assert not (tmp_path / "s.json").exists()


def test_weights_whose_metadata_names_another_dataset(run, tmp_path, capsys):
    assert "metadata says dataset 'stripes', but dataset 'fmnist'" in one_line_error(
        ["scan", run / "model.safetensors", "--arch", "lenet", "--dataset", "fmnist", "--no-progress"], capsys)


def test_pickle_in_place_of_weights_is_not_run(tmp_path, capsys):
    import pickle
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    (tmp_path / "model.safetensors").write_bytes(pickle.dumps(Evil()))
    assert "not a readable safetensors file" in one_line_error(
        ["scan", tmp_path / "model.safetensors", *SCAN], capsys)
    assert not marker.exists()


@pytest.mark.parametrize("field, value, message", [
    ("epochs", "five", "epochs must be an integer"),
    ("lr", float("nan"), "lr must be a finite number"),
    ("test_intensity", 5, "test_intensity must be <= 1"),
    ("dataset", "imagenet", "unknown dataset 'imagenet'"),
    ("evil_twins", [1], "evil_twins must be a JSON object"),
])
def test_garbled_config_json(run, tmp_path, capsys, field, value, message):
    import shutil
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    cfg = json.loads((copy / "config.json").read_text())
    cfg[field] = value
    (copy / "config.json").write_text(json.dumps(cfg))
    assert message in one_line_error(["evaluate", copy, "--plugin", "user_dataset", "--no-progress"], capsys)


def test_a_finished_run_is_not_silently_extended(run, capsys):
    err = one_line_error([*TRAIN, "--out", run, "--resume", "--epochs", "5"], capsys)
    assert "finished after 1 epochs; it cannot be extended to 5" in err


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(run, tmp_path, capsys, monkeypatch):
    import advtrojan.evaluation as ev

    def boom(*a, **k):
        raise RuntimeError("something nobody foresaw")
    monkeypatch.setattr(ev, "evaluate_model", boom)
    argv = ["evaluate", str(run), "--plugin", "user_dataset", "--no-progress", "--no-certified"]
    assert "unexpected RuntimeError: something nobody foresaw" in one_line_error(argv, capsys, code=1)
    with pytest.raises(RuntimeError, match="nobody foresaw"):
        main([*argv, "--debug"])


def test_unwritable_json_path_is_one_line(run, tmp_path, capsys):
    """--json under a path whose parent is a file (unwritable even for root): one line naming it."""
    (tmp_path / "a_file").write_text("not a folder")
    err = one_line_error(["evaluate", run, "--plugin", "user_dataset", "--no-progress", "--no-certified",
                          "--attacks", "madry", "--steps", "1", "--json", tmp_path / "a_file" / "e.json"], capsys)
    assert "a_file" in err


def test_a_second_writer_is_refused_and_a_stale_lock_taken_over(tmp_path, capsys):
    import subprocess
    import sys

    out = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "2", "--out", str(out)]) == 0
    (out / "state.json").write_text('{"status": "running", "epoch": 1}')  # as if interrupted after epoch 1
    from safetensors.torch import load_file  # a checkpoint to resume from: the finished weights stand in
    tensors = {f"model.{k}": v for k, v in load_file(str(out / "model.safetensors")).items()}
    from advtrojan.models.weights import save_weights
    from advtrojan.training.checkpoint import optimizer_tensors
    model = __import__("advtrojan.training.runs", fromlist=["Run"]).Run(out).config.build_model()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    save_weights(out / "checkpoint.safetensors", tensors, {"epoch": 1, "optimizer": optimizer_tensors(opt)[1]})
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".lock").write_text(str(holder.pid))
        err = one_line_error([*TRAIN, "--epochs", "2", "--out", out, "--resume"], capsys)
        assert f"another advtrojan process (pid {holder.pid}) is writing" in err
    finally:
        holder.kill()
        holder.wait()
    (out / ".model.safetensors.abc.part").write_bytes(b"half a file")  # left by a killed write
    assert main([*TRAIN, "--epochs", "2", "--out", str(out), "--resume"]) == 0  # the lock's process is gone
    assert not (out / ".lock").exists() and not list(out.glob(".*.part"))
