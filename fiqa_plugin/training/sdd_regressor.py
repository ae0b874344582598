"""SDD-FIQA quality regressor (Ou et al., CVPR 2021, Sec. 3.3): the recognizer's backbone without its
embedding layer, dropout 0.5 and one fully connected output, regressing SDD labels (``[0, 100]``)
with the Huber loss (ζ = 1), Adam (lr 1e-3, weight decay 5e-4).

The backbone is the ONNX recognizer itself, converted to torch by :mod:`.onnx_to_torch` (no
re-implementation: the converted graph reproduces the ONNX embeddings to ~1e-5, tested on LFW
crops). To keep CPU training cheap and the shipped file small, the recognizer is cut in three:

* a **frozen prefix**, input → ``cut`` (default: the input of the last resolution stage, after the
  last stride-2 block; 256×7×7 for ``w600k_mbf``), run once per training image with onnxruntime
  and cached (float16);
* a **trainable suffix**, ``cut`` → ``backbone_out`` (the tensor the embedding layer flattens;
  64×7×7 for ``w600k_mbf``), initialised from the recognizer and fine-tuned;
* the **embedding layer** (Flatten → Gemm → BatchNorm), dropped; in its place Dropout(0.5) →
  Flatten → Linear(C·H·W, 1).

The exported ONNX holds only the suffix and the head (input ``features`` = the ``cut`` tensor,
output ``quality``); at inference it is composed with the recognizer the user already has
(:mod:`fiqa_plugin.quality.compose`), so one pass yields embedding and quality and no recognizer
weights are shipped.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
import torch
from torch import nn

from ..errors import UsageError
from .onnx_to_torch import OnnxGraphModule
from .train import ordinal_srcc
from .trainer import TrainingRun, fit

log = logging.getLogger(__name__)


@dataclass
class RecognizerSplit:
    """Tensor names that cut a recognizer graph into prefix / suffix / embedding layer."""

    input: str
    cut: str
    backbone_out: str
    embedding: str


def find_split(model: onnx.ModelProto, cut: Optional[str] = None) -> RecognizerSplit:
    """Locate the embedding layer (the last Gemm/MatMul and the Flatten/Reshape before it) and the
    default ``cut``: the skip input of the first residual Add after the last stride-2 Conv."""
    g = model.graph
    nodes = list(g.node)
    producer = {o: i for i, n in enumerate(nodes) for o in n.output}
    inits = {i.name for i in g.initializer}
    lin = [i for i, n in enumerate(nodes) if n.op_type in ("Gemm", "MatMul")]
    if not lin:
        raise UsageError("no Gemm/MatMul embedding layer found in the recognizer graph")
    t = nodes[lin[-1]].input[0]
    while t in producer and nodes[producer[t]].op_type in ("Flatten", "Reshape"):
        t = nodes[producer[t]].input[0]
    backbone_out = t
    if cut is None:
        strided = [i for i, n in enumerate(nodes) if n.op_type == "Conv" and any(
            a.name == "strides" and max(a.ints) > 1 for a in n.attribute)]
        start = strided[-1] if strided else 0
        adds = [i for i, n in enumerate(nodes) if n.op_type == "Add" and i > start and i < producer[backbone_out]]
        if not adds:
            raise UsageError("no residual Add after the last stride-2 Conv: pass cut= (a tensor name)")
        ins = [x for x in nodes[adds[0]].input if x in producer and x not in inits]
        cut = min(ins, key=lambda x: producer[x])
    elif cut not in producer:
        raise UsageError(f"cut tensor {cut!r} is not produced by any node of the recognizer graph")
    inp = [i.name for i in g.input if i.name not in inits][0]
    return RecognizerSplit(inp, cut, backbone_out, g.output[0].name)


def prefix_session(recognizer_path: os.PathLike | str, split: RecognizerSplit, threads: int = 1):
    """An onnxruntime session of the recognizer with outputs ``[cut, embedding]`` (one pass, both)."""
    import onnxruntime as ort

    m = onnx.load(str(recognizer_path))
    known = {o.name for o in m.graph.output}
    if split.cut not in known:
        m.graph.output.insert(0, onnx.helper.make_tensor_value_info(split.cut, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def preprocess(crops_bgr: np.ndarray) -> np.ndarray:
    """ArcFace input: RGB, ``(x − 127.5) / 127.5``, NCHW float32."""
    x = (crops_bgr[..., ::-1].astype(np.float32) - 127.5) / 127.5
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def prefix_features(recognizer_path: os.PathLike | str, split: RecognizerSplit, crops_bgr: np.ndarray,
                    threads: int = 1, batch: int = 64, progress=None) -> Tuple[np.ndarray, np.ndarray]:
    """``(features [N, C, H, W] float16 at the cut, raw embeddings [N, d] float32)`` of aligned crops."""
    sess = prefix_session(recognizer_path, split, threads)
    names = [split.cut, split.embedding]
    feats, embs = [], []
    for s in range(0, len(crops_bgr), batch):
        f, e = sess.run(names, {split.input: preprocess(crops_bgr[s : s + batch])})
        feats.append(f.astype(np.float16))
        embs.append(e.astype(np.float32))
        if progress:
            progress(min(len(crops_bgr), s + batch), len(crops_bgr))
    return np.concatenate(feats), np.concatenate(embs)


class SDDRegressor(nn.Module):
    """Recognizer suffix (``cut`` → ``backbone_out``) + Dropout(0.5) + Linear → one quality value."""

    def __init__(self, recognizer: onnx.ModelProto | str, split: RecognizerSplit, feature_shape: Sequence[int],
                 dropout: float = 0.5, init_bias: float = 50.0) -> None:
        super().__init__()
        self.suffix = OnnxGraphModule(recognizer, inputs=[split.cut], outputs=[split.backbone_out])
        with torch.no_grad():
            n = int(np.prod(self.suffix(torch.zeros(1, *feature_shape)).shape[1:]))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(n, 1)
        nn.init.normal_(self.fc.weight, std=1e-3)
        nn.init.constant_(self.fc.bias, init_bias)  # start at the label mean: the first epochs learn ranks, not offsets

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.suffix(features)).flatten(1))


class MeanRegressor(nn.Module):
    """The mean output of several regressors on one input: a seed ensemble exported as one graph."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(features) for m in self.members]).mean(0)


