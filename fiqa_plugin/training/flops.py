"""Model size and compute: parameter count, and a multiply-accumulate counter from forward hooks on
convolutions and linear layers.

Counts MACs of ``Conv2d`` (``out_elems · cin/groups · kh · kw``) and ``Linear`` (``in · out`` per
row); biases, BatchNorm, activations and pooling are not counted (the usual convention of
thop/ptflops-style counters). FLOPs = 2 · MACs.
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters; BN running statistics are buffers and not counted."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, input_shape: Tuple[int, ...]) -> Dict[str, int]:
    """``{"macs": total, "conv": ..., "linear": ...}`` of one forward pass on ``zeros(input_shape)``, per whole batch."""
    counts = {"conv": 0, "linear": 0}

    def conv_hook(m: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        kh, kw = m.kernel_size
        counts["conv"] += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, inp, _out) -> None:
        counts["linear"] += inp[0].numel() // m.in_features * m.in_features * m.out_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return {"macs": counts["conv"] + counts["linear"], **counts}
