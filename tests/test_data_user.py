"""A user's data (npz:, folder:, a registered loader) and plug-ins: what loads, and every way it
can be wrong getting one clear error that names the problem."""

from __future__ import annotations

from importlib import metadata

import numpy as np
import pytest
from PIL import Image

from advtrojan.cli.main import main
from advtrojan.data import get_spec, load_dataset, register_dataset
from advtrojan.data.registry import DATASETS, FORMATS
from advtrojan.errors import ConfigError, DataError
from advtrojan.plugins import load_entry_points, load_plugin, plugins_from_argv
from advtrojan.registry import Registry


def npz(path, **over):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8), y_train=np.arange(12) % 3,
                  x_test=rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8), y_test=np.arange(6) % 3)
    arrays.update(over)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


def test_npz_loads_nhwc_uint8_and_names_its_classes(tmp_path):
    a = npz(tmp_path / "d.npz", classes=np.array(["cat", "dog", "eel"]))
    spec = get_spec(f"npz:{tmp_path / 'd.npz'}")
    assert (spec.channels, spec.size, spec.classes, spec.train_size) == (3, 8, ("cat", "dog", "eel"), 12)
    d = load_dataset(spec.name, "test")
    assert d.images.shape == (6, 3, 8, 8) and np.array_equal(d.images.numpy(), a["x_test"].transpose(0, 3, 1, 2))


def test_npz_float_images_in_unit_range_become_uint8(tmp_path):
    x = np.linspace(0, 1, 12 * 64, dtype=np.float32).reshape(12, 8, 8)
    npz(tmp_path / "f.npz", x_train=x, x_test=x[:6])
    d = load_dataset(f"npz:{tmp_path / 'f.npz'}", "train")
    assert d.images.shape == (12, 1, 8, 8) and d.images.max() == 255 and d.images.min() == 0
    assert get_spec(f"npz:{tmp_path / 'f.npz'}").classes == ("0", "1", "2")


@pytest.mark.parametrize("over, message", [
    (dict(y_test=None), "missing y_test"),
    (dict(y_train=np.arange(12) % 3 * 1.0), "y_train must be integers"),
    (dict(x_train=np.zeros((12, 8, 6))), "square"),
    (dict(x_train=np.zeros((12, 8, 8, 5))), "1 or 3 channels"),
    (dict(x_test=np.full((6, 8, 8, 3), 2.0)), "float pixels must lie in [0, 1]"),
    (dict(x_test=np.full((6, 8, 8, 3), np.nan)), "NaN"),
    (dict(x_test=np.zeros((6, 4, 4, 3), dtype=np.uint8)), "(3, 8, 8) is needed"),
    (dict(y_test=np.array([0, 1, 2, 3, 0, 1]), classes=np.array(["a", "b", "c"])), "[0, 2]"),
    (dict(y_test=np.arange(5) % 3), "6 images but 5 labels"),
    (dict(x_test=np.full((6, 8, 8, 3), 300, dtype=np.int32)), "[0, 255]"),
    (dict(y_train=np.zeros(12, dtype=np.int64), y_test=np.zeros(6, dtype=np.int64)), "two classes"),
])
def test_npz_faults_are_one_clear_error(tmp_path, over, message):
    npz(tmp_path / "bad.npz", **over)
    with pytest.raises((DataError, ConfigError)) as exc:
        load_dataset(f"npz:{tmp_path / 'bad.npz'}", "test")
    assert message in str(exc.value)


def test_npz_that_needs_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    np.savez(tmp_path / "evil.npz", x_train=np.array([Evil(marker)], dtype=object), y_train=np.zeros(1),
             x_test=np.zeros(1), y_test=np.zeros(1))
    with pytest.raises(DataError, match="pickle"):
        get_spec(f"npz:{tmp_path / 'evil.npz'}")
    assert not marker.exists()


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_npz_missing_garbled_and_data_dir(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        get_spec(f"npz:{tmp_path / 'none.npz'}")
    (tmp_path / "g.npz").write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="not a readable .npz"):
        get_spec(f"npz:{tmp_path / 'g.npz'}")
    npz(tmp_path / "d.npz")
    with pytest.raises(ConfigError, match="--data-dir does not apply"):
        load_dataset(f"npz:{tmp_path / 'd.npz'}", "train", data_dir=tmp_path)


