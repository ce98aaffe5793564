"""kill -9 at random points of a training run, each followed by ``--resume``: the final weights
must equal an uninterrupted run's bit for bit, and the run folder must hold nothing else than a
finished run does (no lock, no temporary file, no checkpoint).

An AdvTrojan (Eq. 9) run on the ``stripes`` example dataset (examples/user_dataset.py), several
short epochs, so that kills land in every phase: start-up, crafting, the optimiser step, the
metrics append, the checkpoint write, the final weights, the state update. Each kill takes a time
drawn uniformly from (0, the uninterrupted run's wall time); the process group is killed, so a
half-written file is exactly what a power cut would leave.

    python benchmarks/kill_resume.py [--kills 20] [--seed 0] [--work DIR]

Exit status 0 when every check holds; tests/faults/test_fault_kill_resume.py runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FINISHED = {"config.json", "metrics.jsonl", "model.safetensors", "state.json", "trigger.safetensors"}


def train_argv(out: Path, epochs: int) -> list[str]:
    return [sys.executable, "-m", "advtrojan", "train", "--plugin", "user_dataset", "--dataset", "stripes",
            "--objective", "advtrojan", "--steps", "2", "--epochs", str(epochs), "--limit", "240",
            "--batch-size", "40", "--precision", "fp32", "--no-progress", "--out", str(out)]


def environment() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", ADVTROJAN_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(EXAMPLES), env.get("PYTHONPATH", "")) if p)
    return env


def start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # its own process group: the kill reaches every child


def _state(run: Path) -> dict | None:
    path = run / "state.json"
    return json.loads(path.read_text()) if path.is_file() else None


def weights(path: Path) -> dict:
    from safetensors.torch import load_file
    return load_file(str(path))


def kill_and_resume(work: Path, kills: int = 20, seed: int = 0, epochs: int = 8) -> dict:
    """Run the experiment in ``work``; return what was measured (``ok`` says whether all held)."""
    rng = random.Random(seed)
    ref = work / "reference"
    t0, seen = time.perf_counter(), {}  # the reference, watched: when each epoch's state appears
    proc = start(train_argv(ref, epochs))
    while proc.poll() is None:
        state = _state(ref)
        if state:
            seen.setdefault(state["epoch"], time.perf_counter() - t0)
        time.sleep(0.02)
    duration = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"reference run failed: {proc.stderr.read().decode().strip()}")
    proc.stderr.close()
    per_epoch = (seen[epochs] - seen[1]) / (epochs - 1)
    startup = max(0.5, seen[1] - per_epoch)  # the interpreter, imports, data, model
    reference = weights(ref / "model.safetensors")
    points, errors, checks = [], [], []
    victim = work / "killed-1"
    while sum(p["outcome"] == "killed" for p in points) < kills:
        state = _state(victim)
        if state and state["status"] == "finished":  # finished before all kills were spent: check it, go on
            checks.append(_check(victim, reference, epochs))
            victim = work / f"killed-{len(checks) + 1}"
            state = None
        left = epochs - (state["epoch"] if state else 0)
        killed = sum(p["outcome"] == "killed" for p in points)
        # spread the kills over what is left: each attempt advances about left / (kills left) epochs
        at = rng.uniform(0.6 * startup, startup + 2 * per_epoch * max(left, 0.5) / (kills - killed + 1))
        proc = start(train_argv(victim, epochs) + (["--resume"] if victim.exists() else []))
        try:
            proc.wait(timeout=at)
            outcome = "finished before the kill" if proc.returncode == 0 else f"exit {proc.returncode}"
            if proc.returncode:
                errors.append(proc.stderr.read().decode().strip())
                break
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            outcome = "killed"
        proc.stderr.close()
        points.append({"run": victim.name, "at_s": round(at, 2), "outcome": outcome, "state": _state(victim)})
    final = subprocess.run(train_argv(victim, epochs) + (["--resume"] if victim.exists() else []), env=environment(),
                           capture_output=True, text=True)
    if final.returncode:
        errors.append(final.stderr.strip())
    checks.append(_check(victim, reference, epochs))
    killed = sum(p["outcome"] == "killed" for p in points)
    return {"kills": killed, "points": points, "reference_s": round(duration, 1), "runs": checks,
            "errors": errors, "ok": killed == kills and not errors and all(c["ok"] for c in checks)}


def _check(victim: Path, reference: dict, epochs: int) -> dict:
    """A resumed run against the reference: weights bit for bit, nothing stray, every epoch logged once."""
    import torch

    b = weights(victim / "model.safetensors") if (victim / "model.safetensors").is_file() else {}
    identical = reference.keys() == b.keys() and all(torch.equal(reference[k], b[k]) for k in reference)
    stray = sorted({p.name for p in victim.iterdir()} - FINISHED) if victim.is_dir() else ["(no run folder)"]
    logged = [json.loads(line)["epoch"] for line in (victim / "metrics.jsonl").read_text().splitlines()] \
        if (victim / "metrics.jsonl").is_file() else []
    return {"run": victim.name, "identical_weights": identical, "stray_files": stray, "metrics_epochs": logged,
            "ok": identical and not stray and logged == list(range(1, epochs + 1))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--work", help="folder for the two runs (default: a temporary one)")
    args = ap.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="advtrojan-kill-"))
    t = time.perf_counter()
    result = kill_and_resume(work, args.kills, args.seed, args.epochs)
    for p in result["points"]:
        print(f"  {p['run']}: kill at {p['at_s']:5.2f} s: {p['outcome']:<26} state after: {p['state']}")
    for c in result["runs"]:
        print(f"  {c['run']}: weights {'bit-identical' if c['identical_weights'] else 'DIFFER'}, stray files "
              f"{c['stray_files'] or 'none'}, epochs logged {c['metrics_epochs']}")
    for e in result["errors"]:
        print(f"  error: {e}")
    print(f"{'PASS' if result['ok'] else 'FAIL'}: {result['kills']} kills, {len(result['runs'])} run(s), "
          f"{time.perf_counter() - t:.0f} s in all")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
