"""Run folders someone else touched, interrupted writes, full disks and concurrent writers."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from advtrojan.cli.main import main
from faultkit import EVALUATE, EXAMPLES, TRAIN, examples_importable, one_line_error, run  # noqa: F401 (fixtures)


def copy_of(run, tmp_path, name="run"):
    dst = tmp_path / name
    shutil.copytree(run, dst)
    return dst


def interrupted(run, tmp_path):
    """A copy of the finished run made to look interrupted after its first (and only) epoch: its
    final weights stand in for the checkpoint."""
    from advtrojan.models.weights import save_weights
    from advtrojan.training.checkpoint import optimizer_tensors
    from advtrojan.training.runs import Run
    dst = copy_of(run, tmp_path)
    model = Run(dst).config.build_model()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    tensors = {f"model.{k}": v for k, v in load_file(str(dst / "model.safetensors")).items()}
    save_weights(dst / "checkpoint.safetensors", tensors, {"epoch": 1, "optimizer": optimizer_tensors(opt)[1]})
    (dst / "model.safetensors").unlink()
    (dst / "state.json").write_text('{"status": "running", "epoch": 1}')
    return dst


@pytest.mark.parametrize("text, message", [
    ("{garbled", "damaged run state"),
    ("[1, 2]", "damaged run state"),
    ('{"status": "done", "epoch": 1}', "damaged run state"),
    ('{"status": "running", "epoch": -3}', "damaged run state"),
    ("", "damaged run state"),
])
@pytest.mark.parametrize("command", ["evaluate", "resume"])
def test_a_damaged_state_file_is_named(run, tmp_path, capsys, text, message, command):
    dst = copy_of(run, tmp_path)
    (dst / "state.json").write_text(text)
    argv = ["evaluate", dst, *EVALUATE] if command == "evaluate" else [*TRAIN, "--out", dst, "--resume"]
    assert message in one_line_error(argv, capsys, folder=tmp_path)


def test_a_config_nested_beyond_reason_is_named(run, tmp_path, capsys):
    dst = copy_of(run, tmp_path)
    (dst / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "unreadable run configuration (RecursionError" in one_line_error(["evaluate", dst, *EVALUATE], capsys)


def test_a_torn_last_metrics_line_is_dropped_with_a_warning_and_the_epoch_retrained(run, tmp_path, capsys):
    dst = interrupted(run, tmp_path)
    (dst / "state.json").write_text('{"status": "running", "epoch": 0}')
    (dst / "checkpoint.safetensors").unlink()
    with open(dst / "metrics.jsonl", "a") as fh:
        fh.write('{"epoch": 2, "lo')  # torn
    assert main([*TRAIN, "--out", str(dst), "--resume"]) == 0
    assert "dropped a torn last line" in capsys.readouterr().err
    assert [m["epoch"] for m in map(json.loads, (dst / "metrics.jsonl").read_text().splitlines())] == [1]


def test_force_starts_over_a_run_whose_state_is_damaged(run, tmp_path, capsys):
    dst = copy_of(run, tmp_path)
    (dst / "state.json").write_text("{garbled")
    assert main([*TRAIN, "--out", str(dst), "--force"]) == 0
    assert json.loads((dst / "state.json").read_text()) == {"status": "finished", "epoch": 1}


def test_a_damaged_metrics_line_in_the_middle_is_named(run, tmp_path, capsys):
    dst = interrupted(run, tmp_path)
    (dst / "metrics.jsonl").write_text('{"epoch": 1}\nnot json\n{"epoch": 2}\n')
    assert "metrics.jsonl, line 2: damaged metrics record" in one_line_error([*TRAIN, "--out", dst, "--resume"],
                                                                             capsys)


@pytest.mark.parametrize("damage, message", [
    (lambda p: save_file({"model.conv1.weight": torch.zeros(1)}, str(p)), "not a checkpoint of an advtrojan run"),
    (lambda p: save_file(load_file(str(p)), str(p), metadata={"epoch": "1"}), "not a checkpoint of an advtrojan run"),
    (lambda p: p.write_bytes(b"\x00" * 100), "not a readable safetensors file"),
    (lambda p: p.write_bytes(p.read_bytes()[:-50]), "not a readable safetensors file"),
])
def test_a_damaged_checkpoint_is_named_on_resume(run, tmp_path, capsys, damage, message):
    dst = interrupted(run, tmp_path)
    damage(dst / "checkpoint.safetensors")
    assert message in one_line_error([*TRAIN, "--out", dst, "--resume"], capsys)


def test_a_checkpoint_whose_optimiser_state_does_not_fit(run, tmp_path, capsys):
    dst = interrupted(run, tmp_path)
    tensors = load_file(str(dst / "checkpoint.safetensors"))
    meta = {"epoch": json.dumps(1), "optimizer": json.dumps({"scalars": {}, "param_groups": [{"params": [0]}]})}
    save_file(tensors, str(dst / "checkpoint.safetensors"), metadata=meta)
    assert "optimiser state does not fit" in one_line_error([*TRAIN, "--out", dst, "--resume"], capsys)


@pytest.mark.parametrize("mask, message", [
    (torch.full((1, 16, 16), 2.0), "must lie in [0, 1]"),
    (torch.full((1, 16, 16), float("nan")), "must lie in [0, 1]"),
    (torch.ones(1, 8, 8), "not a trigger for"),
])
def test_a_damaged_learned_trigger_is_named(run, tmp_path, capsys, mask, message):
    dst = copy_of(run, tmp_path)
    save_file({"mask": mask, "pattern": torch.ones(1, 16, 16)}, str(dst / "trigger.safetensors"))
    assert message in one_line_error(["evaluate", dst, *EVALUATE], capsys)


def test_a_damaged_stage_record_of_reproduce_is_named(tmp_path, capsys):
    (tmp_path / "r" / "stages").mkdir(parents=True)
    (tmp_path / "r" / "stages" / "train_vanilla.json").write_text('{"run": "x", ')
    err = one_line_error(["reproduce", "--plugin", "user_dataset", "--dataset", "stripes", "--out", tmp_path / "r",
                          "--no-progress"], capsys)
    assert "damaged stage record" in err and "train_vanilla.json" in err


def test_resume_with_other_settings_is_refused(run, tmp_path, capsys):
    dst = interrupted(run, tmp_path)
    assert "other settings (lr)" in one_line_error([*TRAIN, "--out", dst, "--resume", "--lr", "0.5"], capsys)


def test_resume_with_another_epoch_count_is_refused(run, tmp_path, capsys):
    dst = interrupted(run, tmp_path)
    err = one_line_error([*TRAIN, "--out", dst, "--resume", "--epochs", "3"], capsys)
    assert "was started for 1 epochs (1 done); resume it with --epochs 1" in err


def test_resume_on_changed_data_files_is_refused(tmp_path, capsys):
    def write(seed):
        r = np.random.default_rng(seed)
        np.savez(tmp_path / "d.npz", x_train=r.integers(0, 256, (40, 8, 8), dtype=np.uint8),
                 y_train=np.arange(40) % 2, x_test=r.integers(0, 256, (10, 8, 8), dtype=np.uint8),
                 y_test=np.arange(10) % 2)
    write(0)
    argv = ["train", "--dataset", f"npz:{tmp_path / 'd.npz'}", "--objective", "vanilla", "--epochs", "1",
            "--no-progress", "--out", tmp_path / "run"]
    assert main([str(a) for a in argv]) == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["data"]["train"][0]["path"].endswith("d.npz") and len(cfg["data"]["train"][0]["sha256"]) == 64
    (tmp_path / "run" / "state.json").write_text('{"status": "running", "epoch": 0}')
    write(1)
    assert "was trained on other data files" in one_line_error([*argv, "--resume"], capsys)


def test_force_does_not_clear_a_folder_another_process_is_writing(run, tmp_path, capsys):
    dst = copy_of(run, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (dst / ".lock").write_text(str(holder.pid))
        before = sorted(p.name for p in dst.iterdir())
        assert f"pid {holder.pid}" in one_line_error([*TRAIN, "--out", dst, "--force"], capsys)
        assert sorted(p.name for p in dst.iterdir()) == before
    finally:
        holder.kill()
        holder.wait()


def test_two_train_processes_into_one_folder(tmp_path):
    """Real concurrency: a second `advtrojan train --resume` into a folder being written is refused
    with the first's pid, and the first is still writing (a long run, stopped by the test)."""
    import os
    import signal
    env = {**os.environ, "PYTHONPATH": str(EXAMPLES), "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "advtrojan", *[a if a != "1" else "1000" for a in TRAIN], "--out", str(tmp_path / "r")]
    first = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 60
        while not (tmp_path / "r" / ".lock").exists() and time.time() < deadline:
            time.sleep(0.05)
        second = subprocess.run([*argv, "--resume"], env=env, capture_output=True, text=True)
        assert second.returncode == 2 and f"pid {first.pid}" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # untouched, still training
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()


def test_a_failed_first_start_leaves_no_folder(tmp_path, capsys, monkeypatch):
    import advtrojan.training.loop as loop

    def boom(*a, **k):
        raise RuntimeError("the first step failed")
    monkeypatch.setattr(loop, "train_epoch", boom)
    one_line_error([*TRAIN, "--out", tmp_path / "r"], capsys, code=1)
    assert not (tmp_path / "r").exists()
    monkeypatch.undo()


def test_a_full_disk_while_checkpointing_is_one_line_and_leaves_no_temporary_file(tmp_path, capsys, monkeypatch):
    import advtrojan.models.weights as weights
    real = weights.save_file

    def full(tensors, path, metadata=None):
        real(tensors, path, metadata=metadata)  # a part is written, then the disk fills up
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(weights, "save_file", full)
    err = one_line_error([*TRAIN, "--epochs", "2", "--out", tmp_path / "r"], capsys)
    assert "checkpoint.safetensors: cannot write (No space left on device)" in err
    assert not list(tmp_path.rglob("*.part"))


def test_an_unexpected_error_leaves_its_traceback_in_the_run_folder(run, tmp_path, capsys, monkeypatch):
    import advtrojan.training.loop as loop
    dst = interrupted(run, tmp_path)
    config = json.loads((dst / "config.json").read_text())
    (dst / "config.json").write_text(json.dumps({**config, "epochs": 2}))  # one epoch of two done

    def boom(*a, **k):
        raise KeyError("nobody foresaw this")
    monkeypatch.setattr(loop, "train_epoch", boom)
    err = one_line_error([*TRAIN, "--epochs", "2", "--out", dst, "--resume"], capsys, code=1)
    assert "unexpected KeyError" in err and "error.log" in err
    assert "Traceback" in (dst / "error.log").read_text()


def test_transfer_from_a_model_of_other_images_is_refused(run, tmp_path, capsys):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((20, 8, 8), np.uint8), y_train=np.arange(20) % 2,
             x_test=np.zeros((4, 8, 8), np.uint8), y_test=np.arange(4) % 2)
    assert main(["train", "--dataset", f"npz:{tmp_path / 'd.npz'}", "--objective", "vanilla", "--epochs", "1",
                 "--no-progress", "--out", str(tmp_path / "other")]) == 0
    err = one_line_error(["evaluate", run, *EVALUATE, "--transfer-from", tmp_path / "other"], capsys)
    assert "cannot craft examples for stripes" in err
