"""Correlation-aware loss (Hamidi et al. Eq. 4–7): ``MSE + α · (1 − Pearson)``."""
from __future__ import annotations

import torch
from torch import nn
from ...errors import UsageError


def pearson(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pearson correlation of two 1-D tensors; 0 when either is constant (undefined there, so no NaN)."""
    p = pred.reshape(-1) - pred.mean()
    t = target.reshape(-1) - target.mean()
    sq = (p * p).sum() * (t * t).sum()
    ok = sq > eps * eps
    # sqrt of a safe stand-in where undefined: sqrt(0) would give an infinite gradient, and
    # torch.where passes NaN gradients through the branch it did not pick.
    r = (p * t).sum() / torch.sqrt(torch.where(ok, sq, torch.ones_like(sq)))
    return torch.where(ok, r, torch.zeros_like(r))

class MSECorrLoss(nn.Module):
    """``mean((pred − y)²) + alpha · (1 − r(pred, y))``; ``alpha = 0`` is plain MSE."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        if alpha < 0:
            raise UsageError(f"alpha must be >= 0, got {alpha}")
        self.alpha = alpha

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred, target = pred.reshape(-1), target.reshape(-1).to(pred.dtype)
        mse = torch.mean((pred - target) ** 2)
        if self.alpha == 0:
            return mse
        return mse + self.alpha * (1.0 - pearson(pred, target))
