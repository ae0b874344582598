"""LFW error-versus-discard benchmark of every registered quality method (the project's main job).

    python benchmarks/lfw_edc.py [--out benchmarks/out] [--docs] [--threads 2] [--seeds 10]
                                 [--limit-pairs N] [--methods blur pose ...]

All images of LFW View 2 (``pairs.txt``: 10 folds × 300 same + 300 different pairs) go through
``FacePipeline.from_pack("buffalo_sc", mode="largest")``; each quality method scores the aligned
faces; pair quality = min of the two images' qualities; the EDC (threshold fixed at the target FMR
over all impostor pairs, FNMR over the remaining genuine pairs) is computed with two recognizers:
``buffalo_sc`` (the recognizer tinyFQnet's labels come from) and ``mobilefacenet-128d`` (an
independent one: the cross-model check). Detection failures get the lowest quality under every
method and similarity -1 (see ``fiqa_plugin/evaluation/harness.py``). Faces, embeddings and scores are cached
under ``$FIQA_CACHE/lfw/`` (default ``~/.cache/fiqa/lfw``), so reruns take seconds.

Prints one markdown table per recognizer and writes EDC plots to ``--out``; ``--docs`` also writes
the plots to ``docs/figures/``, the tables to ``docs/lfw_benchmark.md`` and a summary to ``README.md``.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

from fiqa_plugin.evaluation import harness as C

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "lfw_benchmark.md"
README = REPO / "README.md"
FIGURES = REPO / "docs" / "figures"

FAILURE_NOTES = """\
**Detection failures.** {n_fail} of {n_img} images had no detected face ({fail_list}). Following
the choice documented in `fiqa_plugin/evaluation/harness.py`, a failed image gets the lowest quality under
every method (so its pairs are discarded first by all methods alike) and a pair containing it
gets similarity −1 (a certain non-match). {n_fail_pairs} pairs contain such an image, {n_fail_gen} of
them genuine: these are {n_fail_gen} of the {n_fnm} false non-matches of `buffalo_sc` at FMR=1e-3
with nothing discarded, and every method (random included) discards them first, so all curves
share that initial drop over the first {fail_frac:.2%} of genuine pairs."""

NO_FAILURE_NOTE = """\
**Detection failures.** none: SCRFD found a face in all {n_img} images (small photos that show no
face at the 640 px detector size are retried at 320 px; see `fiqa_plugin/faces/detector.py`)."""

METHOD_NOTES = """\
**Protocol.** LFW View 2 (`pairs.txt`, all 10 folds pooled: {n_gen} genuine and {n_imp} impostor
pairs, {n_img} unique images). Each image → SCRFD-500M (`buffalo_sc` pack, largest face) → 5-point
ArcFace alignment to 112×112 → every quality method. Pair quality = min of the two images'
qualities. EDC as in ISO/IEC 29794-1 / Schlett et al. (fiqat): the similarity threshold is fixed
once at the target FMR over *all* impostor pairs, pairs are discarded in ascending pair quality
(ties together), the error is the FNMR over the remaining genuine pairs, the discard fraction is the
fraction of genuine pairs discarded. pAUC = area under the step curve over [0, L] divided by L
(the mean FNMR over that range; lower is better). AOC = 1 − normalised area over [0, 0.95]
(SDD-FIQA; higher is better). "theoretical best" discards the false non-matches first. "random" is
the mean over {seeds} seeds of uniform random qualities. FMR=1e-3 allows
{allowed3} of the {n_imp} impostor pairs to match, so that operating point rests on few scores.

{failures}

