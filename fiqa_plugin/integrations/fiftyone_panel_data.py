"""What the App's Face Quality panel and the EDC operator show, as plain JSON-able values.

The panel (``operators/quality_panel.py``) and ``evaluate_edc`` only lay these out:

- :func:`quality_fields`: the float fields holding face quality, the calibrated 0–100 ``<field>_score``
  (:mod:`fiqa_plugin.quality.calibration`) first (the panel opens on the first);
- :func:`histogram`: a Plotly bar trace of a field and its slider range (0–100 when calibrated);
- :func:`threshold_view` / :func:`kept_counts`: the samples (or faces) at or above a threshold, and
  :func:`split_threshold` to take such a view apart again;
- :func:`identity_counts`: per identity, faces, faces kept and the best face's quality;
- :func:`edc_runs` / :func:`edc_figure` / :func:`pauc_rows` / :func:`recommendation_rows`: every stored
  EDC run (:func:`~fiqa_plugin.integrations.fiftyone_eval.evaluate_edc`) on one figure, its pAUCs and
  its recommended thresholds as table rows.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import fiftyone as fo
import numpy as np
from fiftyone import ViewField as F

from ..errors import UsageError
from ..quality.calibration import SCORE_SUFFIX
from .fiftyone_eval import RUN_METHOD, evaluate_edc
from .fiftyone_labels import group_labels

Samples = fo.core.collections.SampleCollection
#: The 0–100 calibrated scale's bounds (slider range and histogram bins of a calibrated field).
SCORE_RANGE = (0.0, 100.0)
#: Line styles telling target FMRs apart when every run has its own colour.
DASHES = ("solid", "dash", "dot", "dashdot")
#: one colour per run (Plotly's default sequence), so the line styles of one run share it
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def _float_fields(samples: Samples) -> List[str]:
    return [k for k, f in samples.get_field_schema().items() if isinstance(f, fo.FloatField)]


def is_calibrated(samples: Samples, field: str) -> bool:
    """Whether ``field`` is the 0–100 calibrated score ``<raw>_score`` of a raw quality field ``<raw>``."""
    return field.endswith(SCORE_SUFFIX) and samples.has_field(field[: -len(SCORE_SUFFIX)])


def raw_field(samples: Samples, field: str) -> str:
    """The raw quality field behind ``field`` (itself when it is not a calibrated score)."""
    return field[: -len(SCORE_SUFFIX)] if is_calibrated(samples, field) else field


def quality_fields(samples: Samples) -> List[str]:
    """Float fields with at least one value: calibrated scores first, then raw qualities (fields with a
    ``<field>_error`` or ``<field>_score`` sibling, as :func:`compute_quality` writes), then other floats."""
    floats = [f for f in _float_fields(samples) if samples.count(f)]
    schema = samples.get_field_schema()

    def rank(f: str) -> Tuple[int, str]:
        if is_calibrated(samples, f):
            return 0, f
        if f"{f}_error" in schema or f"{f}{SCORE_SUFFIX}" in schema:
            return 1, f
        return 2, f

    return sorted(floats, key=rank)


def faces_fields(samples: Samples) -> List[str]:
    """Detections fields whose faces carry a ``quality`` attribute (the ``faces_field`` of compute_quality)."""
    out = []
    for name, f in samples.get_field_schema(embedded_doc_type=fo.Detections).items():
        if samples.count(f"{name}.detections.quality"):
            out.append(name)
    return out


def identity_fields(samples: Samples) -> List[str]:
    """Classification and string fields: candidates for the identity of each face."""
    schema = samples.get_field_schema()
    out = [k for k, f in schema.items()
           if isinstance(f, fo.EmbeddedDocumentField) and f.document_type is fo.Classification]
    out += [k for k, f in schema.items() if isinstance(f, fo.StringField) and k not in ("filepath",)
            and not k.endswith("_error")]
    return out


def histogram(samples: Samples, field: str, bins: int = 50) -> Dict[str, Any]:
    """Histogram of ``field`` over the samples: ``trace`` (a Plotly bar trace), ``scale`` (``"0-100"`` or
    ``"raw"``), ``min``/``max`` (slider range: 0–100 when calibrated, else the values' bounds), ``step``,
    ``scored`` and ``unscored`` (samples without a value)."""
    calibrated = is_calibrated(samples, field)
    # numpy, not FiftyOne's histogram_values: that one leaves the maximum out (its last bin is open)
    v = np.array([x for x in samples.values(field) if x is not None], np.float64)
    v = v[np.isfinite(v)]
    scored = int(v.size)
    lo, hi = SCORE_RANGE if calibrated else ((float(v.min()), float(v.max())) if scored else (0.0, 1.0))
    if hi <= lo:  # a single value: a range around it so the bins and the slider have width
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    trace = {"type": "bar", "name": field, "x": ((edges[:-1] + edges[1:]) / 2).tolist(),
             "y": [int(c) for c in counts], "width": float(edges[1] - edges[0]),
             "hovertemplate": "%{x:.4g}: %{y} samples<extra></extra>"}
    step = 1.0 if calibrated else float(f"{(hi - lo) / 100:.3g}")
    return {"trace": trace, "scale": "0-100" if calibrated else "raw", "min": float(lo), "max": float(hi),
            "step": step, "scored": int(scored), "unscored": int(len(samples) - scored)}


def face_attribute(samples: Samples, field: str) -> str:
    """The face-level attribute matching ``field``'s scale: ``quality_score`` when calibrated, else ``quality``."""
    return "quality" + SCORE_SUFFIX if is_calibrated(samples, field) else "quality"


def threshold_view(samples: Samples, field: str, threshold: float, faces_field: Optional[str] = None) -> fo.DatasetView:
    """The samples whose ``field`` is at or above ``threshold``; with ``faces_field``, only the faces
    whose quality (on ``field``'s scale) is at or above it, and the samples that keep at least one."""
    if not samples.has_field(field):
        raise UsageError(f"the samples have no field {field!r}: compute quality first")
    if faces_field:
        attr = face_attribute(samples, field)
        return samples.filter_labels(faces_field, F(attr) >= float(threshold))
    return samples.match(F(field) >= float(threshold))


def _plain(x: Any) -> Any:
    """A serialized stage without its per-instance ``_uuid``, integral floats as ints (the App echoes
    ``30.0`` as ``30``): comparable between a view set from Python and the App's copy of it."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items() if k != "_uuid"}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


def view_stages(view: Samples) -> List[Dict[str, Any]]:
    """The view's stages as plain JSON, comparable between a view set from Python and the App's echo of it."""
    return _plain(view._serialize())


def split_threshold(view: Samples, field: str, faces_field: Optional[str] = None) -> Tuple[Samples, Optional[float]]:
    """``(base, threshold)`` when the view's last stage is :func:`threshold_view`'s stage for ``field``
    (samples, or ``faces_field``'s faces), else ``(view, None)``: how the panel tells the view it set
    itself (echoed back by the App) from one the user set."""
    stages = view._serialize()
    if not stages:
        return view, None
    last = stages[-1]
    try:
        t = float(dict(last["kwargs"])["filter"]["$gte"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return view, None
    base = fo.DatasetView._build(view._dataset, stages[:-1]) if len(stages) > 1 else view._dataset.view()
    for faces in dict.fromkeys((None, faces_field)):
        if _plain(threshold_view(base, field, t, faces)._serialize()[-1]) == _plain(last):
            return base, t
    return view, None


def kept_counts(samples: Samples, view: Samples, faces_field: Optional[str] = None) -> Dict[str, int]:
    """``samples``/``kept`` counts (and ``faces``/``faces_kept`` with ``faces_field``) of a threshold view."""
    out = {"samples": len(samples), "kept": len(view)}
    if faces_field:
        out.update(faces=samples.count(f"{faces_field}.detections"), faces_kept=view.count(f"{faces_field}.detections"))
    return out


def identity_counts(samples: Samples, field: str, identity_field: str, threshold: float,
                    limit: int = 15) -> Dict[str, Any]:
    """Per identity: ``faces`` (samples), ``kept`` (at or above ``threshold``) and ``best`` (its best
    face's value of ``field``). ``rows`` holds the ``limit`` identities with the fewest kept faces (the
    ones a threshold hurts first; ties: more faces first), ``identities`` and ``without_kept`` (how many
    keep no face) count all of them."""
    labels = group_labels(samples, identity_field)
    values = samples.values(field)
    by: Dict[str, List[float]] = {}
    for label, v in zip(labels, values):
        if label is not None:
            by.setdefault(str(label), []).append(-math.inf if v is None else float(v))
    rows = []
    for label, vs in by.items():
        best = max(vs)
        rows.append({"identity": label, "faces": len(vs), "kept": sum(v >= threshold for v in vs),
                     "best": None if best == -math.inf else round(best, 4)})
    rows.sort(key=lambda r: (r["kept"], -r["faces"], r["identity"]))
    return {"identities": len(rows), "without_kept": sum(r["kept"] == 0 for r in rows), "rows": rows[:limit]}


# --- stored EDC runs -------------------------------------------------------------------------

def edc_runs(dataset: fo.Dataset) -> Dict[str, Dict[str, Any]]:
    """Every EDC report stored on ``dataset`` by :func:`evaluate_edc`, by run key."""
    out = {}
    for key in dataset.list_runs():
        if getattr(dataset.get_run_info(key).config, "method", None) == RUN_METHOD:
            out[key] = dataset.load_run_results(key).report
    return out


def _steps(x: Sequence[float], y: Sequence[float]) -> Tuple[List[float], List[float]]:
    """The points where a step curve changes (and its ends): the same ``hv`` line, a fraction of the points."""
    if len(x) < 3:
        return list(x), list(y)
    keep = [0] + [i for i in range(1, len(y) - 1) if y[i] != y[i - 1]] + [len(y) - 1]
    return [x[i] for i in keep], [y[i] for i in keep]


def edc_figure(reports: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """One Plotly figure (``data``, ``layout``) of the EDC curves of every report: a colour per run
    (quality field), a line style per target FMR; names carry the pAUC at the first discard limit."""
    data = []
    limit = 0.0
    for r, (key, rep) in enumerate(reports.items()):
        for k, (fmr, e) in enumerate(rep["edc"].items()):
            lim = next(iter(e["pauc"]))
            limit = max(limit, float(lim))
            x, y = _steps(e["curve"]["discard_fractions"], e["curve"]["fnmr"])
            data.append({"type": "scatter", "mode": "lines", "line": {"shape": "hv", "dash": DASHES[k % len(DASHES)],
                                                       "color": COLORS[r % len(COLORS)]},
                         "legendgroup": key, "name": f"{rep.get('quality_field', key)} [{key}] FMR {fmr}: "
                                                     f"pAUC@{lim} {e['pauc'][lim]:.4f}", "x": x, "y": y})
    layout = {"xaxis": {"title": {"text": "fraction of genuine pairs discarded (lowest quality first)"},
                        "range": [0, min(1.0, 2 * limit) if limit else 1.0]},
              "yaxis": {"title": {"text": "FNMR"}, "rangemode": "tozero"},
              # the App's plots hide the legend unless asked; below the axis, one entry per line
              "showlegend": True, "legend": {"orientation": "v", "x": 0, "xanchor": "left", "y": -0.18, "yanchor": "top"},
              "margin": {"t": 20, "b": 60 + 22 * len(data)}, "height": 360 + 22 * len(data)}
    return {"data": data, "layout": layout}


def pauc_rows(reports: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One table row per run and target FMR: run, field, pairs, FMR, FNMR at no discard, the EDC pAUC at
    each discard limit (``pauc_<limit>`` with ``.`` as ``_``) and the re-fixed-threshold ERC's."""
    rows = []
    for key, rep in reports.items():
        for fmr, e in rep["edc"].items():
            row = {"run": key, "field": rep.get("quality_field", ""), "pairs": f"{rep['pairs']} ({rep['genuine']} genuine)",
                   "fmr": fmr, "fnmr0": _fmt(e.get("fnmr_at_0_discard"))}
            for lim, v in e["pauc"].items():
                row[f"pauc_{lim.replace('.', '_')}"] = _fmt(v)
            for lim, v in (e.get("erc_refixed") or {}).get("pauc", {}).items():
                row[f"erc_{lim.replace('.', '_')}"] = _fmt(v)
            rows.append(row)
    return rows


def _recommendations(rep: Dict[str, Any]) -> List[Dict[str, Any]]:
    """A report's recommendations as one list (stored as a list, or per target FMR as a dict of lists)."""
    recs = rep.get("recommendations") or []
    if isinstance(recs, dict):
        recs = [r for v in recs.values() for r in v]
    return list(recs)


def recommendation_rows(reports: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One table row per run and discard fraction of the reports' recommended thresholds
    (:func:`fiqa_plugin.evaluation.recommend.recommend_thresholds`); empty when no report has any."""
    rows = []
    for key, rep in reports.items():
        for r in _recommendations(rep):
            rows.append({"run": key, "field": rep.get("quality_field", ""), "fmr": f"{r['fmr']:g}",
                         "discard": f"{100 * r['discard_fraction']:g}%", "threshold": _fmt(r.get("threshold"), ".5g"),
                         "score": _fmt(r.get("threshold_score"), ".1f"),
                         "dropped": f"{r['faces_dropped']} of {r['faces']}",
                         "fnmr_before": _fmt(r.get("fnmr_before")), "fnmr_after": _fmt(r.get("fnmr_after"))})
    return rows


def edc_display(reports: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """Everything the App shows of stored EDC runs: ``figure``, ``pauc`` rows, ``recommendations`` rows."""
    return {"figure": edc_figure(reports), "pauc": pauc_rows(reports), "recommendations": recommendation_rows(reports)}


def evaluate_edc_for_app(samples: Samples, **kwargs: Any) -> Dict[str, Any]:
    """:func:`evaluate_edc` (same arguments) and what the operator's output shows of its report:
    ``eval_key``, ``pairs``, ``genuine``, ``figure``, ``pauc`` and ``recommendations`` rows."""
    report = evaluate_edc(samples, **kwargs)
    key = report.get("eval_key") or "edc"
    shown = edc_display({key: report})
    return {"eval_key": report.get("eval_key"), "pairs": report["pairs"], "genuine": report["genuine"], **shown}


def _fmt(v: Any, spec: str = ".4f") -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)
