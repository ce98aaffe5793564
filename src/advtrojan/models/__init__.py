"""Models, registered by name: Table 6's LeNet and ResNet, and the two architectures this field's
benchmarks train on 32x32 images (PreAct-ResNet-18 and VGG-16 as BackdoorBench trains them), and a
small CNN of another shape for populations of models.
Inputs are images in [0,1]; outputs are logits; each built-in's ``features`` is its feature vector
after the convolution layers (Appendix D). A user's own model plugs in through the same door:
:func:`register_model`, or ``MODULE:FACTORY`` given as the model name."""

from __future__ import annotations

from .lenet import LeNet
from .preact_resnet import PreActResNet18
from .registry import MODELS, build_model, register_model, resolve
from .resnet import ResNet
from .smallcnn import SmallCNN
from .vgg import VGG16BN

__all__ = ["MODELS", "LeNet", "ResNet", "PreActResNet18", "SmallCNN", "VGG16BN", "build_model", "register_model",
           "resolve"]