def image(path, size=(10, 12), colour=(200, 10, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_folder_splits_every_fifth_image_to_test_and_resizes(tmp_path):
    for c in ("a", "b"):
        for i in range(10):
            image(tmp_path / c / f"{i}.png", size=(10 + i, 20))
    spec = get_spec(f"folder:{tmp_path}?size=8&channels=1")
    assert (spec.classes, spec.channels, spec.size, spec.train_size, spec.test_size) == (("a", "b"), 1, 8, 16, 4)
    d = load_dataset(spec.name, "test")
    assert d.images.shape == (4, 1, 8, 8) and d.labels.tolist() == [0, 0, 1, 1]


def test_folder_with_train_and_test_subfolders(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for c in ("x", "y", "z"):
            for i in range(n):
                image(tmp_path / split / c / f"{i}.jpg")
    spec = get_spec(f"folder:{tmp_path}")
    assert (spec.train_size, spec.test_size, spec.size, spec.channels) == (9, 6, 32, 3)
    assert load_dataset(spec.name, "train").images.shape == (9, 3, 32, 32)


def test_folder_faults(tmp_path):
    with pytest.raises(ConfigError, match="no such folder"):
        get_spec(f"folder:{tmp_path / 'nope'}")
    image(tmp_path / "one" / "0.png")
    image(tmp_path / "one" / "1.png")
    with pytest.raises(DataError, match="at least two class"):
        get_spec(f"folder:{tmp_path}")
    (tmp_path / "two").mkdir()
    with pytest.raises(DataError, match="at least 2 images"):
        get_spec(f"folder:{tmp_path}")
    image(tmp_path / "two" / "0.png")
    (tmp_path / "two" / "1.png").write_text("not an image")
    with pytest.raises(DataError, match="1.png: not a readable image"):
        load_dataset(f"folder:{tmp_path}", "test")
    (tmp_path / "two" / "1.png").unlink()
    image(tmp_path / "two" / "1.png")
    (tmp_path / "two" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="notes.txt: not a PNG or JPEG"):
        load_dataset(f"folder:{tmp_path}", "train")
    with pytest.raises(ConfigError, match="unknown option colour"):
        get_spec(f"folder:{tmp_path}?colour=1")
    with pytest.raises(ConfigError, match="size must lie"):
        get_spec(f"folder:{tmp_path}?size=2")


def test_folder_train_and_test_must_hold_the_same_classes(tmp_path):
    image(tmp_path / "train" / "a" / "0.png")
    image(tmp_path / "train" / "b" / "0.png")
    image(tmp_path / "test" / "a" / "0.png")
    image(tmp_path / "test" / "c" / "0.png")
    with pytest.raises(DataError, match="different class folders"):
        get_spec(f"folder:{tmp_path}")


def test_a_registered_loader_is_checked_against_its_declaration():
    @register_dataset("_test_bad", classes=("a", "b"), channels=1, size=8)
    def load(split):
        return np.zeros((4, 8, 8), dtype=np.float64), np.array([0, 1, 2, 0])

    try:
        with pytest.raises(DataError, match=r"_test_bad.*\[0, 1\]"):
            load_dataset("_test_bad", "train")
    finally:
        DATASETS.pop("_test_bad")
        FORMATS.pop("plugin:_test_bad")


def test_unknown_dataset_names_the_choices_and_schemes():
    with pytest.raises(ConfigError) as exc:
        get_spec("imagenet")
    assert "fmnist" in str(exc.value) and "npz:PATH" in str(exc.value) and "folder:PATH" in str(exc.value)


def test_registry_refuses_a_name_taken_by_another_object():
    r = Registry("widget")
    r.add("a", len)
    r.add("a", len)  # the same object again: fine (a module imported twice)
    with pytest.raises(ConfigError, match="widget 'a' is registered twice"):
        r.add("a", print)
    with pytest.raises(ConfigError, match="unknown widget 'b': choose one of a"):
        r.get("b")
    with pytest.raises(ConfigError, match="without commas"):
        r.add("x,y", len)


def test_plugins_that_fail_are_one_line_errors(tmp_path, monkeypatch, capsys):
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="broken_plugin' failed to import \\(RuntimeError: boom\\)"):
        load_plugin("broken_plugin")
    assert main(["scan", "x", "--plugin", "no_such_module_here"]) == 2
    assert "no_such_module_here" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="no such file"):
        load_plugin(str(tmp_path / "missing.py"))
    assert plugins_from_argv(["train", "--plugin", "a", "--plugin=b", "--plugin"]) == ["a", "b"]


def test_plugin_file_and_entry_points_register(tmp_path, monkeypatch):
    (tmp_path / "ep_plugin.py").write_text(
        "from advtrojan.training import register_objective, Objective, Term\n"
        "from advtrojan.attacks import Threat\n"
        "@register_objective('_test_triggered_only')\n"
        "def f():\n    return Objective('_test_triggered_only', (Term(Threat.TRIGGERED),))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = metadata.EntryPoint(name="mylab", value="ep_plugin", group="advtrojan.plugins")
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [ep] if group == "advtrojan.plugins" else [])
    from advtrojan.training import OBJECTIVES, make_objective

    try:
        assert load_entry_points() == ["mylab"]
        assert make_objective("_test_triggered_only").name == "_test_triggered_only"
    finally:
        OBJECTIVES.pop("_test_triggered_only")
