"""Quality regressors on the two backbones (Hamidi et al. Sec. 3.1, Eq. 1–3) and their TTA ensemble.

Each member maps an image to one score; the ensemble averages T augmented views per member
(Eq. 2: identity, horizontal flip, vertical flip by default), then the members (Eq. 3). The views
are stacked into one batch so a single pass (torch or onnxruntime) scores them all.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, Optional, Sequence

import torch
from torch import nn

from .mobilenetv3 import FEATURES as MBV3_FEATURES
from .mobilenetv3 import MobileNetV3Small
from .shufflenetv2 import FEATURES as SHUFFLE_FEATURES
from .names import ALL_VIEWS, MEMBERS, VIEWS  # noqa: F401  (re-exported)
from .shufflenetv2 import ShuffleNetV2
from ...errors import MissingAssetError, ModelError, UsageError

log = logging.getLogger(__name__)

# torchvision's classifier parameters, dropped when loading ImageNet weights into a backbone.
_CLASSIFIER_PREFIX = {"mobilenet_v3_small": "classifier.", "shufflenet_v2_x1_0": "fc."}


def _head(sizes: Sequence[int], dropout: float) -> nn.Sequential:
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU(inplace=True), nn.Dropout(dropout)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class QualityMember(nn.Module):
    """A backbone's pooled features → the paper's MLP head → one score ``[N, 1]`` (linear: any float target)."""

    def __init__(self, backbone: str, dropout: float = 0.2) -> None:
        super().__init__()
        if backbone == "mobilenet_v3_small":
            self.backbone: nn.Module = MobileNetV3Small()
            sizes = (MBV3_FEATURES, 288, 1)  # 576 → 288 → ReLU → Dropout → 1
        elif backbone == "shufflenet_v2_x1_0":
            self.backbone = ShuffleNetV2()
            sizes = (SHUFFLE_FEATURES, 512, 256, 1)  # 1024 → 512 → 256 → 1
        else:
            raise UsageError(f"unknown backbone {backbone!r}; choose from {MEMBERS}")
        self.name = backbone
        self.head = _head(sizes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.forward_features(x))


def make_views(x: torch.Tensor, views: Sequence[str]) -> torch.Tensor:
    """``[V*N, C, H, W]``: the views of ``x`` stacked view-major (view v of sample i at ``v*N + i``)."""
    out = []
    for v in views:
        if v == "identity":
            out.append(x)
        elif v == "hflip":
            out.append(torch.flip(x, dims=[3]))
        elif v == "vflip":
            out.append(torch.flip(x, dims=[2]))
        elif v == "hvflip":
            out.append(torch.flip(x, dims=[2, 3]))
        else:
            raise UsageError(f"unknown TTA view {v!r}; choose from {ALL_VIEWS}")
    return torch.cat(out, 0)


class EnsembleQuality(nn.Module):
    """Mean over members of the mean over TTA views (Eq. 2–3); input ``[N,3,H,W]``, output ``[N,1]``."""

    def __init__(self, members: Sequence[nn.Module], views: Sequence[str] = VIEWS) -> None:
        super().__init__()
        if not members:
            raise UsageError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.views = tuple(views) or ("identity",)
        make_views(torch.zeros(1, 3, 2, 2), self.views)  # validate view names now, not at first call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        xv = make_views(x, self.views)
        # [M, V, N] → mean over views and members; reshape keeps the batch dimension symbolic in ONNX.
        scores = torch.stack([m(xv).reshape(len(self.views), -1) for m in self.members])
        return scores.mean(dim=(0, 1)).reshape(-1, 1) if n else scores.new_zeros(0, 1)


def read_state_dict(path: os.PathLike | str) -> Dict[str, torch.Tensor]:
    """A state_dict from a ``.pth``: a plain state_dict or ``{"state_dict"|"model": ...}``. Loaded with
    ``weights_only=True`` only: a pickled module could run any code, so it is refused, never unpickled."""
    path = Path(path)
    if not path.is_file():
        raise MissingAssetError(f"backbone weights {path} not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{path} is not a plain tensor file ({type(exc).__name__}); pickled modules are not loaded",
                         hint="save the weights alone: torch.save(model.state_dict(), PATH)") from None
    for k in ("state_dict", "model"):
        if isinstance(obj, dict) and k in obj and isinstance(obj[k], dict):
            obj = obj[k]
    if not isinstance(obj, dict):
        raise UsageError(f"{path} holds {type(obj).__name__}, not a state_dict")
    return obj


def load_backbone_weights(member: QualityMember, path: os.PathLike | str) -> None:
    """Load a torchvision ImageNet ``.pth`` into ``member.backbone`` with a strict key and shape check.

    The classifier (``classifier.*`` / ``fc.*``) is dropped; every other key must match exactly.
    """
    sd = {k: v for k, v in read_state_dict(path).items() if not k.startswith(_CLASSIFIER_PREFIX[member.name])}
    own = member.backbone.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    wrong = sorted(k for k in set(own) & set(sd) if tuple(own[k].shape) != tuple(sd[k].shape))
    if missing or unexpected or wrong:
        detail = "; ".join(f"{label} ({len(ks)}): {', '.join(ks[:5])}{' …' if len(ks) > 5 else ''}"
                           for label, ks in (("missing", missing), ("unexpected", unexpected),
                                             ("wrong shape", [f"{k} {tuple(sd[k].shape)}≠{tuple(own[k].shape)}" for k in wrong]))
                           if ks)
        raise UsageError(f"{path} is not a torchvision {member.name} state_dict: {detail}. Pass the ImageNet weights "
                         f"of torchvision.models.{member.name} (e.g. torch.save(model.state_dict(), PATH)).")
    member.backbone.load_state_dict(sd, strict=True)
    log.info("loaded ImageNet backbone weights for %s from %s", member.name, path)


def build_member(backbone: str, weights: Optional[os.PathLike | str] = None, dropout: float = 0.2) -> QualityMember:
    """A fresh member; ImageNet backbone weights from ``weights`` when given, else torchvision's random init."""
    m = QualityMember(backbone, dropout)
    if weights:
        load_backbone_weights(m, weights)
    return m


def detect_backbone(path: os.PathLike | str) -> str:
    """Which member a torchvision ImageNet ``.pth`` belongs to, by its keys (for ``--backbone-weights PATH``)."""
    keys = set(read_state_dict(path))
    for name in MEMBERS:
        own = set(QualityMember(name).backbone.state_dict())
        if own <= keys:
            return name
    raise UsageError(f"{path} matches neither torchvision backbone {MEMBERS} by its keys; "
                     f"name it explicitly as NAME=PATH to see which keys differ")
