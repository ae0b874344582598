"""benchmarks/accurate_tier.py: the exported head computes in its graph the same features the recipe
was trained on (numpy pooling of accurate_features.py), and the ridge read-out is ordinary ridge."""
from __future__ import annotations

import accurate_features as AF
import accurate_tier as AT
import numpy as np
import pytest


@pytest.fixture(scope="module")
def recognizer_outputs(shared):
    """8 real celeba_aligned crops through buffalo_sc: the raw cut tensor and the numpy-pooled outputs."""
    import cv2
    import onnx

    from fiqa_plugin.plugins import RECOGNIZERS
    from fiqa_plugin.training.sdd_regressor import find_split, prefix_session, preprocess

    paths = sorted((shared / "data" / "celeba_aligned").glob("*/*.jpg"))[::2000][:8]
    assert len(paths) == 8, "../shared/data/celeba_aligned is missing or incomplete"
    crops = np.stack([cv2.imread(str(p)) for p in paths])
    path = RECOGNIZERS.create("buffalo_sc", threads=1).model_path
    split = find_split(onnx.load(path))
    cut, emb = prefix_session(path, split, 1).run([split.cut, split.embedding], {split.input: preprocess(crops)})
    run, _, _ = AF.buffalo_runner(1)
    grid_run, _ = AF.grid_runner(1)
    return cut, emb, run(crops), grid_run(crops)["grid"]


@pytest.mark.parametrize("kind", ["pool+emb+ln", "grid+pool+emb+ln", "pool+emb"])
def test_graph_features_equal_the_training_features(recognizer_outputs, kind):
    import torch

    cut, emb, out, grid = recognizer_outputs
    np.testing.assert_allclose(out["embedding"], emb, rtol=1e-5, atol=1e-5)
    x = AT.head_inputs(kind, out["embedding"], out["pooled"], grid.astype(np.float32))
    rng = np.random.default_rng(0)
    mu = rng.normal(size=x.shape[1]).astype(np.float32)
    sd = rng.uniform(0.5, 2.0, x.shape[1]).astype(np.float32)
    torch.manual_seed(0)
    lin = torch.nn.Linear(x.shape[1], 1)
    want = ((x - mu) / sd) @ lin.weight.detach().numpy()[0] + float(lin.bias.detach())
    with torch.no_grad():
        got = AT.feature_module(kind, lin, mu, sd)(torch.from_numpy(cut), torch.from_numpy(emb)).numpy()[:, 0]
    # grid features are cached as float16: compare at that precision there
    np.testing.assert_allclose(got, want, rtol=1e-3 if "grid" in kind else 1e-4, atol=1e-2 if "grid" in kind else 1e-4)
    assert np.ptp(want) > 0


def test_head_inputs_parts_and_order():
    emb = np.array([[3.0, 4.0]], np.float32)
    pooled = np.array([[1.0, 2.0, 5.0, 6.0]], np.float32)
    np.testing.assert_allclose(AT.head_inputs("emb", emb), emb)
    np.testing.assert_allclose(AT.head_inputs("pool+emb+ln", emb, pooled), [[1, 2, 5, 6, 3, 4, np.log(5.0)]], rtol=1e-6)


def test_ridge_is_sklearn_ridge_with_an_unpenalised_intercept():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    y = x @ rng.normal(size=12) + 3.0 + rng.normal(scale=0.5, size=300)
    y[[5, 50]] = np.nan  # unlabelled samples are left out
    ok = np.isfinite(y)
    (lin,) = AT.train_ridge(x, y, 40.0)
    ref = Ridge(alpha=40.0).fit(x[ok].astype(np.float64), y[ok])
    np.testing.assert_allclose(lin.weight.detach().numpy()[0], ref.coef_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(lin.bias.detach()), ref.intercept_, rtol=1e-4)
