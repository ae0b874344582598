"""FiftyOne adapter: train a quality regressor (tinyFQnet) from a label field and install it as a user model.

The samples' largest faces are aligned, resized to the model's input and regressed on ``label_field``
with :func:`fiqa_plugin.training.train.train` (checkpoint every epoch: a restarted job resumes). The
result is exported to ``<models_dir>/<arch>.<tag>.onnx`` + ``.json`` + ``.md``
(:func:`fiqa_plugin.paths.user_models_dir`) and registered, so ``load_model("<arch>.<tag>")`` and
``apply_model`` work at once. Needs the ``train`` extra (torch).
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any, Dict, Optional

import fiftyone as fo
import numpy as np

from ..faces.dataset import largest_faces
from .fiftyone_labels import group_labels
from ..errors import ModelError, UsageError
from ..progress import Progress

log = logging.getLogger(__name__)



def crop_architectures() -> list:
    """Architectures this operator can train: the registry's crop regressors."""
    from ..training.architectures import names

    return names(trainer="crop")


def _crops(samples: fo.core.collections.SampleCollection, ids: list, paths: list, run_dir: Path, pack: str,
           progress: Optional[Progress]) -> tuple:
    """Aligned crops of the samples, cached in ``run_dir/crops.npz`` (a restarted job re-detects nothing)."""
    from ..faces.pipeline import FacePipeline

    cache = run_dir / "crops.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if list(z["ids"]) == ids:
                return z["crops"], z["ok"]
    pipe = FacePipeline.from_pack(pack, mode="largest")
    crops = np.zeros((len(ids), 112, 112, 3), np.uint8)
    ok = np.zeros(len(ids), bool)
    for i in range(0, len(ids), 32):
        for k, (f, _) in enumerate(largest_faces(paths[i : i + 32], pipe)):
            if f is not None:
                crops[i + k], ok[i + k] = f.aligned, True
        if progress:
            progress(min(i + 32, len(ids)), len(ids))
    np.savez(cache, crops=crops, ok=ok, ids=np.array(ids))
    return crops, ok


