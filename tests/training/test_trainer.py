"""The one training loop (``training/trainer.py``): the same batches and steps as a hand-written loop,
exact resume after an interruption, best.pt selection, refusal of another config, short batches skipped."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from fiqa_plugin.errors import ResumeError, UsageError
from fiqa_plugin.training.trainer import TrainingRun, batches, fit

X = torch.from_numpy(np.random.default_rng(0).normal(size=(42, 4)).astype(np.float32))
Y = X @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 0.1
TRAIN = np.arange(2, 42)  # 40 samples: batches of 16, 16, 8
KEY = [5, 1]


def _model(dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(dropout), nn.Linear(8, 1))


def _loss(model: nn.Module, b: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    noise = torch.from_numpy(rng.normal(0, 0.01, (len(b), 4)).astype(np.float32))  # augmentation from the epoch's rng
    return ((model(X[b] + noise)[:, 0] - Y[b]) ** 2).mean()


def _run(model: nn.Module, out=None, **kw) -> TrainingRun:
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    base = dict(model=model, optimizer=opt, train_indices=TRAIN, batch_size=16, epochs=4, batch_loss=_loss,
                rng_key=KEY, config={"lr": 0.05, "epochs": 4}, out_dir=out,
                scheduler=torch.optim.lr_scheduler.StepLR(opt, 1, 0.5))
    base.update(kw)
    return TrainingRun(**base)


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_fit_takes_the_steps_of_a_hand_written_loop():
    """The golden run: epoch e shuffles with default_rng([*KEY, e]), batches of 16, the last one (8) skipped
    with min_batch 9, SGD steps, the LR halved per epoch, the record's loss weighted by batch size."""
    model, history = fit(_run(_model(), min_batch=9))

    ref = _model()
    opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for epoch in range(4):
        rng = np.random.default_rng([5, 1, epoch])
        order = TRAIN[rng.permutation(40)]
        seen = []
        for b in (order[0:16], order[16:32]):  # order[32:40] has 8 < 9 samples: skipped
            loss = _loss(ref, b, rng)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen.append(loss.item())
        losses.append(sum(seen) / 2)  # two batches of 16: the weighted mean is the plain one
        for g in opt.param_groups:
            g["lr"] *= 0.5
    assert _same(model, ref)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert [h["train_loss"] for h in history] == pytest.approx(losses, rel=1e-6)
    assert not model.training


def test_batches_skip_the_short_last_one():
    order = np.arange(10)
    assert [list(b) for b in batches(order, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [list(b) for b in batches(order, 4, min_batch=3)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    seen = []

    def record(model, b, rng):
        seen.append(len(b))
        return _loss(model, b, rng)

    model, history = fit(_run(_model(), train_indices=np.arange(1), batch_loss=record, epochs=2, min_batch=2,
                              scheduler=None))
    assert seen == [] and [h["train_loss"] for h in history] == [0.0, 0.0]  # one sample: nothing to train on
    assert _same(model, _model())


@pytest.mark.parametrize("reseed_torch", [False, True])
def test_resume_after_interruption_is_bit_identical(tmp_path, reseed_torch):
    """Dropout draws from torch's RNG: restored from last.pt, or re-seeded per epoch from the epoch's generator."""
    val = lambda m: {"val_out": float(m(X[:2]).sum())}  # noqa: E731
    full, hist_full = fit(_run(_model(0.3), tmp_path / "full", validate=val, reseed_torch=reseed_torch))

    # a process that stops after epoch 2's checkpoint (the config still says 4 epochs)
    fit(_run(_model(0.3), tmp_path / "cut", validate=val, reseed_torch=reseed_torch, epochs=2))
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["epoch"] == 1
    torch.manual_seed(123)  # whatever the new process's RNG holds
    resumed, hist_resumed = fit(_run(_model(0.3), tmp_path / "cut", validate=val, reseed_torch=reseed_torch))
    assert _same(full, resumed)
    assert hist_resumed == hist_full and len(hist_full) == 4
    on_disk = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert on_disk == {"config": {"lr": 0.05, "epochs": 4}, "history": hist_full}
    assert not (tmp_path / "cut" / "best.pt").exists()  # no metric selects: no best.pt


def test_best_pt_keeps_the_epoch_the_metric_says(tmp_path):
    """Scripted metric 0.1, 0.9, NaN, 0.9, 0.4: epoch 4 (a tie goes to the later epoch, NaN never wins)."""
    metric = iter([0.1, 0.9, float("nan"), 0.9, 0.4])
    snapshots = {}
    model = _model()

    def keep(epoch, _rec):
        snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    out = tmp_path / "run"
    best, history = fit(_run(model, out, epochs=5, validate=lambda m: {"score": next(metric)}, select_by="score",
                             checkpoint_extra={"note": "x"}, on_epoch_end=keep))
    state = torch.load(out / "best.pt", weights_only=True)
    assert state["epoch"] == 3 and state["note"] == "x"
    assert all(torch.equal(best.state_dict()[k], snapshots[4][k]) for k in snapshots[4])
    assert not all(torch.equal(best.state_dict()[k], snapshots[5][k]) for k in snapshots[5])
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 4
    assert [h["score"] for h in history][:2] == [0.1, 0.9]


def test_a_changed_config_refuses_to_resume(tmp_path):
    fit(_run(_model(), tmp_path, epochs=1))
    with pytest.raises(ResumeError, match="different config"):
        fit(_run(_model(), tmp_path, epochs=1, config={"lr": 0.1, "epochs": 4}))
    _, history = fit(_run(_model(), tmp_path, epochs=1, config={"lr": 0.1, "epochs": 4}, resume=False))
    assert len(history) == 1  # an explicit restart trains again


def test_without_out_dir_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, history = fit(_run(_model(), epochs=2))
    assert len(history) == 2 and not list(tmp_path.iterdir())
    with pytest.raises(UsageError, match="out_dir"):
        fit(_run(_model(), select_by="score"))
