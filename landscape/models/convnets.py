"""Convolutional networks: ``lenet5`` (Caffe), ``basicnet`` (Mehta et al. 2019), ``vgg16[_bn]``.

``vgg16``/``vgg16_bn`` are the CIFAR variants of Garipov et al. 2018 used by Chao et al. 2020:
the 13 convolutions of VGG-16 (3x3, max-pooling after each block) and a 512-512-C classifier
with dropout. ``basicnet`` follows Mehta et al. 2019's Figure 1: seven 3x3 convolutions C1-C7
of 64, 128, 128, 256, 256, 512, 512 channels with BatchNorm and ReLU, max-pooling after C2, C4
and C6, global average pooling and a linear head.
"""

from __future__ import annotations

from torch import Tensor, nn

from landscape.models._layers import flat_features
from landscape.models.registry import register_model

__all__ = ["ConvNet"]

VGG16_CFG: list[int | str] = [
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
]
BASICNET_CFG: list[int | str] = [64, 128, "M", 128, 256, "M", 256, 512, "M", 512]


def _conv_stack(cfg: list[int | str], in_channels: int, *, batchnorm: bool, scale: float = 1.0):
    layers: list[nn.Module] = []
    c = in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        out = max(1, round(int(v) * scale))
        layers.append(nn.Conv2d(c, out, 3, padding=1))
        if batchnorm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(nn.ReLU(inplace=False))
        c = out
    return nn.Sequential(*layers), c


class ConvNet(nn.Module):
    """``features`` (a conv stack) -> flatten -> ``classifier``."""

    def __init__(self, features: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        """Return the logits of a batch."""
        return self.classifier(self.features(x).flatten(1))


def _check_image(name: str, input_shape: tuple[int, ...], min_side: int) -> None:
    if len(input_shape) != 3 or min(input_shape[1:]) < min_side:
        raise ValueError(
            f"model {name!r} needs [C, H, W] inputs of side >= {min_side}, got {input_shape}"
        )


def _check_width(name: str, width: float) -> None:
    if width <= 0:
        raise ValueError(f"model {name!r}: option width={width} must be a positive number "
                         "(e.g. width=0.5 halves every layer)")


@register_model("lenet5", "LeNet-5 (Caffe): conv20-pool-conv50-pool-fc500-fc")
def lenet5(*, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    """LeNet-5 as in Caffe and the pruning literature (431k parameters on MNIST)."""
    _check_image("lenet5", input_shape, 12)
    features = nn.Sequential(
        nn.Conv2d(input_shape[0], 20, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2),
    )
    n = flat_features(features, input_shape)
    classifier = nn.Sequential(nn.Linear(n, 500), nn.ReLU(), nn.Linear(500, num_classes))
    return ConvNet(features, classifier)


@register_model(
    "basicnet", "BasicNet (Mehta et al. 2019): 7 conv+BN+ReLU layers, width multiplier `width`",
    test_kwargs={"width": 0.125},
)
def basicnet(
    *, num_classes: int, input_shape: tuple[int, ...], width: float = 1.0, batchnorm: bool = True
) -> nn.Module:
    """BasicNet of Mehta et al. 2019 (C1-C7 = 64..512 channels times ``width``)."""
    _check_image("basicnet", input_shape, 8)
    _check_width("basicnet", width)
    convs, c = _conv_stack(BASICNET_CFG, input_shape[0], batchnorm=batchnorm, scale=width)
    features = nn.Sequential(*convs, nn.AdaptiveAvgPool2d(1))
    return ConvNet(features, nn.Linear(c, num_classes))


def _vgg(name: str, num_classes: int, input_shape: tuple[int, ...], batchnorm: bool,
         width: float) -> nn.Module:
    _check_image(name, input_shape, 32)
    _check_width(name, width)
    convs, _ = _conv_stack(VGG16_CFG, input_shape[0], batchnorm=batchnorm, scale=width)
    n = flat_features(convs, input_shape)
    hidden = max(1, round(512 * width))
    classifier = nn.Sequential(
        nn.Dropout(), nn.Linear(n, hidden), nn.ReLU(),
        nn.Dropout(), nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )
    return ConvNet(convs, classifier)


@register_model("vgg16", "VGG-16, CIFAR variant (Garipov et al.), no BatchNorm",
                test_kwargs={"width": 0.0625})
def vgg16(*, num_classes: int, input_shape: tuple[int, ...], width: float = 1.0) -> nn.Module:
    """VGG-16 for 32x32 inputs, as in the CIFAR-10 experiments of Chao et al. 2020."""
    return _vgg("vgg16", num_classes, input_shape, False, width)


@register_model("vgg16_bn", "VGG-16 with BatchNorm, CIFAR variant", test_kwargs={"width": 0.0625})
def vgg16_bn(*, num_classes: int, input_shape: tuple[int, ...], width: float = 1.0) -> nn.Module:
    """VGG-16 with BatchNorm after every convolution."""
    return _vgg("vgg16_bn", num_classes, input_shape, True, width)
