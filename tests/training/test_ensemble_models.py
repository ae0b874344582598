"""Backbones match torchvision's layout; heads, weight loading and the MAC counter."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from fiqa_plugin.training.flops import count_macs, count_parameters
from fiqa_plugin.training.ensemble.mobilenetv3 import MobileNetV3Small
from fiqa_plugin.training.ensemble.model import QualityMember, build_member, detect_backbone, load_backbone_weights
from fiqa_plugin.training.ensemble.shufflenetv2 import ShuffleNetV2


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_parameter_counts_equal_torchvision_published():
    # torchvision's model tables: mobilenet_v3_small 2,542,856; shufflenet_v2_x1_0 2,278,604 parameters.
    assert count_parameters(MobileNetV3Small(num_classes=1000), trainable_only=False) == 2_542_856
    assert count_parameters(ShuffleNetV2(num_classes=1000), trainable_only=False) == 2_278_604


@pytest.mark.parametrize("model, shapes", [
    (MobileNetV3Small(1000), {"features.0.0.weight": (16, 3, 3, 3), "features.1.block.0.0.weight": (16, 1, 3, 3),
                              "features.1.block.1.fc1.weight": (8, 16, 1, 1), "features.4.block.2.fc2.bias": (96,),
                              "features.11.block.3.1.running_var": (96,), "features.12.0.weight": (576, 96, 1, 1),
                              "classifier.0.weight": (1024, 576), "classifier.3.weight": (1000, 1024)}),
    (ShuffleNetV2(1000), {"conv1.0.weight": (24, 3, 3, 3), "stage2.0.branch1.0.weight": (24, 1, 3, 3),
                          "stage2.1.branch2.0.weight": (58, 58, 1, 1), "stage3.7.branch2.3.weight": (116, 1, 3, 3),
                          "stage4.3.branch2.6.running_var": (232,), "conv5.0.weight": (1024, 464, 1, 1),
                          "fc.weight": (1000, 1024)}),
])
def test_torchvision_key_names_and_shapes(model, shapes):
    sd = model.state_dict()
    assert {k: tuple(sd[k].shape) for k in shapes} == shapes


def test_heads_follow_the_paper():
    mb, sh = QualityMember("mobilenet_v3_small"), QualityMember("shufflenet_v2_x1_0")
    lin = lambda m: [(l.in_features, l.out_features) for l in m.head if isinstance(l, nn.Linear)]  # noqa: E731
    assert lin(mb) == [(576, 288), (288, 1)]
    assert lin(sh) == [(1024, 512), (512, 256), (256, 1)]
    assert [l.p for l in sh.head if isinstance(l, nn.Dropout)] == [0.2, 0.2]
    x = torch.randn(3, 3, 64, 64)
    assert mb.eval()(x).shape == sh.eval()(x).shape == (3, 1)


def test_imagenet_weights_load_strictly(tmp_path):
    torch.manual_seed(1)
    ref = MobileNetV3Small(num_classes=1000)
    p = tmp_path / "mobilenet_v3_small.pth"
    torch.save(ref.state_dict(), p)
    assert detect_backbone(p) == "mobilenet_v3_small"
    m = build_member("mobilenet_v3_small", p)
    assert torch.equal(m.backbone.features[12][0].weight, ref.features[12][0].weight)
    assert torch.equal(m.backbone.features[3].block[1][1].running_var, ref.features[3].block[1][1].running_var)

    sp = tmp_path / "shufflenet.pth"
    torch.save(ShuffleNetV2(1000).state_dict(), sp)
    assert detect_backbone(sp) == "shufflenet_v2_x1_0"
    with pytest.raises(ValueError, match="missing .*features.0.0.weight"):
        load_backbone_weights(QualityMember("mobilenet_v3_small"), sp)
    bad = ref.state_dict()
    bad["features.12.0.weight"] = torch.zeros(576, 96, 3, 3)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"wrong shape .*features\.12\.0\.weight"):
        load_backbone_weights(QualityMember("mobilenet_v3_small"), tmp_path / "bad.pth")


def test_mac_counter_hand_counted():
    # conv 3→8, 3×3, pad 1 on 10×10: 8·10·10 outputs × 3·3·3 MACs = 21,600;
    # depthwise 8→8, 3×3, stride 2: 8·5·5 × 1·3·3 = 1,800; linear 200→5 per row, 1 row = 1,000.
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), nn.Flatten(), nn.Linear(200, 5))
    assert count_macs(net, (1, 3, 10, 10)) == {"macs": 24_400, "conv": 23_400, "linear": 1_000}
    assert count_macs(net, (2, 3, 10, 10))["macs"] == 48_800


def test_mac_counter_matches_torchvision_published_gflops():
    # torchvision lists 0.06 (mobilenet_v3_small) and 0.14 (shufflenet_v2_x1_0) "GFLOPS" (= GMACs) at 224×224.
    assert round(count_macs(MobileNetV3Small(1000), (1, 3, 224, 224))["macs"] / 1e9, 2) == 0.06
    assert round(count_macs(ShuffleNetV2(1000), (1, 3, 224, 224))["macs"] / 1e9, 2) == 0.14
