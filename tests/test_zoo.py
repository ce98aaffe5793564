"""Populations of models: a tiny population (two kinds x two seeds, seconds of training on real
Fashion-MNIST) through `zoo train` and `zoo scan` on the command line; two shards make the same
population.json as one process; a population interrupted midway resumes to the same result; and the
detection statistics are the libraries' on hand-built scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from advtrojan.cli.main import main
from advtrojan.errors import ConfigError
from advtrojan.zoo.spec import plan, read_spec, shard_of

pytestmark = pytest.mark.slow
D = "/usr/share/datasets/fashion-mnist"
SPEC = f"""
dataset = "fmnist"
architectures = ["lenet"]
seeds = [0, 1]
preset = "default"
data_dir = "{D}"

[train]
limit = 600
epochs = 1
batch_size = 64
precision = "fp32"

[kinds.vanilla]
objective = "vanilla"

[kinds.badnets]
objective = "badnets"
trigger = ["square:3-4@random", "noise:4@corner", "blend:0.2"]
target = [1, 2, 3]

[split.heldout]
seeds = [1]
"""
SCAN = ["--defenses", "neural_cleanse,strip", "--pool", "60", "--strip-reserved", "20", "--nc-images", "60",
        "--nc-epochs", "1", "--eval-limit", "100", "--data-dir", D, "--no-progress"]


def _spec(tmp_path):
    path = tmp_path / "zoo.toml"
    path.write_text(SPEC)
    return path


def test_a_population_is_planned_deterministically_with_its_draws_and_splits(tmp_path):
    spec = read_spec(_spec(tmp_path))
    a, b = plan(spec), plan(spec)
    assert [e.id for e in a] == ["vanilla-lenet-s0", "badnets-lenet-s0", "vanilla-lenet-s1", "badnets-lenet-s1"]
    assert a == b  # every draw from the spec alone
    bad = [e for e in a if e.kind == "badnets"]
    assert all(e.infected and e.options["target"] in (1, 2, 3) for e in bad)
    assert not any(e.infected for e in a if e.kind == "vanilla")
    assert {e.split for e in a if e.seed == 1} == {"heldout"} and {e.split for e in a if e.seed == 0} == {"development"}
    assert [e.id for e in shard_of(a, (1, 2))] == ["vanilla-lenet-s1", "badnets-lenet-s1"]  # whole groups
    # an architecture on seeds of its own: the others' models and draws unchanged
    more = plan({**spec, "architectures": ["lenet", {"name": "smallcnn", "seeds": [1]}]})
    assert more[:4] == a and [e.id for e in more[4:]] == ["vanilla-smallcnn-s1", "badnets-smallcnn-s1"]
    with pytest.raises(ConfigError, match="an architecture is a name"):
        plan({**spec, "architectures": [{"name": "smallcnn", "seed": 2}]})


def test_zoo_train_and_scan_sharded_equal_one_process_interrupted_and_resumed(tmp_path, capsys, monkeypatch):
    spec = _spec(tmp_path)
    sharded, single = tmp_path / "sharded", tmp_path / "single"
    for i in (0, 1):  # a job array of two, one share after the other, into one folder
        assert main(["zoo", "train", str(spec), "--out", str(sharded), "--shard", f"{i}/2", "--no-progress"]) == 0
        assert main(["zoo", "scan", str(sharded), *SCAN, "--shard", f"{i}/2"]) == 0
    # one process, interrupted in its third model, then resumed
    from advtrojan.zoo import train as zoo_train
    real, calls = zoo_train.train_group, {"n": 0}

    def interrupted(out, ids, threads, progress):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(out, ids, threads, progress)
    monkeypatch.setattr(zoo_train, "train_group", interrupted)
    assert main(["zoo", "train", str(spec), "--out", str(single), "--no-progress"]) != 0  # interrupted
    assert (single / "models" / "vanilla-lenet-s0").is_dir() and not (single / "models" / "vanilla-lenet-s1").exists()
    monkeypatch.setattr(zoo_train, "train_group", real)
    assert main(["zoo", "train", str(spec), "--out", str(single), "--no-progress"]) == 0
    assert main(["zoo", "scan", str(single), *SCAN]) == 0
    out = capsys.readouterr().out
    assert "neural_cleanse" in out and "wrote" in out
    a = json.loads((sharded / "population.json").read_text())
    b = json.loads((single / "population.json").read_text())
    assert a == b
    assert a["n_models"] == 4 and set(a["splits"]) == {"development", "heldout"}
    nc = a["defenses"]["neural_cleanse"]["model_level"]
    if nc is not None:  # both kinds judged: two infected against two clean models
        assert nc["n_infected"] + nc["n_clean"] + a["n_at_chance"] == 4 and len(nc["ci95"]) == 2
    assert "median_auc" in (a["defenses"]["strip"]["input_level"] or {"median_auc": None})
    assert (sharded / "population.html").is_file() and (sharded / "models" / "badnets-lenet-s1" / "config.json").is_file()
    trigger = json.loads((sharded / "models" / "badnets-lenet-s0" / "config.json").read_text())["trigger_spec"]
    assert trigger == plan(read_spec(spec))[1].trigger


def test_detection_statistics_are_the_libraries(tmp_path):
    from scipy.stats import bootstrap
    from sklearn.metrics import roc_auc_score, roc_curve

    from advtrojan.stats import auc_interval, roc_auc, tpr_at_fpr
    clean, infected = [0.1, 0.5, 0.9, 1.3, 0.2, 0.4], [2.5, 1.1, 3.0, 0.3, 2.0]
    y, s = np.r_[np.zeros(6), np.ones(5)], np.r_[clean, infected]
    assert roc_auc(clean, infected) == roc_auc_score(y, s)
    f, t, _ = roc_curve(y, s)
    assert tpr_at_fpr(clean, infected, 0.2) == t[f <= 0.2].max()

    def statistic(n, p):
        return roc_auc_score(np.r_[np.zeros(len(n)), np.ones(len(p))], np.r_[n, p])
    ref = bootstrap((np.array(clean), np.array(infected)), statistic, vectorized=False, n_resamples=300,
                    method="percentile", random_state=np.random.default_rng(0)).confidence_interval
    assert auc_interval(clean, infected, resamples=300) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_the_development_threshold_is_applied_unchanged_to_the_held_out_split():
    from advtrojan.zoo.population import ModelRecord, transfer

    def rec(split, infected, score, at_chance=False):
        return ModelRecord(id=f"{split}{infected}{score}", kind="k", arch="a", seed=0, split=split, infected=infected,
                           trigger="square", at_chance=at_chance, scores={"d": score}, aucs={}, detected={}, rows={})
    dev = [rec("development", False, s) for s in (0.1, 0.2, 0.3, 0.4)] + [rec("development", True, 5.0)]
    held = [rec("heldout", True, s) for s in (0.35, 0.5, 0.9)] + [rec("heldout", False, s) for s in (0.45, 0.2)]
    out = transfer(dev + held + [rec("heldout", True, 0.0, at_chance=True), rec("heldout", False, None)], ["d"])["d"]
    # four clean development models: the 95th percentile (next higher) is their largest score, 0.4
    assert out.threshold == 0.4 and out.n_dev_clean == 4
    assert (out.tpr, out.fpr, out.n_infected, out.n_clean) == (2 / 3, 0.5, 3, 2)
    assert transfer(held, ["d"]) == {}  # no development split: no threshold


def test_the_confound_check_scores_models_by_their_own_accuracy():
    from sklearn.metrics import roc_auc_score

    from advtrojan.zoo.population import ModelRecord, naive
    rows = [(False, 0.70, 0.43), (False, 0.72, 0.41), (True, 0.84, 0.27), (True, 0.83, 0.30), (True, 0.69, 0.45)]
    records = [ModelRecord(id=str(i), kind="k", arch="a", seed=i, split="development", infected=inf, trigger="square",
                           at_chance=False, scores={}, aucs={}, detected={}, rows={"benign": b, "madry": m})
               for i, (inf, b, m) in enumerate(rows)]
    out = naive(records + [ModelRecord(id="x", kind="k", arch="a", seed=9, split="development", infected=True,
                                       trigger="square", at_chance=True, scores={}, aucs={}, detected={},
                                       rows={"benign": 0.1, "madry": 0.0})])  # at chance: left out
    y = [r[0] for r in rows]
    assert out["benign"].auc == roc_auc_score(y, [r[1] for r in rows]) and out["benign"].n_infected == 3
    assert out["madry"].auc == roc_auc_score(y, [r[2] for r in rows]) < 0.5  # the ATIMs' lower robustness


@pytest.mark.parametrize("name", ["fmnist-default", "fmnist-cpu"])
def test_shipped_populations_give_each_fine_tuned_robust_infected_kind_a_clean_control(name):
    """A clean control trained as long from the same start: without it, the fine-tuned ATIMs' extra
    epochs (and Eq. 9's benign term) tell them from the Madry-Adv models by benign accuracy alone (on
    fmnist-cpu's LeNets: AUC 1.0 for that naive score, before madry_ft was added)."""
    from advtrojan.presets import crafts
    spec = read_spec(name)
    kinds = spec["kinds"]
    epochs = lambda k: {**spec.get("train", {}), **kinds[k].get("train", {})}.get("epochs")  # noqa: E731
    for kind, k in kinds.items():
        infected = k.get("infected", k["objective"].startswith("advtrojan") or k["objective"] == "badnets-adv")
        if infected and k.get("init") and crafts(k["objective"]):
            controls = [c for c, v in kinds.items() if v.get("init") == k["init"] and not v.get("infected", False)
                        and v["objective"] in ("madry", "vanilla") and epochs(c) == epochs(kind)]
            assert controls, f"{name}: {kind} has no clean control fine-tuned from {k['init']} for as long"


def _stat(pid) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    from pathlib import Path
    return {int(p.name) for p in Path("/proc").glob("[0-9]*") if (f := _stat(p.name)) and int(f[1]) == pid}


def test_a_killed_zoo_train_ends_its_worker_processes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    proc = subprocess.Popen([sys.executable, "-m", "advtrojan", "zoo", "train", str(_spec(tmp_path)), "--out",
                             str(tmp_path / "pop"), "--workers", "2", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(workers) < 2:  # the pool's workers (and its resource tracker)
            time.sleep(0.5)
            workers = _children(proc.pid)
        assert len(workers) >= 2, "the workers never started"
        time.sleep(3)  # inside their first model
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) != 0
        alive = lambda p: (f := _stat(p)) is not None and f[0] != "Z"  # noqa: E731 (a zombie has ended)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p) for p in workers):
            time.sleep(0.2)
        left = [p for p in workers if alive(p)]
        assert not left, f"worker processes {left} outlived the killed command"
    finally:
        proc.kill()
        for p in workers:  # whatever the outcome, this test leaves nothing running
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_the_zoo_scan_runs_the_collapse_search_chosen_on_the_development_split_and_reproduce_keeps_its_own():
    """presets.ZOO's collapse search length reaches the scan's settings;
    the reproduce presets keep CollapseSettings' default."""
    from advtrojan import presets
    from advtrojan.defenses.collapse import CollapseSettings
    from advtrojan.experiments.stages import scan_settings
    from advtrojan.zoo.scan import zoo_settings
    zoo = zoo_settings().options_for(CollapseSettings)
    assert zoo.epochs == presets.ZOO.collapse_epochs == 30 and zoo.images == presets.ZOO.collapse_images
    quick = scan_settings(presets.REPRODUCE["quick"], ["collapse"]).options_for(CollapseSettings)
    assert quick.epochs == CollapseSettings().epochs
