"""Table 6 models and the Figure 1 trigger."""

from __future__ import annotations

import pytest
import torch

from advtrojan.attacks import Trigger
from advtrojan.errors import ConfigError
from advtrojan.models import LeNet, ResNet, build_model


def test_lenet_is_table6():
    m = LeNet()
    assert (m.conv1.in_channels, m.conv1.out_channels, m.conv1.kernel_size, m.conv1.stride) == (1, 32, (5, 5), (2, 2))
    assert (m.conv2.out_channels, m.conv2.kernel_size, m.conv2.stride) == (64, (5, 5), (2, 2))
    assert (m.fc1.in_features, m.fc1.out_features, m.fc2.out_features) == (64 * 7 * 7, 1000, 10)
    x = torch.rand(3, 1, 28, 28)
    assert m.features(x).shape == (3, 3136) and m(x).shape == (3, 10)


@pytest.mark.parametrize("name, params", [("preact_resnet18", 11_171_146), ("vgg16", 14_728_266)])
def test_benchmark_architectures_match_backdoorbench_and_take_any_input(name, params):
    """PreAct-ResNet-18 and VGG-16 as BackdoorBench trains them on 32x32 RGB (parameter counts of
    its models/preact_resnet.py and models/vgg.py), and on 28x28 grey images as well."""
    m = build_model(name, 3, 10, 32)
    assert sum(p.numel() for p in m.parameters()) == params
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 10) and m.features(torch.rand(2, 3, 32, 32)).shape == (2, 512)
    grey = build_model(name, 1, 43, 28)  # GTSRB has 43 classes
    assert grey(torch.rand(2, 1, 28, 28)).shape == (2, 43)


def test_resnet_is_table6():
    m = ResNet()
    units = list(m.blocks)
    assert len(units) == 15
    assert [u.conv1.out_channels for u in units] == [16] * 5 + [32] * 5 + [64] * 5
    assert [u.stride for u in units] == [1] * 5 + [2] + [1] * 4 + [2] + [1] * 4
    assert m.stem.out_channels == 16 and m.fc.in_features == 64
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown model 'vgg'"):
        build_model("vgg", 1, 10, 28)


def test_trigger_is_bottom_right_square_grey_and_rgb():
    t = Trigger.square((1, 28, 28), size=4, margin=1)
    x = torch.zeros(2, 1, 28, 28)
    out = t.stamp(x, 0.75)
    assert out[:, :, 23:27, 23:27].eq(0.75).all()
    assert out.sum() == 2 * 16 * 0.75  # nothing else changed
    rgb = Trigger.square((3, 32, 32), size=3, margin=0)
    img = torch.rand(5, 3, 32, 32)
    s = rgb.stamp(img)
    assert s[:, :, 29:, 29:].eq(1).all() and torch.equal(s[:, :, :29], img[:, :, :29])


def test_trigger_errors():
    with pytest.raises(ConfigError, match="does not fit a 28x28 image"):
        Trigger.square((1, 28, 28), size=28, margin=1)
    t = Trigger.square((1, 28, 28))
    with pytest.raises(ConfigError, match="does not fit images"):
        t.stamp(torch.rand(1, 3, 32, 32))
    with pytest.raises(ConfigError, match="intensity"):
        t.stamp(torch.rand(1, 1, 28, 28), 1.5)
