"""``fiqa methods``: list registered quality methods (one per line), recognizers or labelers."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("methods", help="list registered quality methods, one per line")
    p.add_argument("--kind", choices=["quality", "recognizers", "labelers"], default="quality")
    p.add_argument("--long", action="store_true", help="add each entry's one-line summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..plugins import LABELERS, QUALITY_METHODS, RECOGNIZERS

    reg = {"quality": QUALITY_METHODS, "recognizers": RECOGNIZERS, "labelers": LABELERS}[args.kind]
    for e in reg.entries():
        print(f"{e.name}\t{e.summary}" if args.long else e.name)
    return 0
