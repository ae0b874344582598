"""The ensemble (MobileNetV3-Small + ShuffleNetV2, Hamidi et al.) on the pre-aligned faces, with the tiny
tier's distilled labels, its epoch chosen on the validation protocol.

    python benchmarks/ensemble_tier.py --out runs/ens2 --members mobilenet_v3_small [--teacher ridge:cos+cr-both] [--epochs 6]
    python benchmarks/ensemble_tier.py --out runs/ens2 --members shufflenet_v2_x1_0 [...]   # side by side
    python benchmarks/ensemble_tier.py --out runs/ens2 --select [...]   # the same options; after both
    fiqa ensemble export runs/ens2 --tag celeba2-r1 --out-dir fiqa_plugin/weights

Training samples: the clean ``celeba_aligned`` faces outside the validation identities
(``benchmarks/protocols/celeba_val_identities.txt``), as the ArcFace-aligned crops they are (no
detection). Labels: ``--teacher`` as in ``benchmarks/tiny_tier.py`` (``ridge:RECIPE``: percentile ranks
of out-of-fold ridge scores on ``buffalo_sc``'s features, fitted to a leave-one-out label recipe of
``benchmarks/accurate_tier.py``), or ``--labels RECIPE`` (that recipe itself). They are written to
``<out>/labels.csv`` (``path,label,identity``), the CSV form ``fiqa ensemble train --labels … --aligned``
reads, and ``<out>/run.json`` points at it, so ``fiqa ensemble export`` works on the run as on any other.

Each member is trained by :func:`fiqa_plugin.training.ensemble.train.train_member` (the trainer of
``fiqa ensemble train``, unchanged); after each epoch the member (with its TTA views) is scored on the
validation protocol (its scores of the validation faces are kept), and ``--select``, once both members
are trained, scores the ensemble of their epoch-``e`` weights for every ``e`` (EDC pAUC, FMR=1e-3,
discard [0, 0.3], ``buffalo_sc`` and ``mobilefacenet-128d``). The epoch with the lowest mean of the two
is kept: each member's ``model.pt`` is that epoch's weights
(``selection.json`` has every epoch's numbers). LFW plays no part.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import shlex
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Dict

import numpy as np

import accurate_features as AF
import tiny_tier as TT

log = logging.getLogger("fiqa.benchmarks")


def write_labels(args, path: Path) -> str:
    """``path,label,identity`` of every clean training face (absolute paths); returns what the labels are."""
    a = AF.load(0, args.threads)
    ns = SimpleNamespace(teacher=args.teacher, labels=args.labels, input_size=112, yaw_oversample=1, yaw=30.0,
                         threads=args.threads)
    ts, faces = TT.training_set(ns, a)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "identity"])
        for s, y in zip(ts.source, ts.labels):
            w.writerow([faces.paths[s], f"{float(y):.6f}", faces.names[faces.identities[s]]])
    if args.teacher and args.teacher.startswith("ridge:"):
        what = (f"percentile ranks of out-of-fold ridge scores (5 identity folds, λ = 1000, buffalo_sc pooled "
                f"last-stage input + raw embedding) fitted to the leave-one-out `{args.teacher.split(':', 1)[1]}` "
                "labels (benchmarks/accurate_tier.py) of the clean celeba_aligned faces outside the validation "
                "identities")
    else:
        what = (f"leave-one-out `{args.labels}` labels (benchmarks/accurate_tier.py) of the clean celeba_aligned "
                "faces outside the validation identities")
    log.info("wrote %s (%d faces); teacher on the validation protocol: %s", path, len(ts.labels),
             getattr(ns, "teacher_val", None))
    return what


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--teacher", default="ridge:cos+cr-both", help="as benchmarks/tiny_tier.py; '' = --labels")
    ap.add_argument("--labels", default="cos+cr-both", help="label recipe when --teacher is ''")
    ap.add_argument("--members", nargs="+", default=None, help="train these members (one process per member can "
                                                              "share one --out, side by side)")
    ap.add_argument("--select", action="store_true", help="after every member is trained: score the ensemble of "
                                                          "each epoch, keep the best, write model.pt and results.json")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--input-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--val-fraction", type=float, default=0.05, help="identities held out inside the trainer "
                                                                      "(its SRCC diagnostics and the export's parity)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compare", nargs="+", default=["ensemble.celeba-r1", "lightqnet", "embedding-norm"],
                    help="--select: methods the kept epoch is compared with (bootstrap intervals of the differences)")
    ap.add_argument("--resamples", type=int, default=200)
    args = ap.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import torch

    from fiqa_plugin.training.ensemble.data import from_csv, split
    from fiqa_plugin.training.ensemble.model import MEMBERS, QualityMember
    from fiqa_plugin.training.ensemble.train import (EnsembleConfig, _merge_config, ablation, load_members,
                                                     train_member, view_scores)
    from fiqa_plugin.training.data import resize_crops

    torch.set_num_threads(args.threads)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "labels.csv"
    cmd = "python benchmarks/ensemble_tier.py " + " ".join(shlex.quote(x) for x in argv)
    if not csv_path.exists():
        (out / "labels.txt").write_text(write_labels(args, csv_path) + "\n")
    source = (out / "labels.txt").read_text().strip()
    data = from_csv(csv_path, aligned=True)
    data.source = source
    n_samples = int(len(data.labels))
    cfg = EnsembleConfig(members=args.members or MEMBERS, input_size=args.input_size, epochs=args.epochs,
                         alpha=args.alpha, lr=args.lr, val_fraction=args.val_fraction, seed=args.seed,
                         threads=args.threads)
    data = data.resized(cfg.input_size)
    tr, val = split(data, cfg.val_fraction, cfg.seed)
    vs, fc, sims = TT.val_sims()
    val_crops = resize_crops(fc.crops, cfg.input_size)

    if not args.select:
        _merge_config(out / "config.json", cfg)
        for member in cfg.members:
            (out / member).mkdir(exist_ok=True)
            (out / member / "command.txt").write_text(cmd + "\n")
            prot_path = out / member / "protocol.json"
            prot: Dict = json.loads(prot_path.read_text()) if prot_path.exists() else {}
            t0 = time.time()

            def on_epoch(epoch: int, rec: Dict, member=member, prot=prot, prot_path=prot_path, t0=t0) -> None:
                # train_member has just written this epoch's last.pt: keep its weights and validation-face scores
                state = torch.load(out / member / "last.pt", weights_only=True)["model"]
                torch.save(state, out / member / f"epoch{epoch}.pt")
                m = QualityMember(member, cfg.dropout)
                m.load_state_dict(state)
                q = view_scores(m.eval(), val_crops, cfg.views, cfg.mean, cfg.std).mean(0).astype(np.float64)
                np.save(out / member / f"epoch{epoch}_val.npy", q)
                p = TT.val_paucs(q, vs, sims)
                prot[str(epoch)] = {**p, "val_srcc": rec.get("val_srcc"), "train_loss": rec["train_loss"],
                                    "minutes": (time.time() - t0) / 60}
                log.info("%s epoch %d validation protocol: %s", member, epoch, {k: round(v, 5) for k, v in p.items()})
                prot_path.write_text(json.dumps(prot, indent=1) + "\n")

            train_member(data, tr, val, cfg, member, out, resume=True, progress=False, on_epoch_end=on_epoch)
        return 0

    # --select: the ensemble of every member's epoch-e weights (TTA, as exported); keep the best epoch
    members = [m for m in MEMBERS if (out / m / "protocol.json").exists()]
    cfg = EnsembleConfig(**json.loads((out / "config.json").read_text()))
    sel: Dict = {"members": {m: json.loads((out / m / "protocol.json").read_text()) for m in members}, "ensemble": {}}
    best = (np.inf, None)
    for e in range(1, cfg.epochs + 1):
        if not all((out / m / f"epoch{e}_val.npy").exists() for m in members):
            raise SystemExit(f"epoch {e} is missing for some member: finish training first")
        p = TT.val_paucs(np.mean([np.load(out / m / f"epoch{e}_val.npy") for m in members], 0), vs, sims)
        score = (p["bsc@0.3"] + p["mfn@0.3"]) / 2
        sel["ensemble"][str(e)] = {**p, "score": score}
        log.info("ensemble epoch %d validation protocol: %s (mean @0.3 %.5f)", e, {k: round(v, 5) for k, v in p.items()}, score)
        if score < best[0]:
            best = (score, e)
    sel["epoch"] = best[1]
    for m in members:
        torch.save(torch.load(out / m / f"epoch{best[1]}.pt", weights_only=True), out / m / "model.pt")
    (out / "selection.json").write_text(json.dumps(sel, indent=1) + "\n")
    commands = [(out / m / "command.txt").read_text().strip() for m in members] + [cmd]
    (out / "run.json").write_text(json.dumps({
        "command": " && ".join(commands), "commands": commands,
        "data": {"root": None, "labels": str(csv_path.resolve()), "aligned": True, "degrade_copies": 0,
                 "seed": args.seed, "pack": "buffalo_sc", "recognizer": "buffalo_sc"},
        "source": source, "samples": n_samples}, indent=2) + "\n")
    _, trained = load_members(out)
    results = {"held_out": int(len(val)), "train": int(len(tr)), "members": list(trained), "epoch": best[1],
               "ablation": ablation(trained, data, val, cfg.views, cfg.mean, cfg.std),
               "backbone_weights": {m: "none (trained from scratch)" for m in trained}}
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({"epoch": best[1], "ensemble": sel["ensemble"][str(best[1])]}))
    q = np.mean([np.load(out / m / f"epoch{best[1]}_val.npy") for m in members], 0)
    print(compare(f"{out.name} (epoch {best[1]})", q, vs, fc, sims, args.compare, args.resamples))
    return 0


def compare(name: str, q: np.ndarray, vs, fc, sims, refs, resamples: int) -> str:
    """The kept epoch's validation-protocol table beside ``refs`` (pAUC with 95% bootstrap intervals and the
    paired Δ to each reference, as ``benchmarks/validation.py`` prints it), all pairs, both recognizers."""
    import lfw_bootstrap as B
    import validation as V
    from fiqa_plugin.evaluation import harness as C
    from fiqa_plugin.evaluation import pair_quality

    with C.using_cache(V.CACHE):
        qs, _ = C.score_methods(fc, vs, list(refs), show=False)
    qs = {name: q, **qs}
    a, b = vs.pairs[:, 0], vs.pairs[:, 1]
    pq = {k: pair_quality(v[a], v[b]) for k, v in qs.items()}
    parts = []
    for rec, s in sims.items():
        full = {lim: {k: TT.val_paucs(v, vs, {rec: s})[f"{TT.AT.SHORT[rec]}@{lim}"] for k, v in qs.items()}
                for lim in V.LIMITS}
        boot = B.bootstrap_paucs(s, vs.genuine, pq, resamples, V.LIMITS, 1e-3, seed=V.SEED, show=False)
        parts.append(f"#### {rec}, all pairs\n\n{V.ci_table(full, boot, refs)}\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
