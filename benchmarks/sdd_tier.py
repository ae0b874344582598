"""The SDD-FIQA regressor retrained on the pre-aligned faces, each epoch judged on the validation protocol.

    python benchmarks/sdd_tier.py --labels sdd --copies 1 --epochs 4 --seeds 0 --out runs/sdd-aligned
    python benchmarks/sdd_tier.py --labels ridge:cos+cr-both --copies 1 --epochs 4 --seeds 0 --out runs/sdd-ridge
    python benchmarks/sdd_tier.py --export fiqa_plugin/weights --run runs/sdd-aligned --tag celeba2-r1 \\
        [--default] [--card-tables RESULTS.md]

Training samples: the ``celeba_aligned`` faces outside the validation identities
(``benchmarks/protocols/celeba_val_identities.txt``), fed as the ArcFace-aligned 112×112 crops they
are (no detection), clean plus ``--copies`` degraded copies (``v2``, seed 0: the copies
``benchmarks/accurate_features.py`` caches). Each crop goes once through ``buffalo_sc``'s frozen
prefix (:func:`fiqa_plugin.training.sdd_regressor.prefix_features`; cached in chunks under
``$FIQA_CACHE/training/``). Labels, either

* ``--labels sdd``: SDD-FIQA Eq. 7–10 (exact: every pair among the samples, buffalo_sc unit
  embeddings, identities = CelebA identities), ``[0, 100]`` — the paper's labels; or
* ``--labels ridge:RECIPE``: 100 × the percentile ranks of the out-of-fold ridge scores of
  ``benchmarks/tiny_tier.py``'s teacher (``RECIPE`` of ``benchmarks/accurate_tier.py``).

The model (buffalo_sc's last stage fine-tuned + Dropout(0.5) + FC, Huber ζ = 1, Adam; the paper's
recipe, :func:`fiqa_plugin.training.sdd_regressor.train_sdd_regressor`) is trained once per seed
(``--seeds``: each its own held-out identities inside the trainer); after every epoch it is judged on
the validation protocol (EDC pAUC, FMR=1e-3, discard [0, 0.3], ``buffalo_sc`` and
``mobilefacenet-128d``) and the epoch with the lowest mean of the two is kept per seed
(``seed-S/best-val.pt``; ``selection.json`` has every epoch's numbers and the mean of the kept
members). LFW plays no part. ``--export`` writes the mean of the kept members as
``sdd-regressor.<tag>.onnx/.json`` (+ ``.md`` when ``--card-tables`` gives the card's result tables).
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

import accurate_features as AF
import accurate_tier as AT
import tiny_tier as TT
import validation as V

log = logging.getLogger("fiqa.benchmarks")
LICENSE = "non-commercial research only: fine-tuned from InsightFace buffalo_sc weights, trained on CelebA images"


def feature_runner(threads: int):
    """Crops → ``{"features": [N, C, 7, 7] float16 (the cut), "embedding": [N, d] raw}``; also the recognizer
    path and its split."""
    import onnx

    from fiqa_plugin.plugins import RECOGNIZERS
    from fiqa_plugin.training.sdd_regressor import find_split, prefix_features

    path = RECOGNIZERS.create("buffalo_sc", threads=1).model_path
    split = find_split(onnx.load(path))

    def run(crops: np.ndarray) -> Dict[str, np.ndarray]:
        f, e = prefix_features(path, split, crops, threads)
        return {"features": f, "embedding": e}

    return run, path, split


def training_features(copies: int, threads: int) -> Dict[str, np.ndarray]:
    """Cut features, raw embeddings, identities, source face and copy number (−1 = clean) of every sample,
    in ``accurate_features.load``'s order."""
    from fiqa_plugin.training.aligned import aligned_faces, recognizer_outputs
    from fiqa_plugin.training.data import v2_copy

    faces = aligned_faces(V.data_root(), exclude=V.read_protocol())
    run, path, _ = feature_runner(threads)
    parts = []
    for c in range(-1, copies):
        crops = faces.crops if c < 0 else v2_copy(faces, 0, c)[0]
        cb = lambda d, t, _c=c: log.info("sdd features copy %d: %d/%d", _c, d, t)  # noqa: E731
        parts.append(recognizer_outputs("aligned-sddfeat-buffalo_sc", crops, run,
                                        ["aligned-sddfeat-v1", [str(p) for p in faces.paths], str(path), "v2", 0, c],
                                        progress=cb))
    n = len(faces.crops)
    return {"features": np.concatenate([p["features"] for p in parts]),
            "embedding": np.concatenate([p["embedding"] for p in parts]),
            "identities": np.tile(faces.identities, len(parts)).astype(np.int64),
            "source": np.tile(np.arange(n), len(parts)), "copy": np.repeat(np.arange(-1, copies), n)}