@dataclass
class SDDTrainConfig:
    epochs: int = 6
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 5e-4
    huber_delta: float = 1.0  # ζ
    dropout: float = 0.5
    val_fraction: float = 0.1
    seed: int = 0
    threads: int = 1
    cut: Optional[str] = None
    extra: Dict[str, object] = field(default_factory=dict)


def train_sdd_regressor(features: np.ndarray, labels: np.ndarray, identities: np.ndarray,
                        recognizer_path: os.PathLike | str, split: RecognizerSplit, cfg: SDDTrainConfig,
                        out: os.PathLike | str, resume: bool = True, progress: bool = False,
                        on_epoch_end: Optional[Callable[[int, Dict], None]] = None) -> Tuple[SDDRegressor, List[dict]]:
    """Fine-tune the suffix + head on cached ``features`` (float16 ``[N, C, H, W]``) and labels (``[0, 100]``).

    Identities are split into train / validation (``val_fraction``); :func:`.trainer.fit` writes a
    checkpoint ``last.pt`` after every epoch and resumes from it, ``best.pt`` keeps the epoch with the
    best held-out SRCC (the returned model); the history goes to ``history.json``. ``on_epoch_end(epoch,
    record)`` runs after each epoch's ``last.pt`` is written (e.g. to judge the epoch on a validation
    protocol of one's own, as ``benchmarks/sdd_tier.py`` does).
    """
    from .data import split_by_identity

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    ok = np.isfinite(labels)
    tr, va = split_by_identity(identities, cfg.val_fraction, cfg.seed)
    tr, va = np.flatnonzero(tr & ok), np.flatnonzero(va & ok)
    model = SDDRegressor(str(recognizer_path), split, features.shape[1:], cfg.dropout, float(np.mean(labels[tr])))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = nn.HuberLoss(delta=cfg.huber_delta)
    y = torch.from_numpy(labels.astype(np.float32))

    def batch_loss(model: nn.Module, b: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        idx = np.sort(b)  # sorted within the batch: the order the shipped weights were trained with
        return loss_fn(model(torch.from_numpy(features[idx].astype(np.float32)))[:, 0], y[idx])

    def validate(model: nn.Module) -> Dict[str, float]:
        pred = predict(model, features[va])
        return {"val_mae": float(np.mean(np.abs(pred - labels[va]))), "val_srcc": ordinal_srcc(pred, labels[va])}

    # model selection on held-out CelebA identities: best.pt, the returned model
    return fit(TrainingRun(model, opt, tr, cfg.batch_size, cfg.epochs, batch_loss, rng_key=[cfg.seed],
                           config={**asdict(cfg), "split": asdict(split)}, out_dir=out, validate=validate,
                           loss_name="train_huber", select_by="val_srcc", checkpoint_extra={"split": asdict(split)},
                           progress=progress, resume=resume, on_epoch_end=on_epoch_end))


@torch.no_grad()
def predict(model: nn.Module, features: np.ndarray, batch: int = 256) -> np.ndarray:
    model.eval()
    out = [model(torch.from_numpy(features[s : s + batch].astype(np.float32)))[:, 0].numpy()
           for s in range(0, len(features), batch)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


@dataclass
class FeatureSet:
    """Clean + degraded training faces seen through a recognizer: cut features and raw embeddings."""

    features: np.ndarray  # [N, C, H, W] float16, the recognizer's tensor at ``split.cut``
    embeddings: np.ndarray  # [N, d] float32, raw (un-normalised) embeddings
    identities: np.ndarray  # [N] int
    source: np.ndarray  # [N] index of the clean face in the FaceSet
    degradation: np.ndarray  # [N] "" for clean faces
    names: np.ndarray  # identity folder names
    paths: np.ndarray  # [n_clean] source image paths

    @property
    def normed(self) -> np.ndarray:
        return self.embeddings / np.linalg.norm(self.embeddings, axis=1, keepdims=True)


def build_feature_set(root: os.PathLike | str, recognizer: str = "buffalo_sc", degrade_copies: int = 2,
                      profile: str = "v2", seed: int = 0, cut: Optional[str] = None, threads: int = 1,
                      pack: str = "buffalo_sc", cache: bool = True, progress=None) -> Tuple[FeatureSet, RecognizerSplit]:
    """Clean faces of ``root`` (detected and aligned by :func:`~.data.embed_folder`) plus
    ``degrade_copies`` degraded copies (:func:`~.data.degrade`, the same copies as
    :func:`~.data.build_training_set` with this ``profile`` and ``seed``), each run once through
    the recognizer for its ``cut`` features and raw embedding. Cached per copy under
    ``cache_dir()/training`` (float16 features, ~25 KB per face for ``w600k_mbf``)."""
    from ..plugins import RECOGNIZERS
    from ..faces.dataset import cache_key, dataset_cache_dir, embed_folder
    from .data import CACHE_VERSION, degrade, v2_copy

    faces = embed_folder(root, pack, recognizer, threads, progress=progress)
    rec_path = RECOGNIZERS.create(recognizer, threads=1).model_path
    split = find_split(onnx.load(rec_path), cut)
    parts = []
    for c in range(-1, degrade_copies):
        if c < 0:
            crops, desc = faces.crops, np.full(len(faces.crops), "", dtype=object)
        elif profile == "v2":
            crops, desc = v2_copy(faces, seed, c)
        else:  # v1 draws every copy from one generator, as build_training_set does
            rng = np.random.default_rng(seed)
            for _ in range(c + 1):
                out = [degrade(x, rng) for x in faces.crops]
            crops, desc = np.stack([o[0] for o in out]), np.array([o[1] for o in out])
        key = cache_key(CACHE_VERSION, "sddfeat", [str(p) for p in faces.paths], recognizer, os.path.getsize(rec_path),
                   split.cut, profile, seed, c)
        path = dataset_cache_dir() / f"sddfeat-{key}.npz"
        if cache and path.exists():
            with np.load(path, allow_pickle=False) as z:
                f, e = z["features"], z["embeddings"]
        else:
            log.info("recognizer features of copy %d (%d faces)", c, len(crops))
            f, e = prefix_features(rec_path, split, crops, threads, progress=progress)
            if cache:
                tmp = path.with_suffix(".tmp.npz")
                np.savez(tmp, features=f, embeddings=e)
                os.replace(tmp, path)
        parts.append((f, e, np.asarray(desc).astype(str)))
    n = len(faces.crops)
    fs = FeatureSet(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                    np.tile(faces.identities, len(parts)).astype(np.int64), np.tile(np.arange(n), len(parts)),
                    np.concatenate([p[2] for p in parts]), faces.names, faces.paths)
    return fs, split
