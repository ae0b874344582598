"""Where things live: the shared assets folder, InsightFace packs, shipped and user weights, caches.

The shared assets (test models and face data) are found at ``$FIQA_SHARED`` when it
is set, else at ``../shared`` next to the repository checkout, else ``../shared``
from the working directory. Nothing here hard-codes a machine path.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .errors import MissingAssetError

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


def pack_dir(pack: str = "buffalo_sc", root: Optional[os.PathLike] = None) -> Path:
    """The folder of an InsightFace model pack."""
    d = Path(root or insightface_root()) / "models" / pack
    if not d.is_dir():
        raise MissingAssetError(
            f"InsightFace model pack {pack!r} not found at {d}; download it with "
            f"insightface (FaceAnalysis(name={pack!r})) or set {INSIGHTFACE_ROOT_ENV}"
        )
    return d


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