**Notes.** `embedding-norm` uses the `buffalo_sc` embedding norm in both tables (in the cross-model
table it is a quality signal from another network, like every other method). LFW identities
with a single image only ever appear in impostor pairs. {skipped}
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out", help="folder for the EDC PNGs")
    ap.add_argument("--docs", action="store_true", help="also write docs/figures/*.png and docs/lfw_benchmark.md")
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads (default 2)")
    ap.add_argument("--seeds", type=int, default=10, help="random-quality seeds to average (default 10)")
    ap.add_argument("--limit-pairs", type=int, default=None,
                    help="use only this many same and this many different pairs of fold 0 (quick runs)")
    ap.add_argument("--methods", nargs="*", default=None, help="quality methods (default: every registered one)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    C.set_threads(args.threads)

    t0 = time.perf_counter()
    lfw, fc, results, skipped = C.run_lfw(args.limit_pairs, args.methods, args.seeds, show=not args.no_progress,
                                          on_stage=lambda s: logging.getLogger("fiqa.benchmarks").info(s))
    n_fail = int((~fc.ok).sum())
    failed = [r for r, ok in zip(fc.rel, fc.ok) if not ok]
    print(f"\n{len(lfw.pairs)} pairs ({int(lfw.genuine.sum())} genuine), {len(lfw.rel)} images, "
          f"{n_fail} detection failures{': ' + ', '.join(failed) if failed else ''}")
    if skipped:
        print("skipped methods: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()))
    tables = {}
    for rec, res in results.items():
        tables[rec] = C.markdown_table(res)
        print(f"\n### {rec}\n\n{tables[rec]}")
    plots = []
    for res in results.values():
        plots += C.plot_curves(res, args.out)
        if args.docs:
            C.plot_curves(res, FIGURES)
    print(f"\nEDC plots: {', '.join(str(p) for p in plots)}  ({time.perf_counter() - t0:.1f} s)")
    if args.docs:
        write_docs(args, lfw, fc, results, tables, skipped, argv)
        print(f"wrote {DOC} and {FIGURES}/")
    return 0


def write_docs(args, lfw, fc, results, tables, skipped, argv) -> None:
    from fiqa_plugin.evaluation import allowed_false_matches

    cmd = "python benchmarks/lfw_edc.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    failed = [r for r, ok in zip(fc.rel, fc.ok) if not ok]
    n_imp = int((~lfw.genuine).sum())
    first = results.get("buffalo_sc") or next(iter(results.values()))
    failures = FAILURE_NOTES.format(
        n_fail=len(failed), n_img=len(lfw.rel), fail_list=", ".join(f"`{r}`" for r in failed),
        n_fail_pairs=first.n_failed_pairs, n_fail_gen=first.n_failed_genuine,
        n_fnm=round(first.rows["theoretical best"]["fnmr3"] * first.n_genuine),
        fail_frac=first.n_failed_genuine / max(first.n_genuine, 1)) if failed else NO_FAILURE_NOTE.format(n_img=len(lfw.rel))
    notes = METHOD_NOTES.format(
        n_gen=int(lfw.genuine.sum()), n_imp=n_imp, n_img=len(lfw.rel), seeds=args.seeds,
        allowed3=allowed_false_matches(n_imp, 1e-3), failures=failures,
        skipped=("Skipped methods: " + "; ".join(f"`{k}` ({v})" for k, v in skipped.items()) + ".") if skipped else "")
    parts = [f"## EDC on LFW\n\nProduced by (caches under `$FIQA_CACHE/lfw/`, default `~/.cache/fiqa/lfw/`):\n\n"
             f"```\n{cmd.strip()}\n```\n", notes]
    for rec, res in results.items():
        kind = "same recognizer as tinyFQnet's labels" if rec == "buffalo_sc" else "cross-model: an independent recognizer"
        parts.append(f"### {rec} ({kind})\n\nRows sorted by pAUC at FMR=1e-3 over [0, 0.2] (lower is better).\n\n"
                     f"{tables[rec]}\n")
        for f in C.FMRS:
            name = f"lfw_edc_{C.safe_name(rec)}_fmr{f:g}.png"
            parts.append(f"![EDC {rec} FMR={f:g}](figures/{name})\n")
    C.update_doc_section(DOC, "lfw_edc", "\n".join(parts), header=C.DOC_HEADER)
    C.update_doc_section(README, "readme_lfw", readme_table(results, cmd))


def readme_table(results, cmd: str) -> str:
    """The README's summary: pAUC FMR=1e-3 [0, 0.2] per method and recognizer, sorted by the first."""
    recs = list(results)
    first = results[recs[0]].rows
    special = [k for k in first if k.startswith("random") or k == "theoretical best"]
    names = sorted((k for k in first if k not in special), key=lambda k: (first[k]["pauc3_20"], k)) + special
    lines = [f"<!-- generated by `{cmd.strip()}` -->", "",
             "| method | " + " | ".join(recs) + " |", "|---|" + "---:|" * len(recs)]
    for n in names:
        cells = [f"{results[r].rows[n]['pauc3_20']:.4f}" if n in results[r].rows else "–" for r in recs]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
