"""Inference makes no network call: ``fiqa score``, ``QualityScorer`` and InsightFace's
``FaceAnalysis(quality=True)`` run in a subprocess whose sockets refuse (and record) every
attempt to reach another host or resolve a name."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from fiqa_plugin.paths import REPO_DIR

SITECUSTOMIZE = '''
import os, socket

_LOG = os.environ["FIQA_NET_LOG"]


def _refuse(what):
    def deny(*args, **kw):
        with open(_LOG, "a") as fh:
            fh.write(f"{what} {args[1:2] if what.startswith('socket.') else args[:1]}\\n")
        raise OSError(f"network disabled by the offline test ({what})")
    return deny


_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _inet_only(real, what):
    def call(self, *args, **kw):  # local (AF_UNIX) sockets stay allowed
        if self.family in (socket.AF_INET, socket.AF_INET6):
            return _refuse(what)(self, *args, **kw)
        return real(self, *args, **kw)
    return call


socket.socket.connect = _inet_only(_connect, "socket.connect")
socket.socket.connect_ex = _inet_only(_connect_ex, "socket.connect_ex")
socket.socket.sendto = _inet_only(socket.socket.sendto, "socket.sendto")
socket.getaddrinfo = _refuse("getaddrinfo")
socket.gethostbyname = _refuse("gethostbyname")
'''

SCRIPT = '''
import socket, sys
from fiqa_plugin.scoring import QualityScorer
rows = list(QualityScorer().score(sys.argv[1:3]))
assert [r.status for r in rows] == ["ok", "ok"], rows
import cv2
from fiqa_plugin.integrations.insightface import FaceAnalysis
app = FaceAnalysis(name="buffalo_sc", providers=["CPUExecutionProvider"], quality=True)
app.prepare(ctx_id=-1)
faces = app.get(cv2.imread(sys.argv[3]))
assert len(faces) == 6 and all(f.quality == f.quality for f in faces)
print("INFERENCE DONE")
try:  # the guard itself works: this attempt is refused and recorded
    socket.create_connection(("127.0.0.1", 9), timeout=1)
except OSError:
    print("GUARD WORKS")
'''


def test_inference_makes_no_network_call(tmp_path, lfw_images, group_photo):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    log = tmp_path / "net.log"
    env = dict(os.environ, FIQA_NET_LOG=str(log), FIFTYONE_DO_NOT_TRACK="true",
               PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "s.csv"
    cli = subprocess.run([sys.executable, "-m", "fiqa_plugin.cli.main", "score", lfw_images[0], "--out", str(out)],
                         cwd=str(REPO_DIR), env=env, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert not log.exists(), log.read_text()
    lib = subprocess.run([sys.executable, "-c", SCRIPT, *lfw_images[:2], group_photo], cwd=str(REPO_DIR), env=env,
                         capture_output=True, text=True)
    assert lib.returncode == 0, lib.stderr[-3000:]
    assert "INFERENCE DONE" in lib.stdout and "GUARD WORKS" in lib.stdout, lib.stdout
    assert log.read_text().splitlines() == ["getaddrinfo ('127.0.0.1',)"]  # only the guard's own probe


def test_backbone_weights_never_unpickle_code(tmp_path):
    """A .pth that is a pickled object (which could run code when loaded) is refused, not executed."""
    import pytest
    import torch

    from fiqa_plugin.errors import ModelError
    from fiqa_plugin.training.ensemble.model import read_state_dict

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"model": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(ModelError, match="pickled modules are not loaded"):
        read_state_dict(tmp_path / "evil.pth")
    assert not marker.exists()
    torch.save({"state_dict": {"w": torch.ones(2)}}, tmp_path / "ok.pth")
    assert torch.equal(read_state_dict(tmp_path / "ok.pth")["w"], torch.ones(2))


def test_no_unsafe_torch_load():
    """Every torch.load in the package (checkpoints included) is weights_only=True: no file, wherever it
    came from, is unpickled as arbitrary objects."""
    import re

    found = set()
    for p in [*REPO_DIR.glob("fiqa_plugin/**/*.py"), *REPO_DIR.glob("zoo/*.py"), *REPO_DIR.glob("operators/*.py")]:
        for m in re.finditer(r"torch\.load\(([^()]|\([^()]*\))*\)", p.read_text()):
            if "weights_only=True" not in m.group(0):
                found.add(f"{p.relative_to(REPO_DIR)}: {m.group(0)}")
    assert not found, found
