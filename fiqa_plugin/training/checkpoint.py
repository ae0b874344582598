"""The one checkpoint and history format of every training loop.

``last.pt`` in the run folder is written atomically after every epoch (model, optimizer and scheduler
states, the epoch's history and torch's RNG state, so dropout masks of a resumed run match) and is
loaded with ``weights_only=True``; a run resumes only with the same config. ``history.json`` is
``{"config": ..., "history": [per-epoch records]}`` for every architecture.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from ..errors import ResumeError

log = logging.getLogger(__name__)

CHECKPOINT = "last.pt"


def _plain(config: Dict[str, Any]) -> Any:
    """The config as JSON would give it back (tuples become lists), so saved and current compare equal."""
    return json.loads(json.dumps(config, default=str))


class Checkpoint:
    """``<out_dir>/<name>``: save every epoch, resume with the same ``config`` only."""

    def __init__(self, out_dir: os.PathLike | str, config: Dict[str, Any], name: str = CHECKPOINT) -> None:
        self.path = Path(out_dir) / name
        self.config = _plain(config)

    def load(self, **objects: Any) -> Optional[Dict[str, Any]]:
        """Restore ``objects`` (anything with ``load_state_dict``) and torch's RNG from the checkpoint;
        returns its state (``epoch``, ``history``...) or ``None`` when there is none."""
        if not self.path.exists():
            return None
        state = torch.load(self.path, weights_only=True)
        if _plain(state.get("config")) != self.config:
            raise ResumeError(f"{self.path} was written with a different config",
                              hint="use another output folder, the same options, or --no-resume")
        for key, obj in objects.items():
            obj.load_state_dict(state[key])
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        log.info("resumed from %s after epoch %d", self.path, state["epoch"] + 1)
        return state

    def save(self, epoch: int, history: List[Dict[str, Any]], extra: Optional[Dict[str, Any]] = None,
             **objects: Any) -> Dict[str, Any]:
        """Write the state after ``epoch`` (0-based) atomically; returns it."""
        state = {"epoch": epoch, "history": history, "config": self.config, "torch_rng": torch.get_rng_state(),
                 **{k: o.state_dict() for k, o in objects.items()}, **(extra or {})}
        tmp = self.path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)  # never leave a half-written checkpoint
        return state


def write_history(out_dir: os.PathLike | str, config: Dict[str, Any], history: List[Dict[str, Any]]) -> Path:
    """``history.json`` in the one format every trainer writes."""
    path = Path(out_dir) / "history.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"config": _plain(config), "history": history}, indent=2) + "\n")
    os.replace(tmp, path)
    return path
