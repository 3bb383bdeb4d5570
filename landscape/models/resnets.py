"""Residual networks: ``wrn`` (Zagoruyko & Komodakis, WRN-28-10 by default), ``resnet50``."""

from __future__ import annotations

from torch import Tensor, nn

from landscape.models.registry import register_model

__all__ = ["WideResNet"]


class _WideBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3-(dropout)-BN-ReLU-conv3x3 + shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu2 = nn.ReLU()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.shortcut = (
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
            if stride != 1 or c_in != c_out else None
        )

    def forward(self, x: Tensor) -> Tensor:
        o = self.relu1(self.bn1(x))
        y = self.conv1(o)
        y = self.conv2(self.dropout(self.relu2(self.bn2(y))))
        return y + (self.shortcut(o) if self.shortcut is not None else x)


class WideResNet(nn.Module):
    """WRN-depth-width for small images (depth = 6n + 4)."""

    def __init__(
        self, depth: int, width: int, num_classes: int, in_channels: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f"WRN depth must be 6n + 4 with n >= 1 (10, 16, 28, ...), got {depth}")
        if width < 1:
            raise ValueError(f"WRN width must be a positive integer, got {width}")
        n = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        stages = []
        c = widths[0]
        for i, stride in enumerate((1, 2, 2)):
            blocks = []
            for j in range(n):
                blocks.append(_WideBlock(c, widths[i + 1], stride if j == 0 else 1, dropout))
                c = widths[i + 1]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Return the logits of a batch."""
        x = self.relu(self.bn(self.stages(self.conv1(x))))
        return self.fc(self.pool(x).flatten(1))


@register_model("wrn", "Wide ResNet WRN-depth-width (28x10 by default)",
                test_kwargs={"depth": 10, "width": 1})
def wrn(
    *, num_classes: int, input_shape: tuple[int, ...], depth: int = 28, width: int = 10,
    dropout: float = 0.0,
) -> nn.Module:
    """Wide residual network (Zagoruyko & Komodakis 2016)."""
    if len(input_shape) != 3:
        raise ValueError(f"model 'wrn' needs [C, H, W] inputs, got {input_shape}")
    if (depth - 4) % 6 != 0 or depth < 10:
        raise ValueError(f"model 'wrn': option depth={depth} must be 6n + 4 with n >= 1 "
                         "(e.g. depth=10, 16 or 28)")
    if width < 1:
        raise ValueError(f"model 'wrn': option width={width} must be a positive integer "
                         "(e.g. width=10)")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"model 'wrn': option dropout={dropout} must be in [0, 1) "
                         "(e.g. dropout=0.3)")
    return WideResNet(depth, width, num_classes, input_shape[0], dropout)


def _torchvision_resnet(name: str, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    """Torchvision's ``name`` (random init; no weights are fetched).

    The first convolution is rebuilt for inputs of other than 3 channels.
    """
    import torchvision.models

    if len(input_shape) != 3:
        raise ValueError(f"model {name!r} needs [C, H, W] inputs, got {input_shape}")
    model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    if input_shape[0] != 3:
        model.conv1 = nn.Conv2d(input_shape[0], 64, 7, stride=2, padding=3, bias=False)
    return model


@register_model("resnet18", "torchvision ResNet-18 (He et al. 2016, ImageNet architecture)")
def resnet18(*, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    """Torchvision's ResNet-18 (random init; no pretrained weights are fetched).

    The same network as ``--model torchvision:resnet18`` for 3-channel inputs, so a plain
    ``state_dict`` of a torchvision ResNet-18 loads into it.
    """
    return _torchvision_resnet("resnet18", num_classes, input_shape)


@register_model("resnet50", "torchvision ResNet-50 (ImageNet architecture, as in Chao et al. 2020)")
def resnet50(*, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    """Torchvision's ResNet-50 (random init; no pretrained weights are fetched)."""
    return _torchvision_resnet("resnet50", num_classes, input_shape)
