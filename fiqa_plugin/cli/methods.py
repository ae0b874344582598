"""``fiqa methods``: registered quality methods (names; ``--long`` a table; ``--json`` for scripts), recognizers, labelers."""
from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

#: Licence of the methods this project implements without learned weights.
OWN_LICENCE = "MIT (fiqa-plugin)"


def register(sub) -> None:
    p = sub.add_parser("methods", help="list registered quality methods (names; --long: kind, input, cost, licence)")
    p.add_argument("--kind", choices=["quality", "recognizers", "labelers"], default="quality")
    p.add_argument("--long", action="store_true",
                   help="a table: kind, input, cost (M multiply-accumulates per face, and relative to the default), "
                        "licence, calibrated (0-100 table), one-line summary")
    p.add_argument("--json", action="store_true", help="the same as a JSON list, for scripts")
    p.set_defaults(func=run)


def describe_quality_methods() -> List[Dict[str, Any]]:
    """One dict per registered quality method: name, kind, summary, input, macs_per_face, relative_cost
    (MACs ÷ the default method's), licence, calibrated (has a 0-100 table), reference population, default."""
    from ..plugins import QUALITY_METHODS
    from ..quality.calibration import calibration_for
    from ..scoring import DEFAULT_METHOD

    rows = []
    for e in QUALITY_METHODS.entries():
        cfg = e.tags.get("config")
        cal = calibration_for(e.name) if e.name != "onnx" else None
        rows.append({
            "name": e.name, "kind": e.tags.get("kind", ""), "summary": e.summary,
            "input": _input(e.name, cfg), "macs_per_face": cal.macs_per_face if cal else None,
            "licence": _licence(e.name, e.tags.get("kind"), cfg),
            "calibrated": cal is not None, "reference": cal.reference if cal else None,
            "default": e.name == DEFAULT_METHOD,
        })
    base = next((r["macs_per_face"] for r in rows if r["name"] == DEFAULT_METHOD), None)
    for r in rows:
        m = r["macs_per_face"]
        r["relative_cost"] = (m / base) if (m is not None and base) else None
    return rows


def _input(name: str, cfg) -> str:
    if cfg is not None:
        return f"{cfg.input_size}px {cfg.channels}" + (f" + {cfg.compose['recognizer']}" if cfg.compose else "")
    from ..plugins import QUALITY_METHODS

    if name == "onnx":
        return "from its config"
    if name == "lightqnet":
        return "96px BGR"
    needs = getattr(QUALITY_METHODS.entry(name).factory, "requires", frozenset())
    return {"detection": "detector landmarks", "embedding": "112px crop → recognizer"}.get(next(iter(needs), ""), "112px crop")


def _licence(name: str, kind, cfg) -> str:
    if cfg is not None and cfg.extra.get("license"):
        return str(cfg.extra["license"])
    if name == "lightqnet":
        return "MIT (LightQNet; weights not shipped, read from ../shared)"
    if kind == "measure":
        return OWN_LICENCE
    return "of the model you supply" if name == "onnx" else ""


def _table(rows: List[Dict[str, Any]]) -> str:
    head = ["name", "kind", "input", "M MACs/face", "× default", "0-100", "licence", "summary"]
    lines = ["\t".join(head)]
    for r in rows:
        m, rel = r["macs_per_face"], r["relative_cost"]
        lines.append("\t".join([
            r["name"], r["kind"] + (" (default)" if r["default"] else ""), r["input"], "–" if m is None else f"{m / 1e6:.3g}",
            "–" if rel is None else f"{rel:.3g}", "yes" if r["calibrated"] else "no", r["licence"].split(":")[0],
            r["summary"]]))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..plugins import LABELERS, QUALITY_METHODS, RECOGNIZERS

    if args.kind == "quality" and (args.long or args.json):
        rows = describe_quality_methods()
        print(json.dumps(rows, indent=2) if args.json else _table(rows))
        return 0
    reg = {"quality": QUALITY_METHODS, "recognizers": RECOGNIZERS, "labelers": LABELERS}[args.kind]
    entries = reg.entries()
    if args.json:
        print(json.dumps([{"name": e.name, "summary": e.summary} for e in entries], indent=2))
        return 0
    for e in entries:
        print(f"{e.name}\t{e.summary}" if args.long else e.name)
    return 0
