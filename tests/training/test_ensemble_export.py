"""TTA ensemble: manual flip averages, one-graph ONNX export with parity on real crops, resume."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fiqa_plugin.training.ensemble.data import RegressionData, split
from fiqa_plugin.training.ensemble.export import export_ensemble_onnx, onnx_scores, shippable, write_ensemble_config
from fiqa_plugin.training.ensemble.model import MEMBERS, EnsembleQuality, build_member
from fiqa_plugin.training.ensemble.train import EnsembleConfig, train_member
from fiqa_plugin.training.train import to_input


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def data(small_trainset):
    ts = small_trainset
    return RegressionData(ts.crops, ts.labels, ts.identities.astype(np.int64), ts.degradation, "test")


@pytest.fixture(scope="module")
def trained(data):
    """Both members with BatchNorm statistics of real crops and spread-out heads, so scores depend on the face."""
    torch.manual_seed(0)
    x = to_input(data.crops)
    out = []
    for name in MEMBERS:
        m = build_member(name)
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.momentum = None  # cumulative average over the calibration pass
            elif isinstance(mod, nn.Linear):
                nn.init.normal_(mod.weight, 0, 0.03)
        m.train()
        with torch.no_grad():
            m(x)
        out.append(m.eval())
    return out


@pytest.fixture(scope="module")
def real_x(small_trainset):
    return to_input(small_trainset.crops[:24])  # real CelebA crops (clean + degraded), 64 px


def test_tta_equals_manual_flip_average(real_x, trained):
    ms = trained
    ens = EnsembleQuality(ms, ("identity", "hflip", "vflip")).eval()
    with torch.no_grad():
        got = ens(real_x).reshape(-1)
        manual = torch.stack([(m(real_x) + m(real_x.flip(3)) + m(real_x.flip(2))).reshape(-1) / 3 for m in ms]).mean(0)
        plain = EnsembleQuality(ms, ("identity",)).eval()(real_x).reshape(-1)
    assert torch.allclose(got, manual, atol=1e-6)
    assert not torch.allclose(got, plain, atol=1e-3)  # the views do change the score
    with pytest.raises(ValueError, match="unknown TTA view"):
        EnsembleQuality(ms, ("rot90",))


def test_onnx_one_graph_parity_on_real_crops(real_x, trained, small_trainset, tmp_path):
    import onnx

    crops64 = small_trainset.crops[:24]
    ens = EnsembleQuality(trained, ("identity", "hflip", "vflip")).eval()
    ship = shippable(ens)
    path = export_ensemble_onnx(ship, tmp_path / "ensemble.t.onnx", 64)
    with torch.no_grad():
        ref = ship(real_x).reshape(-1).numpy()
        unrounded = ens(real_x).reshape(-1).numpy()
    got = onnx_scores(path, real_x.numpy())
    assert np.abs(got - ref).max() < 1e-5
    assert np.corrcoef(got, unrounded)[0, 1] > 0.99  # float16 weight storage keeps the ranking
    assert np.abs(onnx_scores(path, real_x[:1].numpy()) - ref[:1]).max() < 1e-5  # batch of one
    g = onnx.load(str(path)).graph
    assert len(g.input) == 1 and len(g.output) == 1  # both members and all views in one graph
    assert not any(n.op_type == "BatchNormalization" for n in g.node)
    assert path.stat().st_size < 10_000_000

    # The JSON config drives the same graph through the library's torch-free path (64 px crops: no resize).
    from fiqa_plugin.quality.onnx_model import OnnxQualityModel

    write_ensemble_config(tmp_path / "ensemble.t.json", "t", path.name, 64, 127.5, 127.5, "test")
    q = OnnxQualityModel.from_config(tmp_path / "ensemble.t.json", threads=1).score_crops(crops64)
    assert np.abs(q - ref).max() < 1e-5


def test_member_training_resumes_exactly(data, tmp_path):
    tr, val = split(data, 0.25, 0)
    assert not set(data.groups[tr]) & set(data.groups[val])  # whole identities held out
    cfg = EnsembleConfig(members=["mobilenet_v3_small"], input_size=64, epochs=2, batch_size=16)
    full, hist = train_member(data, tr, val, cfg, "mobilenet_v3_small", tmp_path / "a")
    assert len(hist) == 2 and all(np.isfinite(h["train_loss"]) for h in hist)

    class Interrupt(Exception):
        pass

    def stop(epoch, _rec):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_member(data, tr, val, cfg, "mobilenet_v3_small", tmp_path / "b", on_epoch_end=stop)
    assert torch.load(tmp_path / "b" / "mobilenet_v3_small" / "last.pt", weights_only=False)["epoch"] == 0
    resumed, hist_b = train_member(data, tr, val, cfg, "mobilenet_v3_small", tmp_path / "b")
    assert [h["epoch"] for h in hist_b] == [1, 2]
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
