"""tinyFQnet matches Table 1: shapes, residual blocks, and a hand count of parameters and multiply-adds."""
from __future__ import annotations

import torch

from fiqa_plugin.training.flops import count_parameters
from fiqa_plugin.training.tinyfqnet import TinyFQNet, count_macs


def _hand_count():
    """Parameters (conv weights, BN gamma+beta, fc weight+bias) and MACs written out row by row from Table 1."""
    params = macs = 0
    # stem: conv 3x3, 3 -> 11, stride 2: 64 -> 32
    params += 3 * 3 * 3 * 11 + 2 * 11
    macs += 3 * 3 * 3 * 11 * 32 * 32
    # (cin, expand, cout, spatial size before, stride) for each block of Table 1
    rows = [(11, 8, 2, 32, 1), (2, 8, 5, 32, 2), (5, 20, 5, 16, 1), (5, 20, 11, 16, 2),
            (11, 44, 11, 8, 1), (11, 44, 11, 8, 1), (11, 44, 22, 8, 1)]
    for cin, e, cout, s, stride in rows:
        so = s // stride
        params += cin * e + 2 * e  # 1x1 expand + BN
        params += 9 * e + 2 * e  # depthwise 3x3 + BN
        params += e * cout + 2 * cout  # 1x1 project + BN
        macs += cin * e * s * s + 9 * e * so * so + e * cout * so * so
    # conv 1x1 22 -> 256 on 8x8, BN; fc 256 -> 1
    params += 22 * 256 + 2 * 256 + 256 + 1
    macs += 22 * 256 * 8 * 8 + 256
    return params, macs


def test_hand_count_is_table1_numbers():
    assert _hand_count() == (13366, 1331456)


def test_parameter_and_mac_counts_match_hand_count():
    net = TinyFQNet()
    params, macs = _hand_count()
    assert count_parameters(net) == params
    assert count_macs(net, 64) == macs


def test_shapes_and_residuals():
    net = TinyFQNet().eval()
    y = net(torch.randn(5, 3, 64, 64))
    assert y.shape == (5, 1) and bool(((y > 0) & (y < 1)).all())
    assert [b.residual for b in net.blocks] == [False, False, True, False, True, True, False]
    # the two "x2" blocks are separate modules with their own weights
    assert net.blocks[4] is not net.blocks[5]
    assert not torch.equal(net.blocks[4].body[0][0].weight, net.blocks[5].body[0][0].weight)


def test_linear_bottleneck_keeps_counts():
    net = TinyFQNet(linear_bottleneck=True)
    assert (count_parameters(net), count_macs(net)) == _hand_count()


def test_mobilenetv2_variants():
    from fiqa_plugin.training.mobilenetv2 import MobileNetV2Quality

    # torchvision's mobilenet_v2 has 3,504,872 parameters, 1,281,000 of them in the 1000-way classifier;
    # with our 1280 -> 1 head instead: 2,223,872 + 1,281.
    assert count_parameters(MobileNetV2Quality(t=6, w=1.0)) == 2_223_872 + 1_281
    small = MobileNetV2Quality(t=2, w=0.5).eval()
    for size in (64, 112):
        assert small(torch.randn(2, 3, size, size)).shape == (2, 1)
    assert count_macs(small, 112) > 2.5 * count_macs(small, 64)


def test_mobilenetv2_smaller_head():
    from fiqa_plugin.training.mobilenetv2 import MobileNetV2Quality

    full, slim = MobileNetV2Quality(t=1, w=0.25), MobileNetV2Quality(t=1, w=0.25, head=256)
    # only the last 1×1 conv (80 -> head, BN γ/β) and the fc (head -> 1, bias) change: by hand
    per_channel = 80 + 2 + 1
    assert count_parameters(full) - count_parameters(slim) == (1280 - 256) * per_channel
    assert slim.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 1)
