"""Where things live: the shared assets folder, InsightFace packs, shipped and user weights, caches.

The shared assets (test models and face data) are found at ``$FIQA_SHARED`` when it
is set, else at ``../shared`` next to the repository checkout, else ``../shared``
from the working directory. Nothing here hard-codes a machine path.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

from .errors import MissingAssetError

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
WEIGHTS_DIR = PACKAGE_DIR / "weights"
SHARED_ENV = "FIQA_SHARED"
INSIGHTFACE_ROOT_ENV = "FIQA_INSIGHTFACE_ROOT"
MODELS_ENV = "FIQA_MODELS_DIR"


def shared_dir(required: bool = True) -> Optional[Path]:
    """The shared assets folder (``$FIQA_SHARED`` or ``../shared``)."""
    env = os.environ.get(SHARED_ENV)
    candidates = [Path(env)] if env else [REPO_DIR.parent / "shared", Path.cwd().parent / "shared"]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    if required:
        raise MissingAssetError(
            f"shared assets folder not found (looked at {', '.join(map(str, candidates))}); "
            f"set {SHARED_ENV}=/path/to/shared"
        )
    return None


def shared_path(*parts: str) -> Path:
    """A file under the shared folder, raising a helpful error when it is missing."""
    p = shared_dir().joinpath(*parts)  # type: ignore[union-attr]
    if not p.exists():
        raise MissingAssetError(f"{p} is missing from the shared assets folder; set {SHARED_ENV} or restore it")
    return p


def insightface_root() -> Path:
    """Root holding ``models/<pack>/``: ``$FIQA_INSIGHTFACE_ROOT``, the shared pack, else ``~/.insightface``."""
    env = os.environ.get(INSIGHTFACE_ROOT_ENV)
    if env:
        return Path(env)
    sd = shared_dir(required=False)
    if sd is not None and (sd / "insightface" / "models").is_dir():
        return sd / "insightface"
    return Path.home() / ".insightface"


def pack_dir(pack: str = "buffalo_sc", root: Optional[os.PathLike] = None, download: bool = True) -> Path:
    """The folder of an InsightFace model pack, downloaded on first use (see :func:`fetch_pack`)."""
    d = Path(root or insightface_root()) / "models" / pack
    if not d.is_dir():
        if not download:
            raise MissingAssetError(_missing_pack(pack, d, "it is not there"))
        fetch_pack(pack, d.parent.parent)
    return d


def fetch_pack(pack: str, root: os.PathLike) -> Path:
    """Download and unpack the InsightFace model pack ``pack`` into ``root/models/<pack>`` with InsightFace's
    own downloader (``insightface.utils.storage.ensure_available``, progress bar included): the packs are
    InsightFace's to distribute (non-commercial research licence), so the project never hosts them.
    Offline or without the ``insightface`` package: :class:`MissingAssetError` naming the pack, the folder
    and the environment variable."""
    d = Path(root) / "models" / pack
    try:
        # The one place the core touches insightface: its downloader, imported only when a pack is missing.
        from insightface.utils.storage import ensure_available
    except ImportError:
        raise MissingAssetError(_missing_pack(pack, d, "the insightface package is not installed to download it"),
                                hint="pip install 'fiqa-plugin[insightface]', or copy the pack there") from None
    log.warning("InsightFace model pack %r is missing: downloading it to %s", pack, d)
    try:
        ensure_available("models", pack, root=os.fspath(root))
    except Exception as exc:  # offline, proxy, HTTP error, broken zip: one message with the fix
        for leftover in (d.with_suffix(".zip"), d):
            if leftover.is_file():
                leftover.unlink()
            elif leftover.is_dir() and not any(leftover.iterdir()):
                leftover.rmdir()
        raise MissingAssetError(_missing_pack(pack, d, f"downloading it failed ({type(exc).__name__}: {exc})")) from exc
    if not any(d.glob("*.onnx")):
        raise MissingAssetError(_missing_pack(pack, d, "the downloaded pack holds no .onnx file"))
    return d


def _missing_pack(pack: str, d: Path, why: str) -> str:
    return (f"InsightFace model pack {pack!r} is needed in {d} but {why}; put the pack's .onnx files in that "
            f"folder, or set {INSIGHTFACE_ROOT_ENV} to a folder holding models/{pack}/")


def cache_dir() -> Path:
    """User cache for embeddings and benchmark intermediates (``$FIQA_CACHE`` or ``~/.cache/fiqa``)."""
    d = Path(os.environ.get("FIQA_CACHE", Path.home() / ".cache" / "fiqa"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def user_models_dir(create: bool = False) -> Path:
    """The user's quality models (``$FIQA_MODELS_DIR``, else ``$XDG_DATA_HOME/fiqa/models``, else
    ``~/.local/share/fiqa/models``): ``<arch>.<tag>.onnx`` + ``.json`` files registered like shipped
    weights (models trained from the FiftyOne plugin land here)."""
    env = os.environ.get(MODELS_ENV)
    if env:
        d = Path(env)
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        d = Path(base) / "fiqa" / "models"
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d
