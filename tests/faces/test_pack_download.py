"""A missing InsightFace pack is fetched with InsightFace's own downloader (a pack zip served from 127.0.0.1),
or, when that fails, one MissingAssetError names the pack, the folder and the environment variable."""
import functools
import http.server
import socket
import threading
import zipfile

import pytest

from fiqa_plugin.errors import MissingAssetError
from fiqa_plugin.faces.pipeline import FacePipeline
from fiqa_plugin.paths import INSIGHTFACE_ROOT_ENV, pack_dir


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def pack_server(tmp_path, monkeypatch):
    """A 'release' folder with buffalo_sc.zip (the shared pack's detector) on 127.0.0.1, set as InsightFace's URL."""
    import insightface.utils.storage as storage

    srv_dir = tmp_path / "release"
    srv_dir.mkdir()
    det = next(pack_dir("buffalo_sc", download=False).glob("det_*.onnx"))
    with zipfile.ZipFile(srv_dir / "buffalo_sc.zip", "w", zipfile.ZIP_STORED) as z:
        z.write(det, det.name)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(srv_dir)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setattr(storage, "MODEL_ZOO_RELEASE_DOWNLOAD_URL", f"http://127.0.0.1:{srv.server_address[1]}/")
    yield det
    srv.shutdown()


def test_missing_pack_is_downloaded_then_used(pack_server, tmp_path, monkeypatch, lfw_images):
    root = tmp_path / "home-insightface"
    monkeypatch.setenv(INSIGHTFACE_ROOT_ENV, str(root))
    pipe = FacePipeline.from_pack("buffalo_sc", mode="largest")  # no root given: the env var's folder
    assert (root / "models" / "buffalo_sc" / pack_server.name).read_bytes() == pack_server.read_bytes()
    assert pipe.process(lfw_images[0]).ok
    assert pack_dir("buffalo_sc") == root / "models" / "buffalo_sc"  # second use: no download


def test_offline_fails_with_one_message(tmp_path, monkeypatch):
    import insightface.utils.storage as storage

    with socket.socket() as s:  # a port nobody listens on: connection refused, like being offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(storage, "MODEL_ZOO_RELEASE_DOWNLOAD_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(MissingAssetError) as err:
        FacePipeline.from_pack("buffalo_sc", root=tmp_path, mode="largest")
    msg = str(err.value)
    assert "'buffalo_sc'" in msg and str(tmp_path / "models" / "buffalo_sc") in msg and INSIGHTFACE_ROOT_ENV in msg
    assert not (tmp_path / "models" / "buffalo_sc").exists() and not (tmp_path / "models" / "buffalo_sc.zip").exists()
