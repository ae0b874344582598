"""benchmarks/tiny_tier.py: the warm start reproduces the shipped model it starts from (folded BatchNorm
rebuilt from data statistics), and the ridge teacher scores each identity with a ridge that never saw it."""
from __future__ import annotations

import numpy as np
import pytest
import tiny_tier as T


@pytest.fixture(scope="module")
def crops(shared):
    """16 real celeba_aligned crops at 64 px."""
    import cv2

    from fiqa_plugin.training.data import resize_crops

    paths = sorted((shared / "data" / "celeba_aligned").glob("*/*.jpg"))[::1000][:16]
    assert len(paths) == 16, "../shared/data/celeba_aligned is missing or incomplete"
    return resize_crops(np.stack([cv2.imread(str(p)) for p in paths]), 64)


@pytest.mark.parametrize("method, arch, kwargs", [
    ("mbv2_t1_w025_h256.celeba-r1", "mobilenetv2", {"t": 1, "w": 0.25, "head": 256}),
    ("tinyfqnet.celeba-r2", "tinyfqnet", {}),  # the warm start of tinyfqnet.celeba2-r1
])
def test_warm_start_is_the_shipped_model(crops, method, arch, kwargs):
    import torch

    from fiqa_plugin.onnx_session import make_session
    from fiqa_plugin.plugins import QUALITY_METHODS
    from fiqa_plugin.training.train import build_model, to_input

    path = QUALITY_METHODS.entry(method).tags["config"].model_path
    model = build_model(arch, **kwargs)
    T.init_from_onnx(model, path, crops[:8])
    sess = make_session(str(path), threads=1)
    x = to_input(crops[8:])  # crops the BatchNorm statistics were not taken from
    want = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0].reshape(-1)
    model.eval()
    with torch.no_grad():
        got = model(x).reshape(-1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    # the statistics are the data's (train mode then starts near the same function), not an identity BatchNorm
    bn = model.stem[1]
    assert float(bn.running_var.min()) > 0 and not np.allclose(bn.running_var.numpy(), 1.0 - bn.eps)


def test_ridge_teacher_is_out_of_fold(monkeypatch):
    rng = np.random.default_rng(0)
    n, ids = 400, np.repeat(np.arange(40), 10)
    a = {"buffalo_sc/pooled": rng.normal(size=(n, 6)), "buffalo_sc/embedding": rng.normal(size=(n, 4)),
         "identities": ids}
    y = rng.random(n)
    monkeypatch.setattr(T, "recipe_labels", lambda _a, _r: y)
    oof, full = T.ridge_teacher(a, "any", lam=1.0, folds=5)
    x = np.concatenate([a["buffalo_sc/pooled"], a["buffalo_sc/embedding"]], 1)
    mu, sd = x.mean(0), x.std(0)
    z = (x - mu) / sd
    fold_of = dict(zip(np.unique(ids), np.random.default_rng(0).permutation(40) % 5))
    fold = np.array([fold_of[i] for i in ids])
    for f in range(5):  # an independent ridge per fold: closed form on the other folds
        tr = fold != f
        w = np.linalg.solve(z[tr].T @ z[tr] + np.eye(10), z[tr].T @ (y[tr] - y[tr].mean()))
        np.testing.assert_allclose(oof[fold == f], z[fold == f] @ w + y[tr].mean(), atol=1e-9)
    w = np.linalg.solve(z.T @ z + np.eye(10), z.T @ (y - y.mean()))
    np.testing.assert_allclose(full(x), z @ w + y.mean(), atol=1e-9)
