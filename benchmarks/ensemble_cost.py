"""Size, compute and CPU speed of the ensemble: parameters, MACs/GFLOPs per face, faces/s.

    python benchmarks/ensemble_cost.py [--model ensemble] [--threads 1] [--batch 64] [--faces 2048]

Parameters and multiply-accumulates (MACs; FLOPs = 2·MACs) are counted on the torch modules with
the hook counter of ``fiqa_plugin/training/flops.py`` (conv + linear layers) at the
shipped model's input size and at the paper's 600×416. Speed: the shipped ONNX (every TTA view,
both members) through ``OnnxQualityModel`` — resize and normalisation included — against the
``buffalo_sc`` recognizer (w600k_mbf) and the shipped tinyFQnet, on the same in-memory aligned LFW
crops, in the same run, interleaved repeats, medians. Prints markdown tables.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from tinyfqnet_speed import faces_per_s, real_crops


def cost_table(views, size: int) -> str:
    import torch

    from fiqa_plugin.training.flops import count_macs, count_parameters
    from fiqa_plugin.training.ensemble.mobilenetv3 import MobileNetV3Small
    from fiqa_plugin.training.ensemble.model import MEMBERS, EnsembleQuality, QualityMember
    from fiqa_plugin.training.ensemble.shufflenetv2 import ShuffleNetV2

    torch.set_num_threads(1)
    members = [QualityMember(m).eval() for m in MEMBERS]
    models = [(f"{m.name} (quality head)", m, 1) for m in members]
    models += [("ensemble, 1 view", EnsembleQuality(members, ("identity",)), 1),
               (f"ensemble, {len(views)} views ({', '.join(views)})", EnsembleQuality(members, views), len(views))]
    models += [("mobilenet_v3_small ImageNet classifier (reference)", MobileNetV3Small(1000), 1),
               ("shufflenet_v2_x1_0 ImageNet classifier (reference)", ShuffleNetV2(1000), 1)]
    lines = [f"| model | parameters | MMACs/face {size}×{size} | GFLOPs/face {size}×{size} | GFLOPs/face 600×416 |",
             "|---|---|---|---|---|"]
    for name, m, _ in models:
        small = count_macs(m, (1, 3, size, size))["macs"]
        big = count_macs(m, (1, 3, 600, 416))["macs"]
        lines.append(f"| {name} | {count_parameters(m, trainable_only=False):,} | {small / 1e6:.1f} | {2 * small / 1e9:.4f} | {2 * big / 1e9:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ensemble", help="quality method name (default: the shipped default ensemble)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--faces", type=int, default=2048, help="faces timed per quality model")
    ap.add_argument("--rec-faces", type=int, default=1024, help="faces timed for the recognizer")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)

    from fiqa_plugin.plugins import QUALITY_METHODS, RECOGNIZERS

    ens = QUALITY_METHODS.create(a.model, threads=a.threads, batch_size=a.batch)
    cfg = ens.config
    print(f"### Size and compute ({cfg.name}: input {cfg.input_size}×{cfg.input_size}, ONNX "
          f"{cfg.model_path.stat().st_size:,} bytes)\n")
    print(cost_table(cfg.extra.get("views", ["identity", "hflip", "vflip"]), cfg.input_size))
    print("\nMACs count conv and linear layers (no BatchNorm, activations, pooling); FLOPs = 2·MACs.\n")

    crops = real_crops(64)
    tiny = QUALITY_METHODS.create("tinyfqnet", threads=a.threads, batch_size=a.batch)
    rec = RECOGNIZERS.create("buffalo_sc", threads=a.threads, batch_size=a.batch)
    runs = {cfg.name: [], tiny.name: [], "buffalo_sc recognizer (w600k_mbf)": []}
    for _ in range(a.repeats):  # interleaved: the machine is shared, one timing can catch a busy moment
        runs[cfg.name].append(faces_per_s(ens.score_crops, crops, a.faces, a.batch))
        runs[tiny.name].append(faces_per_s(tiny.score_crops, crops, a.faces, a.batch))
        runs["buffalo_sc recognizer (w600k_mbf)"].append(faces_per_s(rec.embed, crops, a.rec_faces, a.batch))
    rec_fps = float(np.median(runs["buffalo_sc recognizer (w600k_mbf)"]))
    print(f"### CPU speed (onnxruntime, {a.threads} thread(s), batch {a.batch}, aligned 112×112 LFW crops)\n")
    print("| model | faces/s (median) | runs | × recognizer speed |\n|---|---|---|---|")
    for name, xs in runs.items():
        med = float(np.median(xs))
        print(f"| {name} | {med:,.0f} | {', '.join(f'{x:,.0f}' for x in xs)} | {med / rec_fps:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
