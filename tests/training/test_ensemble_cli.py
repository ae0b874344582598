"""`fiqa ensemble train --labels CSV` → `fiqa ensemble export`: any float target, one registered-style ONNX."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from fiqa_plugin.cli.main import main


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_train_on_csv_targets_then_export(small_trainset, tmp_path):
    rows = ["path,label,group"]
    for i, (c, y, g) in enumerate(zip(small_trainset.crops, small_trainset.labels, small_trainset.identities)):
        cv2.imwrite(str(tmp_path / f"{i}.png"), c)
        rows.append(f"{i}.png,{float(y) * 5:.4f},{g}")  # a MOS-like 0–5 scale: any float works
    (tmp_path / "mos.csv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert main(["ensemble", "train", "--labels", str(tmp_path / "mos.csv"), "--aligned", "--out", str(run),
                 "--epochs", "1", "--batch-size", "16", "--val-fraction", "0.25"]) == 0
    res = json.loads((run / "results.json").read_text())
    assert set(res["ablation"]) >= {"mobilenet_v3_small", "shufflenet_v2_x1_0", "ensemble", "ensemble + TTA"}
    assert res["backbone_weights"]["mobilenet_v3_small"] == "none (trained from scratch)"
    assert "--labels" in json.loads((run / "run.json").read_text())["command"]
    out = tmp_path / "weights"
    assert main(["ensemble", "export", str(run), "--tag", "t", "--out-dir", str(out)]) == 0
    cfg = json.loads((out / "ensemble.t.json").read_text())
    assert (cfg["arch"], cfg["input_size"], cfg["views"]) == ("ensemble", 64, ["identity", "hflip", "vflip"])
    card = (out / "ensemble.t.md").read_text()
    assert "none (trained from scratch)" in card and "max |torch − onnxruntime|" in card

    from fiqa_plugin.quality.onnx_model import OnnxQualityModel

    q = OnnxQualityModel.from_config(out / "ensemble.t.json", threads=1).score_crops(small_trainset.crops[:5])
    assert q.shape == (5,) and np.isfinite(q).all()
