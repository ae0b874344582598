"""``fiqa plugin install``: make the FiftyOne plugin (``operators/``) visible to FiftyOne by linking it into
FiftyOne's plugins folder (``fo.config.plugins_dir``, i.e. ``$FIFTYONE_PLUGINS_DIR`` or
``~/fiftyone/__plugins__``), the same place ``fiftyone plugins download`` puts plugins. A link, not a copy,
so the operators always match the installed ``fiqa_plugin`` package."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)
LINK_NAME = "fiqa-plugin"


def register(sub) -> None:
    p = sub.add_parser("plugin", help="install the FiftyOne plugin (operators and panel) into FiftyOne's plugins folder")
    p.add_argument("action", choices=["install"], help="install: link operators/ into the plugins folder")
    p.add_argument("--plugins-dir", default=None, help="FiftyOne's plugins folder (default: fo.config.plugins_dir)")
    p.add_argument("--force", action="store_true", help="replace an existing link or folder of that name")
    p.set_defaults(func=run)


def operators_dir() -> Path:
    """The plugin folder: ``operators/`` of the source checkout this package runs from."""
    from ..errors import MissingAssetError
    from ..paths import REPO_DIR

    d = REPO_DIR / "operators"
    if not (d / "fiftyone.yml").is_file():
        raise MissingAssetError(
            f"the FiftyOne plugin folder is not at {d} (fiqa-plugin is not installed from a source checkout)",
            hint="install from a checkout (pip install -e .), or: fiftyone plugins download <repository URL>")
    return d


def install(plugins_dir: Optional[os.PathLike] = None, force: bool = False) -> Path:
    """Link :func:`operators_dir` as ``<plugins_dir>/fiqa-plugin``; returns the link. An existing link to the same
    folder is kept; anything else of that name needs ``force``."""
    from ..errors import UsageError

    if plugins_dir is None:
        import fiftyone as fo

        plugins_dir = fo.config.plugins_dir
    src = operators_dir()
    dst = Path(plugins_dir).expanduser() / LINK_NAME
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() and dst.resolve() == src.resolve():
        return dst
    if dst.exists() or dst.is_symlink():
        if not force:
            raise UsageError(f"{dst} already exists", hint="pass --force to replace it")
        if dst.is_symlink() or dst.is_file():
            dst.unlink()
        else:
            import shutil

            shutil.rmtree(dst)
    dst.symlink_to(src, target_is_directory=True)
    log.info("linked %s -> %s", dst, src)
    return dst


def run(args: argparse.Namespace) -> int:
    link = install(args.plugins_dir, args.force)
    print(f"FiftyOne plugin @fiqa/fiqa-plugin installed: {link} -> {link.resolve()} "
          "(restart the App to load it; `fiftyone plugins list` shows it)")
    return 0
