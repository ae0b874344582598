"""Hamidi et al. Table 2 on our data: each backbone alone, the ensemble, + correlation loss, + TTA.

    python benchmarks/ensemble_ablation.py --mse-run RUN_MSE --corr-run RUN_CORR [--threads 1]

Both run folders come from ``fiqa ensemble train`` with the same options except ``--alpha``
(``0`` = plain MSE, ``1`` = MSE + (1 − Pearson)); every model is evaluated here, in torch,
on the run's held-out split (whole identities held out), once on all held-out samples and once on
the clean (undegraded) ones. Prints markdown tables; the score is (SRCC + PLCC) / 2, the VQualA
challenge's final score.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def evaluate(run: Path, threads: int):
    import torch

    from fiqa_plugin.cli.ensemble import _load_data
    from fiqa_plugin.training.ensemble.data import split
    from fiqa_plugin.training.ensemble.train import ablation, load_members

    torch.set_num_threads(threads)
    meta = json.loads((run / "run.json").read_text())
    cfg, members = load_members(run)
    data = _load_data(meta["data"], threads).resized(cfg.input_size)
    _, val = split(data, cfg.val_fraction, cfg.seed)
    clean = val[data.degradation[val] == ""]
    return cfg, meta, {"all": ablation(members, data, val, cfg.views, cfg.mean, cfg.std),
                       "clean": ablation(members, data, clean, cfg.views, cfg.mean, cfg.std)}, len(val), len(clean)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mse-run", type=Path, required=True, help="run trained with --alpha 0")
    ap.add_argument("--corr-run", type=Path, required=True, help="run trained with --alpha > 0")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    cfg_m, meta_m, mse, n_all, n_clean = evaluate(a.mse_run, a.threads)
    cfg_c, meta_c, corr, _, _ = evaluate(a.corr_run, a.threads)
    if cfg_m.alpha != 0 or cfg_c.alpha == 0:
        raise SystemExit(f"--mse-run needs alpha 0 (has {cfg_m.alpha}), --corr-run alpha > 0 (has {cfg_c.alpha})")
    mb, sh = "mobilenet_v3_small", "shufflenet_v2_x1_0"
    tta = f"{len(cfg_c.views)} views ({', '.join(cfg_c.views)})"
    rows = [  # (row, loss, TTA, results, key)
        ("MobileNetV3-Small", "MSE", "no", mse, mb), ("ShuffleNetV2 x1.0", "MSE", "no", mse, sh),
        ("Ensemble", "MSE", "no", mse, "ensemble"),
        ("+ correlation loss", f"MSE + {cfg_c.alpha:g}·(1 − r)", "no", corr, "ensemble"),
        ("+ TTA", f"MSE + {cfg_c.alpha:g}·(1 − r)", tta, corr, "ensemble + TTA"),
    ]
    extra = [("MobileNetV3-Small", "MSE + corr", "no", corr, mb), ("ShuffleNetV2 x1.0", "MSE + corr", "no", corr, sh),
             ("MobileNetV3-Small", "MSE + corr", "yes", corr, f"{mb} + TTA"),
             ("ShuffleNetV2 x1.0", "MSE + corr", "yes", corr, f"{sh} + TTA"), ("Ensemble", "MSE", "yes", mse, "ensemble + TTA")]
    init = "from scratch" if not (cfg_m.backbone_weights or cfg_c.backbone_weights) else "ImageNet backbones"
    print(f"Held-out: {n_all} samples ({n_clean} clean) of whole identities; {cfg_c.input_size}×{cfg_c.input_size} input, "
          f"{cfg_m.epochs} (MSE) / {cfg_c.epochs} (corr) epochs, backbones {init}.\n")
    print(f"MSE run: `{meta_m.get('command', '')}`; corr run: `{meta_c.get('command', '')}`\n")
    for title, table in (("Table 2 (paper rows)", rows), ("Other combinations", extra)):
        print(f"### {title}\n")
        print("| model | loss | TTA | SRCC | PLCC | (SRCC+PLCC)/2 | clean SRCC | clean PLCC | clean (SRCC+PLCC)/2 |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, loss, t, res, key in table:
            c, k = res["all"][key], res["clean"][key]
            print(f"| {name} | {loss} | {t} | {c['srcc']:.4f} | {c['plcc']:.4f} | {c['score']:.4f} | "
                  f"{k['srcc']:.4f} | {k['plcc']:.4f} | {k['score']:.4f} |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