def train_quality_model(
    samples: fo.core.collections.SampleCollection,
    label_field: str,
    tag: str,
    arch: str = "tinyfqnet",
    identity_field: Optional[str] = None,
    epochs: int = 17,
    input_size: int = 64,
    batch_size: int = 1024,
    lr: float = 0.01,
    sampling: str = "smooth",
    min_images: int = 10,
    val_fraction: float = 0.1,
    seed: int = 0,
    pack: str = "buffalo_sc",
    models_dir: Optional[str] = None,
    overwrite: bool = False,
    progress: Optional[Progress] = None,
) -> Dict[str, Any]:
    """Train ``arch`` on the samples' ``label_field`` and install it as ``<arch>.<tag>``.

    ``identity_field`` holds whole identities out for validation and drives ``smooth``/``random``
    sampling (Peng et al.); without it every sample is its own identity and ``sampling`` must be
    ``none``. Labels outside ``[0, 1]`` (e.g. SDD's 0–100) are min-max scaled to it. The run folder
    (``<models_dir>/runs/<arch>.<tag>``) keeps a checkpoint per epoch; rerunning the same call resumes,
    ``overwrite=True`` starts over. Returns the model name, file paths and the last epoch's metrics.
    """
    import torch

    from ..paths import user_models_dir
    from ..plugins import QUALITY_METHODS
    from ..quality.builtin import register_user_models
    from ..training.data import TrainingSet, resize_crops
    from ..training.export import export_model, onnx_parity, write_card
    from ..training.train import TrainConfig, train

    if arch not in crop_architectures():
        raise UsageError(f"unknown architecture {arch!r}; choose one of {crop_architectures()}")
    if not tag or not all(ch.isalnum() or ch in "-_" for ch in tag):
        raise UsageError(f"tag {tag!r} must be non-empty letters, digits, '-' or '_' (the model is named {arch}.<tag>)")
    name = f"{arch}.{tag}"
    if name in QUALITY_METHODS and QUALITY_METHODS.entry(name).tags.get("kind") != "user":
        raise UsageError(f"{name} is a built-in quality method; choose another tag")
    if identity_field is None and sampling != "none":
        raise UsageError("sampling 'smooth'/'random' needs identity_field (images per identity); pass sampling='none'")
    out_dir = Path(models_dir) if models_dir else user_models_dir(create=True)
    run_dir = out_dir / "runs" / name
    params = {"dataset": samples._dataset.name, "label_field": label_field, "identity_field": identity_field,
              "arch": arch, "input_size": input_size, "epochs": epochs, "batch_size": batch_size, "lr": lr,
              "sampling": sampling, "min_images": min_images, "val_fraction": val_fraction, "seed": seed, "pack": pack}
    spec = run_dir / "params.json"
    if overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    if spec.exists() and json.loads(spec.read_text()) != params:
        raise UsageError(f"{run_dir} holds a run of {name} with other settings; pass overwrite=True "
                         f"(or choose another tag) to start over")
    run_dir.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps(params, indent=2) + "\n")

    view = samples.exists(label_field)
    ids, paths, labels = view.values(["id", "filepath", label_field])
    groups = group_labels(view, identity_field) if identity_field else list(range(len(ids)))
    steps = epochs + 1

    def report(done: float) -> None:
        if progress:
            progress(int(done * 1000), steps * 1000)

    crops, ok = _crops(view, ids, paths, run_dir, pack, lambda d, n: report(d / max(n, 1)))
    y = np.array(labels, np.float64)
    keep = ok & np.isfinite(y) & np.array([g is not None for g in groups], bool)
    if keep.sum() < 4:
        raise UsageError(f"only {int(keep.sum())} samples have a face and a finite {label_field!r}: too few to train")
    y = y[keep]
    lo, hi = float(y.min()), float(y.max())
    scaled = lo < 0.0 or hi > 1.0
    if scaled:  # the regressor's output and loss assume labels in [0, 1]
        y = (y - lo) / max(hi - lo, 1e-12)
        log.info("labels %s span [%.4g, %.4g]: min-max scaled to [0, 1]", label_field, lo, hi)
    _, ident = np.unique(np.array([str(g) for g, k in zip(groups, keep) if k]), return_inverse=True)
    n = int(keep.sum())
    ts = TrainingSet(resize_crops(crops[keep], input_size), y.astype(np.float32), ident.astype(np.int32),
                     np.arange(n, dtype=np.int32), np.full(n, "", dtype="<U1"), np.unique(ident).astype(str))
    cfg = TrainConfig(arch=arch, input_size=input_size, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                      threads=1, sampling=sampling, min_images=min_images, val_fraction=val_fraction)
    threads = torch.get_num_threads()
    try:
        res = train(ts, cfg, run_dir, resume=True, on_epoch_end=lambda e, rec: report(1 + e))
    finally:
        torch.set_num_threads(threads)  # train() pins one thread; give the caller's setting back
    last = res.history[-1] if res.history else {}
    summary = f"{arch} trained on FiftyOne dataset {params['dataset']!r}, labels {label_field!r}"
    files = export_model(res.model, out_dir, arch, tag, input_size, cfg.mean, cfg.std, summary=summary,
                         default=False, extra={"trained_from": params})
    parity = onnx_parity(res.model, files["onnx"], ts.crops[:16], cfg.mean, cfg.std)
    hp = "\n".join(f"- {k}: {v}" for k, v in params.items())
    metrics = "\n".join(f"- {k}: {v:.4f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in last.items())
    write_card(files["md"], name, [
        ("Data", f"{n} faces (largest per image) of FiftyOne dataset `{params['dataset']}`, "
                 f"{len(np.unique(ident))} identities; labels from field `{label_field}`"
                 + (f" (min-max scaled from [{lo:.4g}, {hi:.4g}])" if scaled else "") + "."),
        ("Training", f"`fiqa_plugin.integrations.fiftyone_train.train_quality_model`, tinyFQnet recipe "
                     f"(fiqa_plugin/training/train.py):\n\n{hp}"),
        ("Held-out results (last epoch)", metrics or "no validation samples"),
        ("Export", f"ONNX (onnxruntime vs torch max |diff| {parity:.2e} on 16 faces)."),
    ])
    added = register_user_models(directory=out_dir)
    if name not in QUALITY_METHODS:
        raise ModelError(f"{name} was exported to {out_dir} but did not register (is FIQA_MODELS_DIR "
                           f"pointing elsewhere?); registered now: {added}")
    out = {"name": name, "onnx": str(files["onnx"]), "config": str(files["json"]), "card": str(files["md"]),
           "samples": n, "epochs": len(res.history), "onnx_parity": parity}
    out.update({k: float(v) for k, v in last.items() if k.startswith("val_") and isinstance(v, float)})
    log.info("trained %s: %s", name, out)
    return out
