"""MSECorrLoss = MSE + α·(1 − Pearson) against hand computation; no NaN on constant batches."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fiqa_plugin.training.ensemble.loss import MSECorrLoss, pearson


def test_golden_value_by_hand():
    pred, y = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 3.0, 2.0, 5.0])
    # MSE = (0 + 1 + 1 + 1) / 4 = 0.75. Centred: p = [-1.5, -.5, .5, 1.5], t = [-1.75, .25, -.75, 2.25];
    # Σpt = 5.5, Σp² = 5, Σt² = 8.75 → r = 5.5 / √43.75.
    r = 5.5 / math.sqrt(43.75)
    assert float(pearson(pred, y)) == pytest.approx(r, abs=1e-6)
    assert float(pearson(pred, y)) == pytest.approx(np.corrcoef(pred.numpy(), y.numpy())[0, 1], abs=1e-6)
    assert float(MSECorrLoss(0.5)(pred, y)) == pytest.approx(0.75 + 0.5 * (1 - r), abs=1e-6)
    assert float(MSECorrLoss(0.0)(pred, y)) == pytest.approx(0.75, abs=1e-7)
    assert float(MSECorrLoss(2.0)(pred.reshape(-1, 1), y)) == pytest.approx(0.75 + 2 * (1 - r), abs=1e-6)


def test_perfectly_anticorrelated():
    pred, y = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([2.0, 1.0, 0.0])
    # MSE = (4 + 0 + 4) / 3; r = −1 → 1 − r = 2.
    assert float(MSECorrLoss(1.0)(pred, y)) == pytest.approx(8 / 3 + 2, abs=1e-6)


@pytest.mark.parametrize("pred, y", [
    ([0.2, 0.5, 0.9, 0.1], [0.7, 0.7, 0.7, 0.7]),  # constant target: Pearson undefined
    ([0.3, 0.3, 0.3, 0.3], [0.1, 0.5, 0.2, 0.9]),  # constant prediction (e.g. a collapsed model)
])
def test_constant_batch_has_no_nan(pred, y):
    p = torch.tensor(pred, requires_grad=True)
    t = torch.tensor(y)
    loss = MSECorrLoss(1.0)(p, t)
    loss.backward()
    mse = float(((p.detach() - t) ** 2).mean())
    assert float(loss.detach()) == pytest.approx(mse + 1.0, abs=1e-6)  # r taken as 0
    assert torch.isfinite(p.grad).all()
    assert torch.allclose(p.grad, 2 * (p - t).detach() / len(pred), atol=1e-6)  # only the MSE term pulls


def test_negative_alpha_is_refused():
    with pytest.raises(ValueError, match="alpha"):
        MSECorrLoss(-1.0)