def validation_features(threads: int) -> np.ndarray:
    """Cut features of the validation faces (``validation.load_set`` order), cached."""
    from fiqa_plugin.training.aligned import recognizer_outputs

    _, fc, _ = V.load_set()
    run, path, _ = feature_runner(threads)
    return recognizer_outputs("aligned-val-sddfeat-buffalo_sc", fc.crops, run,
                              ["aligned-val-sddfeat-v1", fc.rel, str(path)])["features"]


def make_labels(spec: str, t: Dict[str, np.ndarray], copies: int, threads: int) -> Tuple[np.ndarray, str]:
    """Training targets on ``[0, 100]`` and a sentence saying what they are."""
    if spec == "sdd":
        from fiqa_plugin.labelers.sdd import sdd_labels

        y = sdd_labels(AT.unit(t["embedding"]), t["identities"], mode="exact", wd_backend="numpy")
        return y, "SDD labels (Eq. 7-10, exact, buffalo_sc, [0,100])"
    if spec.startswith("ridge:"):
        a = AF.load(copies, threads)
        if not (np.array_equal(a["identities"], t["identities"]) and np.array_equal(a["copy"], t["copy"])):
            raise SystemExit("accurate_features.load and the SDD features list the samples differently")
        q, _ = TT.ridge_teacher(a, spec.split(":", 1)[1])
        return 100.0 * AT.pct_rank(q), f"100 x percentile ranks of out-of-fold ridge scores ({spec})"
    raise SystemExit(f"--labels: sdd or ridge:RECIPE, not {spec!r}")


