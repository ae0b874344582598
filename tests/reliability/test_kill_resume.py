"""Long jobs killed with a real SIGKILL resume and lose nothing: ``fiqa score`` (the CSV is the
checkpoint), a torn last CSV row, and ``fiqa label`` (the embedding cache is written in shards)."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fiqa_plugin.cli.main import main
from fiqa_plugin.io.writers import OPEN_KW, CsvRows, complete_length
from fiqa_plugin.paths import REPO_DIR


def _lfw(shared, n: int) -> list:
    return sorted(str(p) for p in (shared / "data" / "lfw" / "images").glob("A*/*.jpg"))[:n]


def _rows(path) -> list:
    return list(csv.DictReader(open(path, **OPEN_KW)))


def _env(**kw) -> dict:
    return dict(os.environ, FIFTYONE_DO_NOT_TRACK="true", **kw)


def _kill_when(cmd, ready, env, timeout=300.0):
    """Run ``cmd`` and SIGKILL it as soon as ``ready()`` holds; fails if it finished first."""
    proc = subprocess.Popen(cmd, cwd=str(REPO_DIR), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t = time.monotonic()
    while proc.poll() is None and not ready() and time.monotonic() - t < timeout:
        time.sleep(0.02)
    assert proc.poll() is None, f"finished before the kill point: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_score_killed_then_resumed_keeps_every_row_once(shared, tmp_path):
    imgs = _lfw(shared, 160)  # with detection (~40 ms an image) the run outlasts the first checkpoint (64 rows)
    lst = tmp_path / "list.txt"
    lst.write_text("\n".join(imgs) + "\n")
    out = tmp_path / "scores.csv"
    cmd = [sys.executable, "-m", "fiqa_plugin.cli.main", "score", str(lst), "--out", str(out), "--method", "blur",
           "--batch-size", "8"]
    _kill_when(cmd, lambda: out.exists() and len(out.read_bytes().splitlines()) > 1, _env())
    before = out.read_bytes()[: complete_length(out)]
    kept = len(_rows(out))
    assert 1 <= kept < len(imgs)
    done = subprocess.run(cmd + ["--resume"], cwd=str(REPO_DIR), env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"scored {len(imgs) - kept} images" in done.stdout
    rows = _rows(out)
    assert out.read_bytes().startswith(before)  # what was there is untouched
    assert sorted(r["path"] for r in rows) == sorted(imgs)  # each image exactly once
    assert all(r["status"] == "ok" for r in rows)


def test_torn_last_row_is_dropped_and_redone(lfw_images, tmp_path, capsys):
    lst = tmp_path / "list.txt"
    lst.write_text("\n".join(lfw_images[:3]) + "\n")
    out = tmp_path / "scores.csv"
    assert main(["score", str(lst), "--method", "blur", "--out", str(out)]) == 0
    good = out.read_bytes()
    lines = good.splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:-1]) + lines[-1][:25])  # a write cut mid-row, no newline
    assert main(["score", str(lst), "--method", "blur", "--out", str(out), "--resume"]) == 0
    assert "scored 1 images" in capsys.readouterr().out
    assert out.read_bytes() == good


def test_torn_row_inside_a_quoted_field(tmp_path):
    p = tmp_path / "x.csv"
    with CsvRows(p, ["path", "q"]) as w:
        w.write(["a.jpg", "1"])
        w.write(["new\nline.jpg", "2"])
    full = p.read_bytes()
    p.write_bytes(full[: full.index(b"new\n") + 4])  # cut inside the quoted name: the newline is not a row end
    with CsvRows(p, ["path", "q"], resume=True) as w:
        assert w.done == {"a.jpg"}
        w.write(["new\nline.jpg", "2"])
    assert p.read_bytes() == full


def test_resume_refuses_other_columns(tmp_path):
    from fiqa_plugin.errors import ResumeError

    p = tmp_path / "x.csv"
    p.write_text("path,quality\na.jpg,1\n")
    with pytest.raises(ResumeError, match="columns"):
        CsvRows(p, ["path", "quality", "status"], resume=True)


def test_label_killed_then_resumed_matches_an_uninterrupted_run(shared, tmp_path):
    """A kill after the first checkpoint shard: the re-run loads it (not re-embedded: same file, same
    mtime) and the labels equal those of a run that was never killed."""
    from fiqa_plugin.faces import dataset

    root = tmp_path / "ids"
    lfw = shared / "data" / "lfw" / "images"
    people = (d for d in sorted(lfw.iterdir()) if len(list(d.glob("*.jpg"))) >= 2)
    n = 0
    for d in people:
        (root / d.name).mkdir(parents=True)
        for f in sorted(d.glob("*.jpg"))[:6]:
            (root / d.name / f.name).symlink_to(f)
            n += 1
        if n >= dataset.CHUNK + 24:
            break
    killed_cache, clean_cache = tmp_path / "cache_killed", tmp_path / "cache_clean"
    cmd = [sys.executable, "-m", "fiqa_plugin.cli.main", "label", str(root), "--method", "center"]
    # finished face shards only (one per CHUNK images): a kill can leave a half-written ".<name>.tmp" beside them
    shards = lambda: list(killed_cache.glob("training/faces-*/faces/*.npz"))  # noqa: E731
    _kill_when(cmd + ["--out", str(tmp_path / "killed.csv")], lambda: bool(shards()), _env(FIQA_CACHE=str(killed_cache)))
    assert not (tmp_path / "killed.csv").exists()
    kept = len(shards()) * dataset.CHUNK
    verbose = cmd[:3] + ["-v"] + cmd[3:]
    r = subprocess.run(verbose + ["--out", str(tmp_path / "killed.csv")], cwd=str(REPO_DIR), capture_output=True,
                       text=True, env=_env(FIQA_CACHE=str(killed_cache)))
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"resumed: {kept} of {n} images loaded from the checkpoints" in r.stderr
    r = subprocess.run(cmd + ["--out", str(tmp_path / "clean.csv")], cwd=str(REPO_DIR), capture_output=True, text=True,
                       env=_env(FIQA_CACHE=str(clean_cache)))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "killed.csv").read_text() == (tmp_path / "clean.csv").read_text()
    assert len(_rows(tmp_path / "clean.csv")) == n
