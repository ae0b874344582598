"""MobileNetV3-Small (Howard et al. 2019) laid out exactly like ``torchvision.models.mobilenet_v3_small``:
same module names, so torchvision's ImageNet state_dict loads key for key."""
from __future__ import annotations

from typing import List, Optional

import torch
from torch import nn

# (input, kernel, expanded, output, squeeze-excite, activation, stride) of torchvision's "small" config.
SMALL_BLOCKS = (
    (16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
    (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
    (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1),
)
FEATURES = 576  # channels after the last 1×1 convolution (the pooled feature size)


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``: round to a multiple of ``divisor``, never below 90% of ``v``."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def conv_norm_act(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
                  act: Optional[type] = nn.ReLU) -> nn.Sequential:
    """torchvision's ``Conv2dNormActivation`` (conv without bias, BN eps 1e-3 / momentum 0.01, activation)."""
    layers: List[nn.Module] = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout, eps=0.001, momentum=0.01)]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """torchvision's ``SqueezeExcitation`` with ReLU and Hardsigmoid (as MobileNetV3 uses it)."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * s


class InvertedResidual(nn.Module):
    """MobileNetV3 bottleneck: optional 1×1 expansion, depthwise k×k, optional SE, linear 1×1 projection."""

    def __init__(self, cin: int, k: int, exp: int, cout: int, se: bool, act: str, stride: int) -> None:
        super().__init__()
        act_layer = nn.Hardswish if act == "HS" else nn.ReLU
        self.use_res_connect = stride == 1 and cin == cout
        layers: List[nn.Module] = []
        if exp != cin:
            layers.append(conv_norm_act(cin, exp, 1, act=act_layer))
        layers.append(conv_norm_act(exp, exp, k, stride, groups=exp, act=act_layer))
        if se:
            layers.append(SqueezeExcitation(exp, make_divisible(exp // 4, 8)))
        layers.append(conv_norm_act(exp, cout, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return y + x if self.use_res_connect else y


class MobileNetV3Small(nn.Module):
    """``features`` → global average pool; with ``num_classes`` also torchvision's ImageNet classifier."""

    def __init__(self, num_classes: Optional[int] = None, dropout: float = 0.2) -> None:
        super().__init__()
        layers: List[nn.Module] = [conv_norm_act(3, 16, 3, 2, act=nn.Hardswish)]
        layers += [InvertedResidual(*cfg) for cfg in SMALL_BLOCKS]
        layers.append(conv_norm_act(96, FEATURES, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = None
        if num_classes is not None:
            self.classifier = nn.Sequential(nn.Linear(FEATURES, 1024), nn.Hardswish(inplace=True),
                                            nn.Dropout(dropout, inplace=True), nn.Linear(1024, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's initialisation, so training from scratch starts where torchvision's would.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled ``[N, 576]`` features."""
        return torch.flatten(self.avgpool(self.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.forward_features(x)
        return self.classifier(f) if self.classifier is not None else f