def run_training(args) -> int:
    import torch

    from fiqa_plugin.training.sdd_regressor import SDDRegressor, SDDTrainConfig, predict, train_sdd_regressor

    torch.set_num_threads(args.threads)
    t = training_features(args.copies, args.threads)
    val_feats = validation_features(args.threads)
    vs, _, sims = TT.val_sims()
    y, label_desc = make_labels(args.labels, t, args.copies, args.threads)
    keep = np.isfinite(y)
    if args.clean_only_labels:
        keep &= t["copy"] < 0
    y = np.where(keep, y, np.nan)
    log.info("training samples: %d (%d clean), %s", int(keep.sum()), int((keep & (t["copy"] < 0)).sum()), label_desc)
    _, path, split = feature_runner(1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "command.txt").write_text("python benchmarks/sdd_tier.py " + " ".join(shlex.quote(x) for x in args.argv) + "\n")
    sel_path = args.out / "selection.json"
    sel = json.loads(sel_path.read_text()) if sel_path.exists() else {}
    sel.update(args={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, labels=label_desc,
               n_samples=int(keep.sum()), n_clean=int((keep & (t["copy"] < 0)).sum()), split=split.__dict__)
    sel.setdefault("members", {})
    for seed in args.seeds:
        out = args.out / f"seed-{seed}"
        m = sel["members"].setdefault(str(seed), {"epochs": [], "score": float("inf")})
        cfg = SDDTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                             val_fraction=args.val_fraction, seed=seed, threads=args.threads, cut=split.cut)
        t0 = time.time()

        def on_epoch(epoch, rec, out=out, m=m, cfg=cfg):
            # the trainer has just written this epoch's last.pt: judge it on the validation protocol (building a
            # model draws from torch's generator: put it back, so the next epoch's dropout masks do not depend on this)
            rng_state = torch.get_rng_state()
            model = SDDRegressor(str(path), split, t["features"].shape[1:], cfg.dropout)
            model.load_state_dict(torch.load(out / "last.pt", weights_only=True)["model"])
            p = TT.val_paucs(predict(model, val_feats).astype(np.float64), vs, sims)
            score = (p["bsc@0.3"] + p["mfn@0.3"]) / 2
            m["epochs"] = [e for e in m["epochs"] if e["epoch"] < epoch] + [
                {"epoch": epoch, "score": score, **p, **{k: rec[k] for k in ("train_huber", "val_srcc")},
                 "minutes": (time.time() - t0) / 60}]
            log.info("seed %d epoch %d validation protocol: %s (mean @0.3 %.5f)", seed, epoch,
                     {k: round(v, 5) for k, v in p.items()}, score)
            if score < m["score"]:
                m.update(score=score, epoch=epoch, paucs=p)
                torch.save(model.state_dict(), out / "best-val.pt")
            sel_path.write_text(json.dumps(sel, indent=1, default=float) + "\n")
            torch.set_rng_state(rng_state)

        train_sdd_regressor(t["features"], y, t["identities"], path, split, cfg, out, resume=True,
                            on_epoch_end=on_epoch)
    members = [load_member(args.out, s, path, split, t["features"].shape[1:]) for s in args.seeds]
    from fiqa_plugin.training.sdd_regressor import MeanRegressor

    sel["mean"] = TT.val_paucs(predict(MeanRegressor(members), val_feats).astype(np.float64), vs, sims)
    sel["mean_of"] = list(args.seeds)
    sel_path.write_text(json.dumps(sel, indent=1, default=float) + "\n")
    print(json.dumps({"members": {s: (m.get("epoch"), m.get("paucs")) for s, m in sel["members"].items()},
                      "mean": sel["mean"]}, default=float))
    return 0


def load_member(run: Path, seed: int, path, split, shape):
    import torch

    from fiqa_plugin.training.sdd_regressor import SDDRegressor

    model = SDDRegressor(str(path), split, shape)
    model.load_state_dict(torch.load(run / f"seed-{seed}" / "best-val.pt", weights_only=True))
    return model.eval()


