"""MobileNetV2 quality regressors for the model-size ablation (Peng et al. Table 6):
expansion factor ``t`` and width multiplier ``w`` varied, input 64 or 112.

The layout is Sandler et al.'s (stem 32, the seven ``(t, c, n, s)`` stages, 1280-channel
head, linear bottlenecks) with every stage's expansion replaced by ``t`` (the first stage
keeps 1 and, as in the original, has no expansion convolution) and channels scaled by ``w`` (rounded to multiples of 8), and a
sigmoid regression head instead of the classifier. ``head`` replaces the 1280-channel last
convolution (e.g. 256), which otherwise dominates the parameter count of narrow variants.
"""
from __future__ import annotations

from typing import List, Optional

import torch
from torch import nn

from .tinyfqnet import InvertedBlock, conv_bn_relu

# (expansion, channels, repeats, stride) of MobileNetV2; expansion None means "use t".
STAGES = ((1, 16, 1, 1), (None, 24, 2, 2), (None, 32, 3, 2), (None, 64, 4, 2), (None, 96, 3, 1),
          (None, 160, 3, 2), (None, 320, 1, 1))


def _div8(v: float) -> int:
    out = max(8, int(v + 4) // 8 * 8)
    return out + 8 if out < 0.9 * v else out


class MobileNetV2Quality(nn.Module):
    """MobileNetV2 with expansion ``t`` and width ``w``; input ``[N,3,S,S]``, output ``[N,1]`` in (0, 1)."""

    def __init__(self, t: int = 6, w: float = 1.0, head: Optional[int] = None) -> None:
        super().__init__()
        self.t, self.w = t, w
        cin = _div8(32 * w)
        self.stem = conv_bn_relu(3, cin, 3, 2)
        layers: List[nn.Module] = []
        for exp, c, n, s in STAGES:
            cout = _div8(c * w)
            for i in range(n):
                blk = InvertedBlock(cin, cin * (exp or t), cout, s if i == 0 else 1, linear_bottleneck=True)
                if (exp or t) == 1:  # no 1×1 expansion when it would not expand, as in the original
                    blk.body = blk.body[1:]
                layers.append(blk)
                cin = cout
        self.blocks = nn.Sequential(*layers)
        # MobileNetV2's 1280-channel head holds most of a narrow variant's parameters; ``head`` shrinks it
        head = head or _div8(1280 * max(1.0, w))
        self.head = conv_bn_relu(cin, head, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(head, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return torch.sigmoid(self.fc(torch.flatten(self.pool(x), 1)))
