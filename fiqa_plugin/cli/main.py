"""Entry point of the ``fiqa`` console script."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional

from ..errors import FiqaError

# One module per sub-command; each defines register(subparsers) and sets func=run.
COMMANDS = ["methods", "score", "evaluate", "label", "train", "export", "templates", "ensemble", "plugin"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fiqa", description="Face image quality assessment for recognition.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"fiqa_plugin.cli.{name}").register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except FiqaError as exc:
        # User errors carry their own fix and print as one line; anything else is a bug
        # and keeps its traceback.
        logging.getLogger("fiqa").debug("details", exc_info=True)
        print(f"fiqa {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
