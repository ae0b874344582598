"""tinyFQnet (Peng et al., "Deep Tiny Network for Recognition-Oriented Face Image Quality
Assessment", Table 1 / Fig. 4): a ~13k-parameter quality regressor on 64×64 faces.

Reading of Table 1 used here (rows are ``input → output``):

====================  ==========  ========  ======  =======
layer                 in×in×c     expand    out c   stride
====================  ==========  ========  ======  =======
conv 3×3              64²×3       –         11      2
Block1                32²×11      8         2       1
Block2                32²×2       8         5       2
Block1                16²×5       20        5       1   (residual)
Block2                16²×5       20        11      2
Block1 ×2             8²×11       44        11      1   (residual, two separate blocks)
Block1                8²×11       44        22      1
conv 1×1              8²×22       –         256     1
global average pool   8²×256      –         256     –
fc + sigmoid          256         –         1       –
====================  ==========  ========  ======  =======

* A block is ``1×1 expand → depthwise 3×3 (stride s) → 1×1 project``; Block2 is the
  stride-2 variant and never residual; Block1 adds its input whenever input and output
  shapes match (the 5→5 and both 11→11 blocks).
* "×2" repeats the whole block (two blocks with their own weights).
* Every convolution is followed by BN and ReLU, as the figure draws it, the projection
  included (``linear_bottleneck=True`` drops that last ReLU, MobileNetV2 style); the
  residual sum is taken after the projection's activation.
* Convolutions have no bias (BN follows); the fc layer has one.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import nn

# (expand channels, output channels, stride) after the stem, straight from Table 1.
TABLE1_BLOCKS: Tuple[Tuple[int, int, int], ...] = (
    (8, 2, 1),
    (8, 5, 2),
    (20, 5, 1),
    (20, 11, 2),
    (44, 11, 1),
    (44, 11, 1),
    (44, 22, 1),
)
STEM_CHANNELS = 11
HEAD_CHANNELS = 256
INPUT_SIZE = 64


def conv_bn_relu(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    """Conv (no bias) → BN → optional ReLU, "same" padding."""
    layers: List[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class InvertedBlock(nn.Module):
    """1×1 expand → depthwise 3×3 → 1×1 project, with a residual sum when shapes match."""

    def __init__(self, cin: int, expand: int, cout: int, stride: int, linear_bottleneck: bool = False) -> None:
        super().__init__()
        self.residual = stride == 1 and cin == cout
        self.body = nn.Sequential(
            conv_bn_relu(cin, expand, 1),
            conv_bn_relu(expand, expand, 3, stride, groups=expand),
            conv_bn_relu(expand, cout, 1, relu=not linear_bottleneck),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class TinyFQNet(nn.Module):
    """Table 1 of Peng et al.: input ``[N,3,64,64]`` (normalised RGB), output ``[N,1]`` in (0, 1)."""

    def __init__(
        self,
        blocks: Sequence[Tuple[int, int, int]] = TABLE1_BLOCKS,
        stem: int = STEM_CHANNELS,
        head: int = HEAD_CHANNELS,
        linear_bottleneck: bool = False,
    ) -> None:
        super().__init__()
        self.stem = conv_bn_relu(3, stem, 3, 2)
        layers, cin = [], stem
        for expand, cout, stride in blocks:
            layers.append(InvertedBlock(cin, expand, cout, stride, linear_bottleneck))
            cin = cout
        self.blocks = nn.Sequential(*layers)
        self.head = conv_bn_relu(cin, head, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(head, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return torch.sigmoid(self.fc(torch.flatten(self.pool(x), 1)))


def count_macs(model: nn.Module, input_size: int = INPUT_SIZE) -> int:
    """Multiply-adds of one forward pass of conv and linear layers (BN, ReLU, pooling not counted)."""
    from .flops import count_macs as macs_by_kind

    return macs_by_kind(model, (1, 3, input_size, input_size))["macs"]
