"""The one archive the project unpacks is an InsightFace model pack (``paths.fetch_pack``, first use of a
missing pack; the FiftyOne zoo's ``download_model`` only copies files of the installed package). A
crafted pack zip with an absolute member, ``..`` members and a symlink entry pointing outside must
write nothing outside ``root/models/<pack>`` and create no link."""
from __future__ import annotations

import os
import shutil
import stat
import zipfile


def _evil_zip(path, onnx_bytes: bytes) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("det_10g.onnx", onnx_bytes)
        z.writestr("/tmp/fiqa_evil_abs.txt", "absolute")
        z.writestr("../../escaped.txt", "dot-dot")
        z.writestr("sub/../../../escaped2.txt", "dot-dot inside")
        link = zipfile.ZipInfo("link_out")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16  # a symlink entry, as `zip -y` stores it
        z.writestr(link, "../../../../etc/passwd")


def test_crafted_pack_zip_stays_inside_the_pack_folder(tmp_path, monkeypatch, shared):
    import insightface.utils.storage as storage

    from fiqa_plugin.paths import fetch_pack, insightface_root

    onnx = next((insightface_root() / "models" / "buffalo_sc").glob("det_*.onnx")).read_bytes()
    served = tmp_path / "served.zip"
    _evil_zip(served, onnx)
    # the network is replaced by the crafted file; everything after it is the real download path
    def fake_download(url, path, overwrite=True):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(served, path)
        return path

    monkeypatch.setattr(storage, "download_file", fake_download)
    root = tmp_path / "root" / "deep"
    before = {p for p in tmp_path.rglob("*")}
    if os.path.exists("/tmp/fiqa_evil_abs.txt"):
        os.unlink("/tmp/fiqa_evil_abs.txt")
    d = fetch_pack("evilpack", root)
    assert d == root / "models" / "evilpack"
    new = {p for p in tmp_path.rglob("*")} - before
    outside = [p for p in new if d not in (p, *p.parents) and p != d.with_suffix(".zip") and p not in d.parents]
    assert not outside, outside
    assert not os.path.exists("/tmp/fiqa_evil_abs.txt")
    assert not any(p.is_symlink() for p in d.rglob("*"))
    assert (d / "det_10g.onnx").read_bytes() == onnx
    # what Python's zipfile does with them: names made relative, the link stored as a plain file
    assert (d / "escaped.txt").is_file() and (d / "tmp" / "fiqa_evil_abs.txt").is_file()
    assert (d / "link_out").read_text() == "../../../../etc/passwd"