def run_export(args) -> int:
    """The mean of the kept members of ``--run`` as ``sdd-regressor.<tag>`` (ONNX + config, card with tables)."""
    import torch

    from fiqa_plugin.quality.onnx_model import OnnxQualityModel
    from fiqa_plugin.training.export import write_card
    from fiqa_plugin.training.regressors import export_regressor
    from fiqa_plugin.training.sdd_regressor import MeanRegressor, predict

    sel = json.loads((args.run / "selection.json").read_text())
    seeds = [int(s) for s in sel["mean_of"]]
    run_, path, split = feature_runner(1)
    val_feats = validation_features(1)
    members = [load_member(args.run, s, path, split, val_feats.shape[1:]) for s in seeds]
    model = MeanRegressor(members) if len(members) > 1 else members[0]
    model.eval()
    summary = (f"SDD-FIQA regressor (Ou et al.): buffalo_sc's last stage fine-tuned on {sel['labels']} of celeba_aligned"
               + (f", mean of {len(seeds)} seeds" if len(seeds) > 1 else "") + "; composed with buffalo_sc")
    kept = [sel["members"][str(s)]["epoch"] for s in seeds]
    paths = export_regressor(model, args.export, "sdd-regressor", args.tag, "buffalo_sc", Path(path).name, "features",
                             split.cut, torch.zeros(2, *val_feats.shape[1:]), summary, (0.0, 100.0),
                             {"labels": sel["labels"], "recognizer": "buffalo_sc", "seeds": seeds, "member_epochs": kept,
                              "training_data": "celeba_aligned minus benchmarks/protocols/celeba_val_identities.txt",
                              "validation_pauc_fmr1e-3": sel["mean"], "license": LICENSE}, default=args.default)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    got = np.concatenate([sess.run(None, {"features": val_feats[s : s + 64].astype(np.float32)})[0].reshape(-1)
                          for s in range(0, 256, 64)])
    parity = float(np.abs(got - predict(model, val_feats[:256])).max())
    _, fc, _ = V.load_set()
    q = OnnxQualityModel.from_config(paths["json"], threads=2).score_crops(fc.crops)
    vs, _, sims = TT.val_sims()
    p = TT.val_paucs(np.asarray(q, np.float64), vs, sims)
    size = paths["onnx"].stat().st_size
    print(f"exported sdd-regressor.{args.tag}: {paths['onnx']} ({size:,} bytes); parity {parity:.2e}; "
          f"validation protocol of the composed ONNX model: {p} (torch at selection: {sel['mean']})")
    if not args.card_tables:
        return 0
    cmd = (args.run / "command.txt").read_text().strip()
    r = sel["args"]
    rows = "\n".join(f"| {s} | {e['epoch']} | {e['train_huber']:.4f} | {e['val_srcc']:.4f} | {e['bsc@0.2']:.4f} | "
                     f"{e['bsc@0.3']:.4f} | {e['mfn@0.2']:.4f} | {e['mfn@0.3']:.4f} |"
                     for s in seeds for e in sel["members"][str(s)]["epochs"])
    name = f"sdd-regressor.{args.tag}"
    reg = (f"Registered as `{name}` and, as its architecture's default (`\"default\": true`), as `sdd-regressor`."
           if args.default else f"Registered as `{name}` only (`\"default\": false`).")
    labels = ("SDD-FIQA Eq. 7–10 (`fiqa_plugin/labelers/sdd.py`): per sample, the signed Wasserstein-1 distance between "
              "its genuine and impostor cosine-similarity distributions (buffalo_sc unit embeddings), exact mode (every "
              "pair among the training samples; identities = CelebA identities"
              + ("; a degraded copy is a genuine of its own clean face and of the identity's other faces" if r["copies"]
                 else "") + "), min-max normalised to [0, 100] (Eq. 9); faces whose identity has no other face get no "
              "label and are left out."
              if r["labels"] == "sdd" else
              f"Distilled: 100 × the percentile ranks of the out-of-fold scores of `benchmarks/tiny_tier.py`'s ridge "
              f"teacher (`--teacher {r['labels']}`: a ridge regression on buffalo_sc's pooled last-stage input and raw "
              "embedding, 5 folds of whole identities, each sample scored by a ridge that never saw its identity), "
              f"fitted to the leave-one-out labels of recipe `{r['labels'].split(':', 1)[1]}` of "
              "`benchmarks/accurate_tier.py` (cosine to the own identity centre and certainty ratio, from buffalo_sc "
              "and mobilefacenet-128d, fused as the mean of percentile ranks).")
    write_card(paths["md"], name, [
        ("What it is", f"An SDD-FIQA quality regressor (Ou et al., CVPR 2021): `buffalo_sc`'s last 7×7 stage (tensor "
                       f"`{split.cut}` → `{split.backbone_out}`, initialised from the recognizer and fine-tuned) + "
                       "Dropout(0.5) + Linear(3136, 1), output on [0, 100], higher = better for recognition"
                       + (f"; {len(seeds)} members (seeds {', '.join(map(str, seeds))}) shipped as the mean of their "
                          "outputs in one graph" if len(seeds) > 1 else "") + ". The ONNX file holds only the "
                       f"fine-tuned stage and head (input `features` = tensor `{split.cut}`, {size:,} bytes); the JSON's "
                       "`compose` entry wires it to the user's `w600k_mbf.onnx` at load time "
                       "(`fiqa_plugin/quality/compose.py`), so one pass yields quality and embedding. " + reg
                       + " Licence: fine-tuned from InsightFace's `buffalo_sc` weights (non-commercial research)."),
        ("Data", "`../shared/data/celeba_aligned` (ArcFace-aligned 112×112 crops, used as they are: no detection) minus "
                 "the 200 validation identities of `benchmarks/protocols/celeba_val_identities.txt`; "
                 + (f"each face clean plus {r['copies']} degraded cop{'y' if r['copies'] == 1 else 'ies'} (profile v2, "
                    "seed 0, `fiqa_plugin.training.data.v2_copy`)" if r["copies"] else "the clean faces only")
                 + (", labels on the clean faces only" if r.get("clean_only_labels") else "")
                 + f" ({sel['n_samples']:,} labelled samples, {sel['n_clean']:,} clean). Each member holds out "
                 f"{r['val_fraction']:.0%} of the training identities (its own, by seed) for the trainer's SRCC "
                 "diagnostics only."),
        ("Labels", labels),
        ("Training", f"Per member (`fiqa_plugin.training.sdd_regressor.train_sdd_regressor`): Huber loss (ζ = 1), Adam "
                     f"lr {r['lr']:g}, weight decay {r['weight_decay']:g}, batch {r['batch_size']}, {r['epochs']} epochs, "
                     "1 torch thread; everything before the cut frozen (run once per crop and cached). After each epoch "
                     "the member is scored on the validation protocol (`benchmarks/validation.py`: 200 held-out CelebA "
                     "identities) and the epoch with the lowest mean pAUC (FMR=1e-3, [0, 0.3], both recognizers) is "
                     f"kept: epoch{'s' if len(kept) > 1 else ''} {', '.join(map(str, kept))}. max |torch − onnxruntime| "
                     f"on 256 validation faces: {parity:.2e}.\n\nReproduce:\n\n```\n{cmd}\npython benchmarks/sdd_tier.py "
                     f"--export {args.export} --run {args.run} --tag {args.tag}{' --default' if args.default else ''} "
                     "--card-tables RESULTS.md  # RESULTS.md: the Results section below\n```\n\nPer epoch (validation "
                     "protocol pAUC, FMR=1e-3, lower is better; SRCC on the member's own held-out training identities):"
                     "\n\n| seed | epoch | train Huber | held-out SRCC | buffalo_sc [0,0.2] | buffalo_sc [0,0.3] | "
                     f"mfn-128d [0,0.2] | mfn-128d [0,0.3] |\n|---|---:|---:|---:|---:|---:|---:|---:|\n{rows}\n\n"
                     + (f"Mean of the kept members: {TT.fmt(sel['mean'])}." if len(seeds) > 1 else "")),
        ("Results", Path(args.card_tables).read_text()),
        ("Limits", "Trained on about 12k CelebA faces of celebrities (mostly frontal); the labels come from the "
                   "recognizers and measure what they find hard, not what a person finds ugly."),
    ])
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", default="sdd", help="sdd (the paper's) or ridge:RECIPE (tiny_tier.py's teacher)")
    ap.add_argument("--clean-only-labels", action="store_true", help="train on the clean faces' labels only")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--export", type=Path, help="export the kept members of --run into this folder")
    ap.add_argument("--run", type=Path)
    ap.add_argument("--tag", default="celeba2-r1")
    ap.add_argument("--default", action="store_true", help="export as the architecture's default")
    ap.add_argument("--card-tables", help="markdown file with the card's result tables (validation protocol, LFW)")
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.export:
        return run_export(args)
    if args.out is None:
        ap.error("--out is required for training")
    return run_training(args)


if __name__ == "__main__":
    sys.exit(main())
