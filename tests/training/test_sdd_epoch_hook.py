"""train_sdd_regressor(on_epoch_end=...): called once per epoch, after that epoch's last.pt is written (so a
benchmark can judge the checkpoint), and only for the epochs a resumed run still trains."""
from __future__ import annotations

import numpy as np
import torch


def test_on_epoch_end_sees_each_epochs_checkpoint(tmp_path):
    import onnx

    from fiqa_plugin.plugins import RECOGNIZERS
    from fiqa_plugin.training.sdd_regressor import SDDTrainConfig, find_split, train_sdd_regressor

    path = RECOGNIZERS.create("buffalo_sc", threads=1).model_path
    split = find_split(onnx.load(path))
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(40, 256, 7, 7)).astype(np.float16)  # the shape of buffalo_sc's cut tensor
    labels, ids = rng.uniform(0, 100, 40), np.repeat(np.arange(10), 4)
    seen = []

    def hook(epoch, rec):
        state = torch.load(tmp_path / "last.pt", weights_only=True)
        seen.append((epoch, rec["epoch"], state["epoch"] + 1, len(state["history"])))

    def run(epochs):
        cfg = SDDTrainConfig(epochs=epochs, batch_size=16, val_fraction=0.2, threads=1)
        train_sdd_regressor(feats, labels, ids, path, split, cfg, tmp_path, on_epoch_end=hook)

    run(2)
    assert seen == [(1, 1, 1, 1), (2, 2, 2, 2)]
    seen.clear()
    run(2)  # everything done: a resumed run trains nothing and calls nothing
    assert seen == []
