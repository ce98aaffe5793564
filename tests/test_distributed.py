"""`torchrun --nproc_per_node 2 -m advtrojan train` on CPU (gloo): the run folder has one writer,
records its world size, resumes under torchrun, and trains as well as one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from advtrojan.cli.main import main

pytestmark = pytest.mark.slow
FMNIST = "/usr/share/datasets/fashion-mnist"
ARGS = ["--dataset", "fmnist", "--objective", "madry", "--limit", "2000", "--steps", "3", "--step-size", "0.07",
        "--epochs", "3", "--batch-size", "64", "--data-dir", FMNIST, "--no-progress"]


def torchrun(out: Path, *extra: str, wait: bool = True, command=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "advtrojan", *(command or ["train", *ARGS, "--out", str(out)]), *extra]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_train_like_one_and_resume(tmp_path):
    one = tmp_path / "one"
    assert main(["train", *ARGS, "--out", str(one)]) == 0
    two = tmp_path / "two"
    proc = torchrun(two, wait=False)
    deadline = time.time() + 600
    while not (two / "checkpoint.safetensors").is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher, mid-run ...
    proc.wait()
    # ... and its workers, which torchrun starts in sessions of their own (the run's lock would
    # refuse the resumed run while one of them still writes)
    subprocess.run(["pkill", "-KILL", "-f", "--", f"--out {two}"], check=False)
    while subprocess.run(["pgrep", "-f", "--", f"--out {two}"], capture_output=True).returncode == 0:
        time.sleep(0.1)
    state = json.loads((two / "state.json").read_text())
    assert state["status"] == "running" and 1 <= state["epoch"] < 3
    done = torchrun(two, "--resume")
    assert json.loads((two / "state.json").read_text()) == {"status": "finished", "epoch": 3}
    assert json.loads((two / "config.json").read_text())["world_size"] == 2
    lines = metrics(two)
    assert [m["epoch"] for m in lines] == [1, 2, 3]  # one writer: no line twice
    assert all(m["world_size"] == 2 for m in lines)
    assert sorted(p.name for p in two.iterdir()) == ["config.json", "metrics.jsonl", "model.safetensors",
                                                     "state.json", "trigger.safetensors"]
    assert done.stdout.count("finished:") == 1  # one process speaks
    ref = metrics(one)[-1]
    for key in ("test_benign", "probe_madry"):  # the same training, split two ways: within noise
        assert abs(lines[-1][key] - ref[key]) < 0.06, (key, lines[-1][key], ref[key])

    # evaluation split two ways sums to the single-process counts (benign inputs: exactly)
    ev = ["evaluate", str(one), "--no-certified", "--attacks", "madry", "--limit", "300", "--data-dir", FMNIST,
          "--no-progress", "--steps", "3"]
    assert main([*ev, "--json", str(tmp_path / "e1.json")]) == 0
    done = torchrun(one, command=[*ev, "--json", str(tmp_path / "e2.json")])
    e1, e2 = (json.loads((tmp_path / f).read_text()) for f in ("e1.json", "e2.json"))
    assert e2["details"]["world_size"] == 2 and done.stdout.count("wrote") == 1
    a1, a2 = e1["accuracy"], e2["accuracy"]
    assert a1["benign"] == a2["benign"] and a1["trigger"] == a2["trigger"]
    assert abs(a1["madry"] - a2["madry"]) < 0.05
