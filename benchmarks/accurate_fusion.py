"""The accurate tier as two shipped heads on one recognizer pass, fused: ``fused-heads.<tag>``.

    python benchmarks/accurate_fusion.py --tag celeba2-r1 [--sdd sdd-regressor.celeba2-r1]
                                         [--head embedding-head.celeba2-r1] [--weight 0.5]

The SDD regressor (a fine-tuned copy of buffalo_sc's last stage: spatial, level with LightQNet on turned
heads) and the embedding head (a ridge read-out of the pooled stage input and the embedding: ahead on
synthetic edits) fail in different places on the validation protocol (``benchmarks/accurate_tier.py``
with ``--references``, clean and ``--edited`` views). Both read the same recognizer tensors, so one graph
runs both and returns ``weight · z(sdd) + (1 − weight) · z(head)``, each output standardised with the mean
and standard deviation of its calibration table (its raw scores on the reference population of
:mod:`fiqa_plugin.quality.calibration`, not the validation faces). The graph is composed with the
recognizer at load time like its two parts (``compose`` in the JSON), so quality and embedding still
come from one pass. ``--weight`` 0.5 was chosen among 0.3 / 0.5 / 0.7 on the validation protocol.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "fiqa_plugin" / "weights"
log = logging.getLogger("fiqa.benchmarks")


def z_constants(name: str) -> tuple:
    """Mean and standard deviation of a shipped model's raw scores on the calibration reference population."""
    q = np.asarray(json.loads((WEIGHTS / "calibration" / f"{name}.json").read_text())["quantiles"], np.float64)
    return float(q.mean()), float(q.std())


def fused_graph(sdd: str, head: str, weight: float):
    """One ONNX model: inputs ``features`` (the recognizer's tensor both read) and ``embedding``; output
    ``quality`` = ``weight · z(sdd) + (1 − weight) · z(head)``."""
    import onnx
    from onnx import TensorProto, helper

    parts = {"s_": onnx.load(str(WEIGHTS / f"{sdd}.onnx")), "h_": onnx.load(str(WEIGHTS / f"{head}.onnx"))}
    opsets = {max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) for m in parts.values()}
    if len(opsets) != 1:
        raise SystemExit(f"the two heads use different opsets {opsets}; export them with one")
    feats = parts["h_"].graph.input[0]  # [batch, C, 7, 7]
    emb = parts["h_"].graph.input[1]
    nodes, inits = [], []
    for prefix, m in parts.items():
        m = onnx.compose.add_prefix(m, prefix)
        for i in m.graph.input:
            nodes.append(helper.make_node("Identity", [i.name[len(prefix):]], [i.name]))
        nodes.extend(m.graph.node)
        inits.extend(m.graph.initializer)
    terms = []
    for prefix, name, w in (("s_", sdd, weight), ("h_", head, 1.0 - weight)):
        mu, sd = z_constants(name)
        out = parts[prefix].graph.output[0].name
        c = [helper.make_tensor(f"{prefix}fuse_{k}", TensorProto.FLOAT, [], [v]) for k, v in (("mu", mu), ("sd", sd), ("w", w))]
        inits.extend(c)
        nodes += [helper.make_node("Sub", [prefix + out, f"{prefix}fuse_mu"], [f"{prefix}fuse_c"]),
                  helper.make_node("Div", [f"{prefix}fuse_c", f"{prefix}fuse_sd"], [f"{prefix}fuse_z"]),
                  helper.make_node("Mul", [f"{prefix}fuse_z", f"{prefix}fuse_w"], [f"{prefix}fuse_t"])]
        terms.append(f"{prefix}fuse_t")
    nodes.append(helper.make_node("Add", terms, ["quality"]))
    graph = helper.make_graph(nodes, "fused_heads", [feats, emb],
                              [helper.make_tensor_value_info("quality", TensorProto.FLOAT, ["batch", 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opsets.pop())],
                              producer_name="fiqa-plugin benchmarks/accurate_fusion.py")
    model.ir_version = max(m.ir_version for m in parts.values())
    onnx.checker.check_model(model)
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sdd", default="sdd-regressor.celeba2-r1")
    ap.add_argument("--head", default="embedding-head.celeba2-r1")
    ap.add_argument("--weight", type=float, default=0.5, help="share of the SDD regressor's standardised score")
    ap.add_argument("--tag", default="celeba2-r1")
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import onnx

    from fiqa_plugin.training.export import write_config

    stem = f"fused-heads.{args.tag}"
    onnx.save(fused_graph(args.sdd, args.head, args.weight), str(args.out / f"{stem}.onnx"))
    cfgs = {n: json.loads((WEIGHTS / f"{n}.json").read_text()) for n in (args.sdd, args.head)}
    inputs = {**cfgs[args.sdd]["compose"]["inputs"], **cfgs[args.head]["compose"]["inputs"]}
    rec_file = cfgs[args.head]["compose"]["recognizer_file"]
    if cfgs[args.sdd]["compose"]["recognizer_file"] != rec_file:
        raise SystemExit("the two heads were trained on different recognizer files")
    write_config(args.out / f"{stem}.json", "fused-heads", args.tag, f"{stem}.onnx", 112, 127.5, 127.5,
                 f"accurate tier: {args.weight:g}·z({args.sdd}) + {1 - args.weight:g}·z({args.head}) in one graph; "
                 "composed with buffalo_sc", True,
                 {"parts": [args.sdd, args.head], "weight": args.weight,
                  "standardisation": {n: dict(zip(("mean", "std"), z_constants(n))) for n in (args.sdd, args.head)},
                  "recognizer": "buffalo_sc",
                  "command": "python benchmarks/accurate_fusion.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "license": cfgs[args.head].get("license", "")},
                 score_range=(-4.0, 4.0), batch_size=64,
                 compose={"recognizer": "buffalo_sc", "recognizer_file": rec_file, "inputs": inputs})
    log.info("wrote %s", args.out / f"{stem}.onnx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
