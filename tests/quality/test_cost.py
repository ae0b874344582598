"""MACs per face counted from the ONNX graphs, against the torch-hook counts in the model cards."""
import onnx

from fiqa_plugin.paths import WEIGHTS_DIR
from fiqa_plugin.quality.cost import count_macs, method_macs
from fiqa_plugin.scoring import resolve_method


def test_counts_match_the_model_cards():
    # fiqa_plugin/weights/mbv2_t1_w025_h256.celeba-r1.md: 629,184 multiply-adds (tinyFQnet: 1,331,456),
    # counted on the torch module by fiqa_plugin/training/flops.py
    assert count_macs(onnx.load(str(WEIGHTS_DIR / "mbv2_t1_w025_h256.celeba-r1.onnx"))) == 629_184
    assert count_macs(onnx.load(str(WEIGHTS_DIR / "tinyfqnet.celeba-r2.onnx"))) == 1_331_456
    # ensemble card: 52.4 M with its 3 views; its channel shuffles need the run-time shapes
    assert round(count_macs(onnx.load(str(WEIGHTS_DIR / "ensemble.celeba-r1.onnx"))) / 1e5) == 524


def test_measures_cost_nothing_and_embedding_methods_cost_the_recognizer():
    assert method_macs(resolve_method("blur")) == 0
    assert method_macs(resolve_method("embedding-norm")) > 100 * method_macs(resolve_method("tinyfqnet"))
