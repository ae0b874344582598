"""onnxruntime session creation with the project's threading defaults."""
from __future__ import annotations

import os
from typing import Optional, Union

import onnxruntime as ort
from .errors import MissingAssetError

#: Environment variable that sets the default intra-op threads of every session.
THREADS_ENV = "FIQA_THREADS"


def default_threads() -> int:
    env = os.environ.get(THREADS_ENV)
    if env:
        return max(1, int(env))
    return max(1, min(os.cpu_count() or 1, 4))


def make_session(model_path: Union[str, bytes], threads: Optional[int] = None) -> ort.InferenceSession:
    """A CPU (or first available provider) session with ``threads`` intra-op threads.

    ``model_path`` may also be a serialised model (``bytes``), e.g. a graph composed in memory.
    """
    if not isinstance(model_path, (bytes, bytearray)) and not os.path.exists(model_path):
        raise MissingAssetError(f"ONNX model not found: {model_path}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or default_threads()
    opts.inter_op_num_threads = 1
    # Idle intra-op threads sleep instead of spinning: on a busy or shared CPU, and when the pipelined
    # driver runs detector and quality sessions side by side, spinning threads took the cores the
    # other work needed (docs/performance.md, measured on the shared 2-core machine).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    return ort.InferenceSession(model_path, sess_options=opts, providers=providers)
