"""The model registry: built-ins and a user's own factory through the same door, checked on a
dummy batch before any work."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from advtrojan.errors import ConfigError
from advtrojan.models import MODELS, build_model, register_model

USER_MODULE = textwrap.dedent('''
    import torch
    from torch import nn

    def small_cnn(num_classes, in_channels=1):          # no image_size: not passed
        return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(4, num_classes))

    def anything(**kwargs):                              # **kwargs: given everything
        assert set(kwargs) == {"in_channels", "num_classes", "image_size"}
        return nn.Sequential(nn.Flatten(), nn.Linear(kwargs["in_channels"] * kwargs["image_size"] ** 2,
                                                     kwargs["num_classes"]))

    def wrong_classes(num_classes):
        return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes + 1))

    def not_a_module():
        return "a string"

    NOT_CALLABLE = 3
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "mylab_nets.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "mylab_nets"


def test_builtins_use_the_registry():
    assert {"lenet", "resnet", "preact_resnet18", "vgg16"} <= set(MODELS)
    assert build_model("lenet", 1, 10, 28)(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_a_users_factory_by_module_path(user_module):
    m = build_model(f"{user_module}:small_cnn", 3, 43, 32)
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 43)
    assert build_model(f"{user_module}:anything", 1, 7, 12)(torch.rand(5, 1, 12, 12)).shape == (5, 7)


@pytest.mark.parametrize("name, message", [
    ("wrong_classes", r"to \(2, 11\); the data has 10 classes"),
    ("not_a_module", "not a torch nn.Module"),
    ("NOT_CALLABLE", "no callable 'NOT_CALLABLE'"),
    ("missing", "no callable 'missing'"),
])
def test_a_wrong_factory_is_one_clear_error(user_module, name, message):
    with pytest.raises(ConfigError, match=message):
        build_model(f"{user_module}:{name}", 1, 10, 28)


def test_unknown_names_and_modules():
    with pytest.raises(ConfigError, match="unknown model 'lenett'.*MODULE:FACTORY"):
        build_model("lenett", 1, 10, 28)
    with pytest.raises(ConfigError, match="cannot import 'no_such_module_xyz'"):
        build_model("no_such_module_xyz:net", 1, 10, 28)

def test_a_model_that_cannot_take_the_images_is_refused_before_any_work():
    @register_model("_test_fixed_input")
    class Fixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(1 * 28 * 28, 10)

        def forward(self, x):
            return self.fc(x.flatten(1))
    try:
        with pytest.raises(ConfigError, match="does not take 3x32x32 images"):
            build_model("_test_fixed_input", 3, 10, 32)
    finally:
        MODELS.pop("_test_fixed_input")


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(ConfigError, match="registered twice"):
        register_model("lenet")(lambda: nn.Linear(1, 1))


def test_train_and_reload_a_users_model(user_module, tmp_path):
    from advtrojan.data import SPECS, ImageData
    from advtrojan.training import fit, make_config
    g = torch.Generator().manual_seed(0)
    data = ImageData(SPECS["fmnist"], "train", torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8, generator=g),
                     torch.arange(40) % 10)
    cfg = make_config("fmnist", "vanilla", model=f"{user_module}:small_cnn", epochs=1)
    run = fit(cfg, tmp_path / "run", progress=False, train_data=data, test_data=data)
    assert run.config.model == f"{user_module}:small_cnn"
    assert run.load_model()(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ConfigError, match="the data has 10 classes"):
        make_config("fmnist", "vanilla", model=f"{user_module}:wrong_classes")
