"""Recognizer passes over the new training faces (the accurate tier's and the label experiments' input).

    python benchmarks/accurate_features.py [--copies 1] [--threads 2] [--grid]

Training faces: ``../shared/data/celeba_aligned`` minus the validation identities
(``benchmarks/protocols/celeba_val_identities.txt``), clean plus ``--copies`` degraded copies (``v2``
profile, seed 0, :func:`fiqa_plugin.training.data.v2_copy`). Each crop goes once through
``buffalo_sc`` (its last-stage input, pooled, and its raw embedding, in one pass) and once through
``mobilefacenet-128d`` (raw embedding). Everything is cached in chunks under
``$FIQA_CACHE/training/`` (:func:`fiqa_plugin.training.aligned.recognizer_outputs`), so a rerun or an
interrupted run only loads what is done. :func:`load` returns the arrays for the experiments.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Dict

import numpy as np

import validation as V

log = logging.getLogger("fiqa.benchmarks")
RECOGNIZERS = ("buffalo_sc", "mobilefacenet-128d")


def buffalo_runner(threads: int):
    """Crops → ``{"pooled": [N, 512] (mean ‖ max over 7×7 of the last-stage input), "embedding": [N, 512] raw}``."""
    import onnx

    from fiqa_plugin.plugins import RECOGNIZERS as REG
    from fiqa_plugin.training.sdd_regressor import find_split, prefix_session, preprocess

    path = REG.create("buffalo_sc", threads=1).model_path
    split = find_split(onnx.load(path))
    sess = prefix_session(path, split, threads)

    def run(crops: np.ndarray) -> Dict[str, np.ndarray]:
        f, e = [], []
        for s in range(0, len(crops), 64):
            a, b = sess.run([split.cut, split.embedding], {split.input: preprocess(crops[s : s + 64])})
            f.append(np.concatenate([a.mean((2, 3)), a.max((2, 3))], 1).astype(np.float32))
            e.append(b.astype(np.float32))
        return {"pooled": np.concatenate(f), "embedding": np.concatenate(e)}

    return run, path, split


#: Overlapping 3×3 blocks of the 7×7 last-stage input (rows/columns 0–2, 2–4, 4–6): where in the face
#: the activations are (a turned head moves them sideways), which mean and max over all 49 lose.
GRID = ((0, 3), (2, 5), (4, 7))


def grid_pool(a: np.ndarray) -> np.ndarray:
    """``[N, C, 7, 7]`` → ``[N, 9 C]``: the mean of every :data:`GRID` block (row-major blocks, channels inside)."""
    return np.concatenate([a[:, :, r0:r1, c0:c1].mean((2, 3)) for r0, r1 in GRID for c0, c1 in GRID], 1)


def grid_runner(threads: int):
    """Crops → ``{"grid": [N, 9 × 256] float16}`` (:func:`grid_pool` of ``buffalo_sc``'s last-stage input)."""
    import onnx

    from fiqa_plugin.plugins import RECOGNIZERS as REG
    from fiqa_plugin.training.sdd_regressor import find_split, prefix_session, preprocess

    path = REG.create("buffalo_sc", threads=1).model_path
    split = find_split(onnx.load(path))
    sess = prefix_session(path, split, threads)

    def run(crops: np.ndarray) -> Dict[str, np.ndarray]:
        return {"grid": np.concatenate([grid_pool(sess.run([split.cut], {split.input: preprocess(crops[s : s + 64])})[0])
                                        for s in range(0, len(crops), 64)]).astype(np.float16)}

    return run, path


def load_grid(copies: int = 1, threads: int = 2, progress: bool = False) -> np.ndarray:
    """:func:`grid_pool` features of every training sample, in :func:`load`'s order (cached in chunks)."""
    from fiqa_plugin.training.aligned import aligned_faces, recognizer_outputs
    from fiqa_plugin.training.data import v2_copy

    faces = aligned_faces(V.data_root(), exclude=V.read_protocol())
    run, path = grid_runner(threads)
    out = []
    for c in range(-1, copies):
        crops = faces.crops if c < 0 else v2_copy(faces, 0, c)[0]
        cb = (lambda d, t, _c=c: log.info("grid copy %d: %d/%d", _c, d, t)) if progress else None
        out.append(recognizer_outputs("aligned-grid-buffalo_sc", crops, run,
                                      ["aligned-grid-v1", [str(p) for p in faces.paths], str(path), "v2", 0, c],
                                      progress=cb)["grid"])
    return np.concatenate(out)


def validation_grid(threads: int = 2) -> np.ndarray:
    """:func:`grid_pool` features of the validation faces (in ``validation.load_set`` order), cached."""
    from fiqa_plugin.training.aligned import recognizer_outputs

    _, fc, _ = V.load_set()
    run, path = grid_runner(threads)
    return recognizer_outputs("aligned-val-grid-buffalo_sc", fc.crops, run, ["aligned-val-grid-v1", fc.rel, str(path)])["grid"]


def other_runner(name: str, threads: int):
    from fiqa_plugin.plugins import RECOGNIZERS as REG

    rec = REG.create(name, threads=threads)
    return (lambda crops: {"embedding": rec.raw(crops).astype(np.float32)}), rec.model_path


def load(copies: int = 1, threads: int = 2, recognizers=RECOGNIZERS, progress: bool = False,
         cached_only: bool = False) -> Dict[str, np.ndarray]:
    """Identities, source index, copy number and per-recognizer outputs of every training sample.

    ``cached_only``: compute nothing; keep the leading faces every recognizer has done (quick looks
    while the passes run; a copy with none done is left out)."""
    from fiqa_plugin.training.aligned import aligned_faces, recognizer_outputs
    from fiqa_plugin.training.data import v2_copy

    faces = aligned_faces(V.data_root(), exclude=V.read_protocol())
    n = len(faces.crops)
    out: Dict[str, list] = {"identities": [], "source": [], "copy": []}
    runners = {}
    done = [n] * (copies + 1)  # per copy: the faces every recognizer has done
    for c in range(-1, copies):
        crops = faces.crops if c < 0 or cached_only else v2_copy(faces, 0, c)[0]  # cached_only never runs them
        out["identities"].append(faces.identities)
        out["source"].append(np.arange(n))
        out["copy"].append(np.full(n, c))
        for name in recognizers:
            if name not in runners:
                runners[name] = buffalo_runner(threads)[:2] if name == "buffalo_sc" else other_runner(name, threads)
            run, path = runners[name]
            cb = (lambda d, t, _n=name, _c=c: log.info("%s copy %d: %d/%d", _n, _c, d, t)) if progress else None
            res = recognizer_outputs(f"aligned-{name}", crops, run,
                                     ["aligned-v1", [str(p) for p in faces.paths], str(path), "v2", 0, c], progress=cb,
                                     cached_only=cached_only)
            done[c + 1] = min(done[c + 1], len(next(iter(res.values()))) if res else 0)
            for k, v in res.items():
                out.setdefault(f"{name}/{k}", []).append(v)
    if cached_only:  # the first faces of each copy that every recognizer has done
        if any(not any(k.startswith(f"{r}/") for k in out) for r in recognizers):
            raise SystemExit(f"--cached-only: some of {list(recognizers)} has no cached faces yet")
        for c, m in enumerate(done):
            for k in out:
                if c < len(out[k]):
                    out[k][c] = out[k][c][:m]
    arrays = {k: np.concatenate(v) for k, v in out.items()}
    arrays["names"] = faces.names
    arrays["paths"] = faces.paths
    return arrays


def validation_outputs(threads: int = 2) -> Dict[str, np.ndarray]:
    """The same ``buffalo_sc`` outputs for the validation faces (in ``validation.load_set`` order), cached."""
    from fiqa_plugin.training.aligned import recognizer_outputs

    _, fc, _ = V.load_set()
    run, path, _ = buffalo_runner(threads)
    return recognizer_outputs("aligned-val-buffalo_sc", fc.crops, run, ["aligned-val-v1", fc.rel, str(path)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--grid", action="store_true", help="also the grid-pooled last-stage input (validation faces first)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.grid:
        log.info("validation grid %s", validation_grid(args.threads).shape)
        log.info("training grid %s", load_grid(args.copies, args.threads, progress=True).shape)
    a = load(args.copies, args.threads, progress=True)
    print({k: v.shape for k, v in a.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
