"""Triggers as values: each family stamps what it says on hand-built images, specs resolve
deterministically per seed, a trigger round-trips through its file, and a run records its drawn
trigger in config.json and trigger.safetensors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from advtrojan.attacks.trigger import Trigger
from advtrojan.attacks.triggers import build, parse, resolve
from advtrojan.errors import ConfigError
from advtrojan.models.weights import save_weights

SHAPE = (1, 8, 8)


def stamped(spec: str, shape=SHAPE, intensity: float = 1.0) -> torch.Tensor:
    return build(spec, shape).stamp(torch.zeros(1, *shape), intensity)[0]


def test_patches_stamp_what_they_say_where_they_say():
    sq = stamped("square:3@tl")  # margin 1: rows and columns 1-3
    assert sq[0, 1:4, 1:4].eq(1).all() and sq.sum() == 9
    r = stamped("rect:2x3@br")
    assert r[0, 5:7, 4:7].eq(1).all() and r.sum() == 6
    c = stamped("checker:4@center")[0, 2:6, 2:6]
    assert c.tolist() == [[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]]
    at = stamped("square:2@5,0")  # X,Y: the patch's top-left pixel
    assert at[0, 0:2, 5:7].eq(1).all() and at.sum() == 4
    noise = stamped("noise:4@bl#5", shape=(3, 8, 8))
    patch = noise[:, 3:7, 1:5]
    assert set(patch.unique().tolist()) <= {0.0, 1.0} and torch.equal(patch[0], patch[2])  # grey: every channel
    assert torch.equal(noise, stamped("noise:4@bl#5", shape=(3, 8, 8)))  # the seed rebuilds it
    half = stamped("square:3@tl", intensity=0.5)  # intensity scales the pattern (Appendix D)
    assert half[0, 1:4, 1:4].eq(0.5).all()


def test_blend_covers_the_image_at_its_opacity():
    x = torch.full((1, *SHAPE), 0.2)
    t = build("blend:0.25#3", SHAPE)
    assert t.mask.eq(0.25).all()
    assert torch.allclose(t.stamp(x, 1.0), 0.75 * x + 0.25 * t.pattern)
    assert torch.allclose(t.stamp(x, 0.5), 0.75 * x + 0.125 * t.pattern)


def test_an_image_patch_and_a_file_round_trip(tmp_path):
    from PIL import Image
    pixels = np.array([[0, 128, 255], [255, 0, 128], [64, 64, 64]], dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "logo.png")
    img = stamped(f"image:{tmp_path / 'logo.png'}@tl")
    assert torch.allclose(img[0, 1:4, 1:4], torch.from_numpy(pixels / 255).float())
    trigger = build("noise:3@corner#9".replace("corner", "tr"), SHAPE)
    save_weights(tmp_path / "t.safetensors", {"mask": trigger.mask, "pattern": trigger.pattern}, {"kind": "trigger"})
    again = build(str(tmp_path / "t.safetensors"), SHAPE)
    assert torch.equal(again.mask, trigger.mask) and torch.equal(again.pattern, trigger.pattern)
    save_weights(tmp_path / "bad.safetensors", {"mask": trigger.mask * 3, "pattern": trigger.pattern}, {})
    with pytest.raises(ConfigError, match="must lie in"):
        build(f"file:{tmp_path / 'bad.safetensors'}", SHAPE)


def test_specs_resolve_deterministically_within_their_ranges():
    drawn = {resolve("square:3-6@random", seed, 4) for seed in range(20)}
    assert len(drawn) > 5 and resolve("square:3-6@random", 7, 4) == resolve("square:3-6@random", 7, 4)
    for text in drawn:
        spec = parse(text)
        assert spec.resolved and 3 <= spec.height[0] <= 6 and spec.position.startswith("r")
        t = build(text, (1, 28, 28))
        assert t.mask.sum() == spec.height[0] ** 2  # fits wherever it was drawn
    corners = {parse(resolve("noise:4@corner", s, 4)).position for s in range(30)}
    assert corners == {"br", "bl", "tr", "tl"}
    assert resolve("square", 0, 4) == "square:4" and resolve("square:4", 0, 9) == "square:4"
    assert resolve(resolve("blend:0.1", 1, 4), 2, 4) == resolve("blend:0.1", 1, 4)  # resolving twice: the same
    for bad, message in (("star:3", "unknown trigger family"), ("square:3@middle", "position"),
                         ("blend:2", "opacity"), ("rect:3", "HxW"), ("square:0", "at least 1 pixel")):
        with pytest.raises(ConfigError, match=message):
            parse(bad)
    with pytest.raises(ConfigError, match="left to draw"):
        build("square:3-5", SHAPE)
    with pytest.raises(ConfigError, match="does not fit"):
        build("square:8@br", SHAPE)


def test_a_run_records_its_drawn_trigger(tmp_path):
    from advtrojan.data import load_dataset
    from advtrojan.training import fit, make_config
    from advtrojan.training.runs import Run
    from conftest import tiny_spec, write_idx_set

    write_idx_set(tmp_path / "data", n_train=32, n_test=10)
    spec = tiny_spec(n_train=32, n_test=10)
    data = [load_dataset(spec, s, data_dir=tmp_path / "data", download=False) for s in ("train", "test")]
    cfg = make_config("fmnist", "badnets", epochs=1, batch_size=16, trigger_spec="noise:3-5@corner", seed=3)
    run = fit(cfg, tmp_path / "run", train_data=data[0], test_data=data[1], progress=False)
    recorded = json.loads((run.path / "config.json").read_text())["trigger_spec"]
    assert recorded == cfg.trigger_spec and parse(recorded).resolved and recorded.startswith("noise:")
    saved = Run(run.path).trigger()
    assert torch.equal(saved.mask, cfg.trigger().mask) and torch.equal(saved.pattern, cfg.trigger().pattern)
    assert isinstance(saved, Trigger) and (run.path / "trigger.safetensors").is_file()
