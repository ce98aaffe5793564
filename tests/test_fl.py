"""Federated AdvTrojan on Flower (Appendix A, case 2): the split, the settings, and real runs of
Flower's simulation engine on real Fashion-MNIST."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from advtrojan.errors import ConfigError
from advtrojan.fl import FLSettings, rounds, run_federated
from advtrojan.fl.partition import split


def test_splits_are_seeded_and_cover_every_image_once():
    labels = torch.arange(1000) % 10
    for scheme in ("iid", "dirichlet:0.3"):
        parts = split(labels, 5, scheme, seed=1)
        assert torch.equal(torch.sort(torch.cat(parts)).values, torch.arange(1000))   # each image once
        assert all(torch.equal(a, b) for a, b in zip(parts, split(labels, 5, scheme, seed=1)))  # seeded
        assert not all(torch.equal(a, b) for a, b in zip(parts, split(labels, 5, scheme, seed=2)))
    iid = split(labels, 5, "iid", 0)
    assert [len(p) for p in iid] == [200] * 5 and all(len(labels[p].unique()) == 10 for p in iid)
    # label skew: with a small alpha most clients hold most of their images in few classes
    skewed = split(labels, 5, "dirichlet:0.1", 0)
    top2 = [torch.bincount(labels[p], minlength=10).sort(descending=True).values[:2].sum() / len(p) for p in skewed]
    assert sum(t > 0.7 for t in top2) >= 3, top2


def test_settings_are_checked_before_any_work():
    with pytest.raises(ConfigError, match="bulyan needs n >= 4f"):
        FLSettings(clients=6, attackers=1, aggregator="bulyan").validate()
    with pytest.raises(ConfigError, match="krum"):
        FLSettings(clients=4, attackers=1, aggregator="krum").validate()
    with pytest.raises(ConfigError, match="--attackers"):
        FLSettings(clients=3, attackers=4).validate()
    with pytest.raises(ConfigError, match="START after END"):
        FLSettings(rounds=5, attack_window="4:2").validate()
    s = FLSettings(rounds=6, attackers=2, attack_window="2:3")
    assert [r for r in range(1, 7) if s.attacking(1, r)] == [2, 3] and not s.attacking(2, 2)
    assert FLSettings(rounds=4, attack_window="3:").window() == (3, 4)


def _no_ray_left():
    return subprocess.run(["pgrep", "-f", "raylet|gcs_server"], capture_output=True).returncode != 0


def _no_flower_left():
    """No live SuperLink, SuperNode, executor or app process (zombies wait for init to reap them)."""
    ps = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout.splitlines()
    return not [line for line in ps if re.search(r"flower-|flwr-", line) and not line.lstrip().startswith("Z")]


@pytest.mark.slow
def test_a_boosted_attacker_reaches_the_global_model_under_fedavg_not_fedmedian(tmp_path):
    """4 clients, 3 rounds on 800 real Fashion-MNIST images; client 0 trains with Eq. 9 and boosts
    its update 4x. Under FedAvg the aggregate moves a quarter of the way from the honest clients' mean
    to the attacker's update (its full share); under FedMedian the coordinate-wise median leaves the
    outlier out. The seeded FedAvg run repeated on Flower's deployment engine (a SuperLink and four
    SuperNodes as processes of their own) gives the same global weights, bit for bit, and leaves no
    process behind."""
    base = FLSettings(clients=4, attackers=1, rounds=3, limit=800, test_limit=100, eval_steps=3, boost=4.0)
    runs = {}
    for name, aggregator, engine in (("fedavg", "fedavg", "simulation"), ("fedmedian", "fedmedian", "simulation"),
                                     ("again", "fedavg", "deployment")):
        runs[name] = run_federated(replace(base, aggregator=aggregator, engine=engine), tmp_path / name)
        assert _no_ray_left() and _no_flower_left()
    for name in ("fedavg", "fedmedian"):
        assert (runs[name] / "rounds.png").stat().st_size > 0  # the curves
        lines = rounds(runs[name])
        assert [line["round"] for line in lines] == [0, 1, 2, 3]
        for line in lines[1:]:
            share = line["attacker_share"]  # measured on the aggregated weights
            if name == "fedavg":
                assert share == pytest.approx(0.25, abs=1e-4), line  # 1 of 4 equal weights: all of it
            else:
                assert abs(share) < 0.1, line                        # the median leaves the outlier out
    one, two = load_file(runs["fedavg"] / "global.safetensors"), load_file(runs["again"] / "global.safetensors")
    assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)
    med = load_file(runs["fedmedian"] / "global.safetensors")
    assert not all(torch.equal(one[k], med[k]) for k in one)


def test_the_cli_refuses_bad_settings_before_any_work(tmp_path, capsys):
    from advtrojan.cli.main import main
    out = tmp_path / "fl"
    assert main(["fl", "run", "--clients", "6", "--attackers", "1", "--aggregator", "bulyan", "--out", str(out)]) == 2
    assert "bulyan needs n >= 4f + 3" in capsys.readouterr().err
    assert not out.exists()  # nothing written
    with pytest.raises(SystemExit):
        main(["fl", "run", "--split", "dirichlet:0", "--out", str(out)])
    assert "ALPHA > 0" in capsys.readouterr().err
    assert main(["fl", "run", "--superlink", "10.0.0.1:9093", "--out", str(out)]) == 2  # the simulation has none
    assert "--superlink is an address for --engine deployment" in capsys.readouterr().err
    assert main(["fl", "run", "--engine", "deployment", "--superlink", "no port", "--out", str(out)]) == 2
    assert "expected HOST:PORT" in capsys.readouterr().err and not out.exists()
    assert main(["fl", "run", "--init", str(tmp_path / "none.safetensors"), "--out", str(out)]) == 2
    assert "no such weights file" in capsys.readouterr().err and not out.exists()
