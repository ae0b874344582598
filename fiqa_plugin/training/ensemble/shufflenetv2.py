"""ShuffleNetV2 x1.0 (Ma et al. 2018) laid out exactly like ``torchvision.models.shufflenet_v2_x1_0``:
same module names, so torchvision's ImageNet state_dict loads key for key."""
from __future__ import annotations

from typing import List, Optional

import torch
from torch import nn

REPEATS = (4, 8, 4)
CHANNELS = (24, 116, 232, 464, 1024)  # x1.0
FEATURES = CHANNELS[-1]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.size()
    x = x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous()
    return x.view(b, -1, h, w)


def _dw(cin: int, cout: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False, groups=cin)


class InvertedResidual(nn.Module):
    """ShuffleNetV2 unit: split (stride 1) or duplicate (stride 2) the input, two branches, concat, shuffle."""

    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        bf = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(_dw(inp, inp, stride), nn.BatchNorm2d(inp), nn.Conv2d(inp, bf, 1, bias=False),
                                         nn.BatchNorm2d(bf), nn.ReLU(inplace=True))
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else bf, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU(inplace=True),
            _dw(bf, bf, stride), nn.BatchNorm2d(bf),
            nn.Conv2d(bf, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """conv1 → maxpool → stage2..4 → conv5 → global mean; with ``num_classes`` also torchvision's ``fc``."""

    def __init__(self, num_classes: Optional[int] = None) -> None:
        super().__init__()
        c = CHANNELS
        self.conv1 = nn.Sequential(nn.Conv2d(3, c[0], 3, 2, 1, bias=False), nn.BatchNorm2d(c[0]), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = c[0]
        for name, n, cout in zip(("stage2", "stage3", "stage4"), REPEATS, c[1:4]):
            units: List[nn.Module] = [InvertedResidual(cin, cout, 2)] + [InvertedResidual(cout, cout, 1) for _ in range(n - 1)]
            setattr(self, name, nn.Sequential(*units))
            cin = cout
        self.conv5 = nn.Sequential(nn.Conv2d(cin, c[-1], 1, bias=False), nn.BatchNorm2d(c[-1]), nn.ReLU(inplace=True))
        self.fc = nn.Linear(c[-1], num_classes) if num_classes is not None else None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled ``[N, 1024]`` features."""
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return x.mean([2, 3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.forward_features(x)
        return self.fc(f) if self.fc is not None else f
