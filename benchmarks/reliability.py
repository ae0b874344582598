"""Reliability: a generated corpus of hostile files through ``fiqa score``, and the kill -9 matrix.

    .venv/bin/python benchmarks/reliability.py [--out DIR] [--skip-kill]

Builds the corpus (nothing binary is committed: every file is made here from real LFW photos in
the shared folder, by seeded mutations and hand-made headers), runs it through the real CLI in a
subprocess (``--mode aligned --method blur``: the decode path without detection, and ``--mode
largest`` with the default method: the path users run), and prints: files per kind, statuses,
rows lost (must be 0), the slowest file, peak RSS. The same corpus goes through FiftyOne:
``compute_quality`` (what the operators run) and FiftyOne's own ``apply_model``. Then the kill -9
matrix: ``fiqa score``, ``fiqa label``, ``fiqa train`` (every architecture) and ``fiqa ensemble
train`` killed with SIGKILL and re-run, with rows/faces/epochs kept, redone and lost. Results and
the command are in docs/reliability.md. ``tests/reliability/``, ``tests/training/test_train_kill_cli.py``
and ``tests/integrations/test_fiftyone_delegated_kill.py`` assert the same with real kills.
"""
from __future__ import annotations

import argparse
import collections
import csv
import io
import json
import os
import random
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SEED_IMAGES = ["Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "AJ_Cook/AJ_Cook_0001.jpg"]
FORMATS = {"jpg": ("JPEG", {"quality": 85}), "png": ("PNG", {}), "webp": ("WEBP", {"quality": 80}),
           "tif": ("TIFF", {"compression": "tiff_deflate"}), "bmp": ("BMP", {}), "gif": ("GIF", {})}
#: Statuses a row may carry: the decoder's (fiqa_plugin.imageio.STATUSES) and the pipeline's.
ROW_STATUSES = {"ok", "no_face", "no_score", "error", "missing", "unreadable", "not_an_image", "truncated",
                "too_large", "timeout"}


@dataclass
class Entry:
    path: str
    kind: str


def lfw_dir() -> Path:
    from fiqa_plugin.paths import shared_dir

    return shared_dir() / "data" / "lfw" / "images"


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes = b"") -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header(w: int, h: int, mode: int = 2, idat: bytes = b"") -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, mode, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat or zlib.compress(b"\0" * 64))
            + _chunk(b"IEND"))


def header_bombs() -> Dict[str, bytes]:
    """A file per format Pillow decodes here whose header claims far more pixels than the data holds."""
    W = H = 60000
    tiny = Image.new("RGB", (8, 8), (120, 90, 60))
    out: Dict[str, bytes] = {}
    for side in (8193, 30000, 65535):
        out[f"png_{side}.png"] = png_header(side, side)
    gif = (b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0) + b"," + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0)
           + b"\x02\x02\x4c\x01\x00;")
    out["gif_65535.gif"] = gif
    bmp = bytearray(_encode(tiny, "BMP"))
    bmp[18:26] = struct.pack("<ii", W, H)
    out["bmp_60000.bmp"] = bytes(bmp)
    jpg = bytearray(_encode(tiny, "JPEG"))
    sof = jpg.index(b"\xff\xc0")
    jpg[sof + 5: sof + 9] = struct.pack(">HH", 65000, 65000)  # draft-decoded at 1/8, then truncated
    out["jpeg_65000.jpg"] = bytes(jpg)
    ifd = [(256, 4, W), (257, 4, H), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8 + 2 + 10 * 12 + 4),
           (277, 3, 1), (278, 4, H), (279, 4, 16)]
    tif = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(ifd))
    for tag, typ, val in ifd:
        tif += struct.pack("<HHI", tag, typ, 1) + (struct.pack("<HH", val, 0) if typ == 3 else struct.pack("<I", val))
    out["tiff_60000.tif"] = tif + b"\0\0\0\0" + b"\0" * 16
    webp = bytearray(_encode(tiny, "WEBP", lossless=True))
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + (16383 - 1).to_bytes(3, "little") * 2
    webp = webp[:12] + vp8x + webp[12:]
    webp[4:8] = struct.pack("<I", len(webp) - 8)
    out["webp_16383.webp"] = bytes(webp)
    out["ppm_60000.ppm"] = b"P6\n60000 60000\n255\n" + b"\x80" * 64
    out["pgm_60000.pgm"] = b"P5\n60000 60000\n65535\n" + b"\x80" * 64
    tga = bytearray(_encode(tiny, "TGA"))
    tga[12:16] = struct.pack("<HH", 65535, 65535)
    out["tga_65535.tga"] = bytes(tga)
    pcx = bytearray(_encode(tiny, "PCX"))
    pcx[8:12] = struct.pack("<HH", 65534, 65534)
    out["pcx_65535.pcx"] = bytes(pcx)
    sgi = bytearray(_encode(tiny, "SGI"))
    sgi[6:10] = struct.pack(">HH", 65535, 65535)
    out["sgi_65535.sgi"] = bytes(sgi)
    psd = b"8BPS" + struct.pack(">HxxxxxxHIIHH", 1, 3, 30000, 30000, 8, 3) + struct.pack(">III", 0, 0, 0) + b"\0\0" + b"\0" * 64
    out["psd_30000.psd"] = psd
    out["qoi_60000.qoi"] = b"qoif" + struct.pack(">IIBB", W, H, 3, 0) + b"\0" * 64
    dds = bytearray(_encode(tiny, "DDS"))
    dds[12:20] = struct.pack("<II", 60000, 60000)
    out["dds_60000.dds"] = bytes(dds)
    png = png_header(30000, 30000)
    ico = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 22) + png
    out["ico_png_30000.ico"] = ico
    j2k = bytearray(_encode(tiny, "JPEG2000"))
    ihdr = j2k.index(b"ihdr")
    j2k[ihdr + 4: ihdr + 12] = struct.pack(">II", 60000, 60000)
    out["jp2_60000.jp2"] = bytes(j2k)
    # A 64 Mi-pixel zlib bomb under the budget (decoded: it is legal) and one just over it (refused).
    side = 8192
    rows = zlib.compress(b"\0" * (side + 1) * side, 9)
    out["png_zlib_8192.png"] = png_header(side, side, mode=0, idat=rows)
    out["png_zlib_8193.png"] = png_header(side + 1, side, mode=0, idat=rows)
    # Millions of empty private chunks before the image data: the CPU-time guard's case.
    good = _encode(Image.new("RGB", (32, 32)), "PNG")
    out["png_chunks_2M.png"] = good[:33] + _chunk(b"prVt") * 2_000_000 + good[33:]
    # Formats Pillow can open that are refused without running anything (EPS would start Ghostscript).
    out["eps_as_jpg.jpg"] = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 60000 60000\nshowpage\n"
    return out


def build_corpus(root: os.PathLike | str, per_seed: int = 27, seed: int = 0) -> List[Entry]:
    """Write the hostile corpus under ``root``; returns every entry (a file, link, FIFO or folder)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    entries: List[Entry] = []

    def put(name: str, data: bytes, kind: str) -> None:
        p = root / kind / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        entries.append(Entry(str(p), kind))

    photos = [Image.open(lfw_dir() / n).convert("RGB") for n in SEED_IMAGES]
    encoded = {(i, ext): _encode(im, fmt, **kw) for i, im in enumerate(photos) for ext, (fmt, kw) in FORMATS.items()}
    for (i, ext), data in encoded.items():
        put(f"s{i}.{ext}", data, "intact")
        for k in range(per_seed):  # truncations at offsets spread over the whole file (header included)
            cut = max(1, int(len(data) * (k + 0.5) / per_seed)) if k else rng.randrange(1, 64)
            put(f"s{i}_cut{cut}.{ext}", data[:cut], "truncated")
        for k in range(per_seed):
            b = bytearray(data)
            for _ in range(rng.choice((1, 2, 4, 16, 64))):
                pos = rng.randrange(len(b))
                b[pos] ^= 1 << rng.randrange(8)
            put(f"s{i}_flip{k}.{ext}", bytes(b), "bit_flip")
        for k in range(per_seed * 3 // 5):
            b = bytearray(data)
            a = rng.randrange(len(b))
            span = bytearray(b[a: a + rng.choice((16, 64, 512, 4096))])
            rng.shuffle(span)
            b[a: a + len(span)] = span
            put(f"s{i}_shuf{k}.{ext}", bytes(b), "byte_shuffle")
    for ext in FORMATS:
        for other in FORMATS:
            if other != ext:
                put(f"{ext}_as.{other}", encoded[(0, ext)], "wrong_extension")
    for ext in list(FORMATS) + ["jpeg", "JPG", "PNG"]:
        put(f"zero.{ext}", b"", "zero_byte")
    for k in range(10):
        junk = bytes(rng.randrange(256) for _ in range(rng.choice((1, 10, 1000, 100000))))
        put(f"junk{k}.jpg", junk if k % 2 else b"hello, not an image\n" * (k + 1), "garbage")
    for name, data in header_bombs().items():
        put(name, data, "header_bomb")
    face = photos[0]
    for k in range(20):  # EXIF that lies: orientation out of range, offsets past the end, random payloads
        exif = Image.Exif()
        exif[0x0112] = [0, 9, 77, 65535, 6][k % 5]
        data = bytearray(_encode(face, "JPEG", exif=exif))
        app1 = data.index(b"Exif\0\0")
        end = app1 - 2 + struct.unpack(">H", data[app1 - 2: app1])[0]  # APP1 length counts its own 2 bytes
        if k >= 5:  # bytes of the TIFF structure inside the EXIF block only: the image data stays intact
            for _ in range(k):
                data[rng.randrange(app1 + 6 + 4, end)] = rng.randrange(256)
        put(f"exif{k}.jpg", bytes(data), "lying_exif")
    for k in range(20):
        fmt, ext = [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("TIFF", "tif")][k % 4]
        icc = bytes(rng.randrange(256) for _ in range(rng.choice((4, 128, 3000))))
        put(f"icc{k}.{ext}", _encode(face, fmt, icc_profile=icc), "garbage_icc")
    for n in (1, 2, 7, 113, 4096, 100_000, 1_000_000):
        for ext, fmt in (("png", "PNG"), ("jpg", "JPEG")):
            if fmt == "JPEG" and n > 65500:
                continue
            put(f"1x{n}.{ext}", _encode(face.resize((1, n)), fmt), "thin")
            put(f"{n}x1.{ext}", _encode(face.resize((n, 1)), fmt), "thin")
    arr = np.asarray(face)
    grey = np.asarray(face.convert("L"))
    odd = {
        "cmyk.jpg": _encode(face.convert("CMYK"), "JPEG"),
        "lab.tif": _encode(face.convert("LAB"), "TIFF"),
        "grey16.tif": _encode(Image.fromarray(grey.astype(np.uint16) * 257), "TIFF"),
        "grey16.png": _encode(Image.fromarray(grey.astype(np.uint16) * 257), "PNG"),
        "float.tif": _encode(Image.fromarray(grey.astype(np.float32) / 255.0, "F"), "TIFF"),
        "float_nan.tif": _encode(Image.fromarray(np.full((64, 64), np.nan, np.float32), "F"), "TIFF"),
        "int32.tif": _encode(Image.fromarray(grey.astype(np.int32) * 1000, "I"), "TIFF"),
        "bilevel.png": _encode(face.convert("1"), "PNG"),
        "palette.png": _encode(face.quantize(16), "PNG"),
        "la.png": _encode(face.convert("LA"), "PNG"),
        "rgba.webp": _encode(face.convert("RGBA"), "WEBP"),
        "ycbcr.tif": _encode(face, "TIFF", compression="jpeg"),
        "progressive.jpg": _encode(face, "JPEG", progressive=True),
        "rgb_as_bgr.ppm": _encode(Image.fromarray(arr[..., ::-1].copy()), "PPM"),
        "tiny.png": _encode(face.resize((8, 8)), "PNG"),
    }
    for name, data in odd.items():
        put(name, data, "odd_mode")
    frames = [face, face.transpose(Image.FLIP_LEFT_RIGHT), Image.new("RGB", face.size)]
    for ext, fmt, kw in (("gif", "GIF", {}), ("webp", "WEBP", {}), ("png", "PNG", {}), ("tif", "TIFF", {})):
        buf = io.BytesIO()
        frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], **kw)
        put(f"anim.{ext}", buf.getvalue(), "multi_frame")
    # file-system oddities
    fs = root / "filesystem"
    fs.mkdir(exist_ok=True)
    for k in range(5):
        loop = fs / f"loop{k}.jpg"
        loop.symlink_to(loop.name)
        entries.append(Entry(str(loop), "symlink_loop"))
        dangling = fs / f"dangling{k}.jpg"
        dangling.symlink_to(f"nowhere{k}.jpg")
        entries.append(Entry(str(dangling), "dangling_link"))
        d = fs / f"folder{k}.jpg"
        d.mkdir()
        entries.append(Entry(str(d), "directory"))
        noperm = fs / f"noperm{k}.jpg"
        noperm.write_bytes(encoded[(k % 2, "jpg")])
        noperm.chmod(0)  # root reads it anyway (see docs/reliability.md)
        entries.append(Entry(str(noperm), "no_permission"))
    (fs / "folder0.jpg" / "inside.jpg").write_bytes(encoded[(0, "jpg")])
    entries.append(Entry(str(fs / "folder0.jpg" / "inside.jpg"), "intact"))
    for k in range(2):
        fifo = fs / f"fifo{k}.jpg"
        os.mkfifo(fifo)
        entries.append(Entry(str(fifo), "fifo"))
    raw = os.fsencode(str(root / "names"))
    os.makedirs(raw, exist_ok=True)
    names = [b"caf\xe9.jpg", b"\xff\xfe.jpg", b"na\xefve_\x80.png", b"\xc3\x28.jpg", b"ok_\xe2\x82\xac.jpg",
             b"sp ace, comma \"quote\".jpg", b"semi;colon.jpg", b"tab\there.jpg", b"lead-dash.jpg", b"new\nline.jpg"]
    for k, n in enumerate(names):
        p = os.path.join(raw, n)
        with open(p, "wb") as fh:
            fh.write(encoded[(k % 2, "jpg")] if k % 3 else encoded[(k % 2, "jpg")][:500])
        entries.append(Entry(os.fsdecode(p), "odd_name"))
    return entries


def expected_rows(entries: List[Entry]) -> Dict[str, str]:
    """``{path: kind}`` of the entries that ``fiqa score FOLDER`` must give a row (all but folders,
    which are searched instead)."""
    return {e.path: e.kind for e in entries if e.kind != "directory"}


#: Peak RSS of this process since its exec, in MiB: ``VmHWM`` of /proc/self/status. Not
#: ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries the forking parent's peak across exec into it, so
#: a ``fiqa score`` started from a 4 GiB pytest process reported 4 GiB.
PEAK_RSS = """
def peak_rss_mib():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:")) / 1024
"""

_WRAPPER = PEAK_RSS + """
import json, sys, time
from fiqa_plugin.cli.main import main
t = time.perf_counter()
try:
    rc = main(sys.argv[2:])
finally:
    json.dump({"maxrss_mib": peak_rss_mib(), "wall_s": time.perf_counter() - t}, open(sys.argv[1], "w"))
sys.exit(rc)
"""


def run_score(folder: str, out_csv: str, *extra: str, timeout: float = 600) -> dict:
    """``fiqa score FOLDER --out CSV ...`` in a subprocess; its rows, exit code, stderr and peak RSS."""
    stats = out_csv + ".stats.json"
    env = dict(os.environ, FIFTYONE_DO_NOT_TRACK="true", PYTHONWARNINGS="ignore")
    proc = subprocess.run([PYTHON, "-c", _WRAPPER, stats, "score", folder, "--out", out_csv, *extra],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=str(REPO))
    from fiqa_plugin.io.writers import OPEN_KW

    rows = list(csv.DictReader(open(out_csv, **OPEN_KW))) if os.path.exists(out_csv) else []
    info = json.load(open(stats)) if os.path.exists(stats) else {}
    return {"rc": proc.returncode, "stderr": proc.stderr, "stdout": proc.stdout, "rows": rows, **info}


def check_rows(entries: List[Entry], rows: List[dict]) -> dict:
    """Rows per expected path, and what is wrong: lost, duplicated, unexpected, undocumented status,
    failed row without a readable error."""
    want = expected_rows(entries)
    seen = collections.Counter(r["path"] for r in rows)
    problems = {
        "lost": sorted(set(want) - set(seen)),
        "duplicated": sorted(p for p, n in seen.items() if n > 1),
        "unexpected": sorted(set(seen) - set(want)),
        "bad_status": sorted({r["status"] for r in rows} - ROW_STATUSES),
        "no_error_text": sorted(r["path"] for r in rows if r["status"] != "ok" and not r["error"].strip()),
        "traceback": sorted(r["path"] for r in rows if "Traceback" in r["error"] or len(r["error"]) > 600),
    }
    return problems


_FIFTYONE = PEAK_RSS + """
import json, logging, os, sys, time
os.environ.update(FIFTYONE_DO_NOT_TRACK="true", FIFTYONE_DATABASE_DIR=sys.argv[3],
                  FIFTYONE_DATABASE_VALIDATION="false", FIFTYONE_SHOW_PROGRESS_BARS="false")
import fiftyone as fo
import fiftyone.core.media as fom
from fiqa_plugin.integrations.fiftyone import compute_quality, load_model
how, batch = sys.argv[4], int(sys.argv[5])
warned = []  # FiftyOne logs each sample or batch it skips (its own reader failed) as a warning


class Warned(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.WARNING:
            warned.append(record.getMessage().replace(chr(10), " ")[:160])


logging.getLogger("fiftyone.core.models").addHandler(Warned())
given = json.load(open(sys.argv[1]))
paths = [p for p in given if fom.get_media_type(p) == fom.IMAGE]  # FiftyOne refuses other extensions
ds = fo.Dataset()
ds.add_samples([fo.Sample(filepath=p) for p in paths], progress=False)
t = time.perf_counter()
if how == "compute_quality":  # the operators' path: fiqa decodes each filepath itself
    compute_quality(ds, "blur", quality_field="q", detect_faces=False, batch_size=batch)
    qf, ef = "q", "q_error"
else:  # FiftyOne's apply_model: FiftyOne reads each image (its own reader) and hands fiqa an array
    ds.apply_model(load_model("blur", detect_faces=False, store_faces=True), label_field="q",
                   batch_size=batch, progress=False)
    qf, ef = "q_quality", "q_error"
wall = time.perf_counter() - t
q = ds.values(qf) if ds.has_sample_field(qf) else [None] * len(ds)
e = ds.values(ef) if ds.has_sample_field(ef) else [None] * len(ds)
fp = ds.values("filepath")
json.dump({"not_typed_image": sorted(set(given) - set(paths)), "samples": len(q), "quality": sum(v is not None for v in q),
           "error_text": sum(v is None and x is not None for v, x in zip(q, e)),
           "nothing": [f for f, v, x in zip(fp, q, e) if v is None and x is None],
           "warnings": warned, "wall_s": wall,
           "maxrss_mib": peak_rss_mib()}, open(sys.argv[2], "w"))
ds.delete()
"""


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:  # surrogates: bytes that were not UTF-8 in the file name
        return False


def _fifo(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


#: (label, function, batch size): the operators' path, and FiftyOne's own apply_model batched and per sample.
FIFTYONE_RUNS = [("compute_quality (operators), batches of 64", "compute_quality", 64),
                 ("apply_model, batch_size=64", "apply_model", 64),
                 ("apply_model, batch_size=1", "apply_model", 1)]


def run_fiftyone(entries: List[Entry], work: Path) -> List[dict]:
    """The corpus through ``compute_quality`` (what the operators run) and FiftyOne's ``apply_model``,
    each in its own subprocess on a throw-away FiftyOne database. File names that are not valid
    UTF-8 are left out (MongoDB stores only UTF-8), and FIFOs are left out of ``apply_model``:
    FiftyOne's own reader opens them and waits for a writer forever (measured: the first run of this
    benchmark hung there), before fiqa sees the file."""
    paths = [p for p in expected_rows(entries) if _utf8(p)]
    out = []
    for label, how, batch in FIFTYONE_RUNS:
        use = [p for p in paths if how == "compute_quality" or not _fifo(p)]
        (work / "fo_paths.json").write_text(json.dumps(use))
        res_path = work / f"fo_{how}_{batch}.json"
        log_path = work / f"fo_{how}_{batch}.log"
        t = time.perf_counter()
        # output to a file, not a pipe: FiftyOne's database service inherits the descriptors and outlives the run
        with open(log_path, "w") as log_fh:
            try:
                rc = subprocess.run([PYTHON, "-c", _FIFTYONE, str(work / "fo_paths.json"), str(res_path),
                                     str(work / "fo_db"), how, str(batch)], cwd=str(REPO), stdout=log_fh,
                                    stderr=subprocess.STDOUT, timeout=1800,
                                    env=dict(os.environ, PYTHONWARNINGS="ignore")).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout (1800 s)"
        err = log_path.read_text(errors="replace")[-1500:]
        info = json.loads(res_path.read_text()) if res_path.exists() else {}
        out.append({"label": label, "rc": rc, "stderr": err, "given": len(use), "fifo_left_out": len(paths) - len(use),
                    "non_utf8_left_out": len(expected_rows(entries)) - len(paths), "run_s": time.perf_counter() - t,
                    **info})
    return out


def fiftyone_table(runs: List[dict], entries: List[Entry]) -> str:
    kind_of = expected_rows(entries)
    lines = ["| path | files given | samples (FiftyOne types the rest 'unknown' by extension) | quality "
             "| error text | nothing written | by kind (nothing written) | FiftyOne warnings | wall s | peak RSS MiB |",
             "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for r in runs:
        if "samples" not in r:
            lines.append(f"| {r['label']} | {r['given']} | failed: exit {r['rc']} {r['stderr'][-200:]!r} ||||||||")
            continue
        kinds = collections.Counter(kind_of.get(p, "?") for p in r["nothing"])
        lines.append(f"| {r['label']} | {r['given']} | {r['samples']} | {r['quality']} | {r['error_text']} | {len(r['nothing'])} | "
                     f"{', '.join(f'{k} {n}' for k, n in kinds.most_common()) or '-'} | {len(r['warnings'])} | "
                     f"{r['wall_s']:.1f} | {r['maxrss_mib']:.0f} |")
    return "\n".join(lines)


def corpus_table(entries: List[Entry], rows: List[dict]) -> str:
    kind_of = expected_rows(entries)
    by_kind: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in rows:
        by_kind[kind_of.get(r["path"], "?")][r["status"]] += 1
    lines = ["| kind | files | statuses |", "|---|---:|---|"]
    files = collections.Counter(kind_of.values())
    for kind in sorted(files):
        st = ", ".join(f"{s} {n}" for s, n in by_kind[kind].most_common())
        lines.append(f"| {kind} | {files[kind]} | {st} |")
    return "\n".join(lines)


def slowest_files(entries: List[Entry], n: int = 3) -> List[tuple]:
    """CPU seconds of ``decode_image`` per file, the slowest ``n`` (measured in this process)."""
    from fiqa_plugin.imageio import try_decode

    times = []
    for e in entries:
        t = time.thread_time()
        _, err = try_decode(e.path)
        times.append((time.thread_time() - t, e.kind, os.path.basename(e.path), err.status if err else "ok"))
    return sorted(times, reverse=True)[:n]


def _rows_now(path: str) -> int:
    """Complete rows (header excluded) in a CSV another process is writing."""
    from fiqa_plugin.io.writers import complete_length

    if not os.path.exists(path):
        return 0
    with open(path, "rb") as fh:
        data = fh.read(complete_length(path))
    return max(0, len(list(csv.reader(io.StringIO(data.decode("utf-8", "surrogateescape"))))) - 1)


def kill_and_resume(cmd: List[str], count, kill_at: int, again: List[str], env: Optional[dict] = None) -> dict:
    """Start ``cmd``, SIGKILL it once ``count()`` reaches ``kill_at``, note ``count()``, then run ``again``."""
    env = dict(env or os.environ, FIFTYONE_DO_NOT_TRACK="true")
    proc = subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while proc.poll() is None and count() < kill_at:
        time.sleep(0.02)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = count()
    t = time.perf_counter()
    done = subprocess.run(again, cwd=str(REPO), env=env, capture_output=True, text=True)
    return {"killed": killed, "kept": kept, "rc": done.returncode, "stderr": done.stderr[-2000:],
            "stdout": done.stdout, "resume_s": time.perf_counter() - t}


def kill_matrix(work: Path, n_images: int = 240) -> str:
    """SIGKILL each long job at a few points, resume it, and count what was kept, redone and lost."""
    from fiqa_plugin.io.writers import OPEN_KW

    work.mkdir(parents=True, exist_ok=True)
    imgs = sorted(str(p) for p in lfw_dir().glob("*/*.jpg"))[:n_images]
    lst = work / "images.txt"
    lst.write_text("\n".join(imgs) + "\n")
    lines = ["| job | killed at | kept | done on resume | lost | written twice |", "|---|---|---:|---:|---:|---:|"]
    for frac in (0.1, 0.5, 0.8):
        out = str(work / f"score_{frac}.csv")
        if os.path.exists(out):
            os.unlink(out)
        cmd = [PYTHON, "-m", "fiqa_plugin.cli.main", "score", str(lst), "--out", out, "--batch-size", "16"]
        r = kill_and_resume(cmd, lambda o=out: _rows_now(o), int(frac * n_images), cmd + ["--resume"])
        rows = list(csv.DictReader(open(out, **OPEN_KW)))
        seen = collections.Counter(x["path"] for x in rows)
        lost = len(set(imgs) - set(seen))
        dup = sum(1 for n in seen.values() if n > 1)
        point = f"{frac:.0%} of rows" if r["killed"] else f"{frac:.0%} of rows (finished before the kill)"
        lines.append(f"| fiqa score ({n_images} LFW images) | {point} | {r['kept']} | "
                     f"{len(imgs) - r['kept']} | {lost} | {dup} |")
    lines += label_kill_rows(work / "label")
    lines += train_kill_rows(work / "train")
    return "\n".join(lines)


def label_kill_rows(work: Path, n_images: int = 320) -> List[str]:
    """``fiqa label`` killed after 1 and after 3 checkpoint shards, re-run, and compared with a run
    that was never killed (labels must be identical)."""
    import shutil

    from fiqa_plugin.faces.dataset import CHUNK

    root = work / "ids"
    shutil.rmtree(work, ignore_errors=True)
    n = 0
    for d in sorted(lfw_dir().iterdir()):
        files = sorted(d.glob("*.jpg"))
        if len(files) < 2:
            continue
        (root / d.name).mkdir(parents=True)
        for f in files[:8]:
            (root / d.name / f.name).symlink_to(f)
            n += 1
        if n >= n_images:
            break
    base = [PYTHON, "-m", "fiqa_plugin.cli.main", "label", str(root), "--method", "center"]
    env = dict(os.environ, FIFTYONE_DO_NOT_TRACK="true", FIQA_CACHE=str(work / "cache_clean"))
    subprocess.run(base + ["--out", str(work / "clean.csv")], cwd=str(REPO), env=env, check=True, capture_output=True)
    clean = (work / "clean.csv").read_text()
    rows = []
    for shards in (1, 3):
        cache = work / f"cache_{shards}"
        out = str(work / f"killed_{shards}.csv")
        cmd = base + ["--out", out]
        r = kill_and_resume(cmd, lambda c=cache: len(list(c.glob("training/faces-*/faces/*.npz"))), shards, cmd,
                            env=dict(os.environ, FIQA_CACHE=str(cache)))
        kept = r["kept"] * CHUNK
        same = os.path.exists(out) and open(out).read() == clean
        got = len(list(csv.DictReader(open(out)))) if os.path.exists(out) else 0
        rows.append(f"| fiqa label --method center ({n} LFW images) | after {shards} of {-(-n // CHUNK)} shards | "
                    f"{kept} images | {n - kept} images | {n - got} | 0 (labels identical to an unkilled run: {same}) |")
    return rows


#: ``python -c`` script: the fiqa CLI (argv[3:]) that pauses after its argv[2]-th ``last.pt`` and writes
#: the marker argv[1], so a SIGKILL lands at a known point (also tests/training/test_train_kill_cli.py).
PAUSE_AFTER_CHECKPOINT = """
import sys, time
from pathlib import Path
from fiqa_plugin.training import checkpoint

marker, after = Path(sys.argv[1]), int(sys.argv[2])
real_save, calls = checkpoint.Checkpoint.save, []

def save_then_wait(self, *a, **kw):
    out = real_save(self, *a, **kw)
    if self.path.name == checkpoint.CHECKPOINT:
        calls.append(self.path)
        if len(calls) == after:
            marker.write_text(str(self.path))
            time.sleep(600)  # held at a known point until SIGKILL
    return out

checkpoint.Checkpoint.save = save_then_wait
from fiqa_plugin.cli.main import main
sys.exit(main(sys.argv[3:]))
"""


def _same_run(a: Path, b: Path) -> bool:
    """Two run folders hold the same weights (every ``*.pt`` state), exported ONNX bytes and histories
    (wall-clock ``seconds`` left out)."""
    import torch

    def states(path: Path) -> dict:
        s = torch.load(path, weights_only=True)
        return s["model"] if isinstance(s.get("model"), dict) else s  # a checkpoint's weights, or a state dict

    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.suffix in (".pt", ".onnx") or p.name == "history.json")
    for rel in files:
        x, y = a / rel, b / rel
        if not y.exists():
            return False
        if rel.suffix == ".onnx" and x.read_bytes() != y.read_bytes():
            return False
        if rel.suffix == ".pt":
            sx, sy = states(x), states(y)
            if sx.keys() != sy.keys() or not all(torch.equal(sx[k], sy[k]) for k in sx if torch.is_tensor(sx[k])):
                return False
        if rel.name == "history.json":
            hx, hy = (json.loads(p.read_text())["history"] for p in (x, y))
            if [{k: v for k, v in r.items() if k != "seconds"} for r in hx] != \
                    [{k: v for k, v in r.items() if k != "seconds"} for r in hy]:
                return False
    return bool(files)


def train_kill_rows(work: Path, identities: int = 4, per_identity: int = 6) -> List[str]:
    """``fiqa train`` for every architecture and ``fiqa ensemble train``, SIGKILLed right after an epoch's
    checkpoint (held there by a pause so the kill lands at a known point), the same command rerun, and
    the run folder compared with one that was never killed."""
    import shutil

    from fiqa_plugin.paths import shared_dir

    shutil.rmtree(work, ignore_errors=True)
    root = shared_dir() / "data" / "celeba"
    faces = work / "faces"
    for name in sorted(os.listdir(root))[:identities]:
        (faces / name).mkdir(parents=True)
        for f in sorted(os.listdir(root / name))[:per_identity]:
            (faces / name / f).symlink_to(root / name / f)
    n = identities * per_identity
    env = dict(os.environ, FIQA_CACHE=str(work / "cache"), PYTHONWARNINGS="ignore")
    crop = ["--min-images", "2", "--degrade-copies", "1", "--val-fraction", "0.25", "--batch-size", "16"]
    head = ["--degrade-copies", "1", "--degrade-profile", "v2", "--val-fraction", "0.25", "--tag", "t"]
    jobs = [  # (name, argv without --out, checkpoints in all, kill after checkpoint)
        ("fiqa train --arch tinyfqnet", ["train", str(faces), "--arch", "tinyfqnet", "--epochs", "3", *crop], 3, 2),
        ("fiqa train --arch mobilenetv2", ["train", str(faces), "--arch", "mobilenetv2", "--t", "2", "--w", "0.25",
                                           "--head", "64", "--epochs", "3", *crop], 3, 2),
        ("fiqa train --arch sdd-regressor", ["train", str(faces), "--arch", "sdd-regressor", "--epochs", "3",
                                             "--batch-size", "16", *head], 3, 2),
        ("fiqa train --arch embedding-head", ["train", str(faces), "--arch", "embedding-head", "--epochs", "3",
                                              "--batch-size", "8", *head], 3, 2),
        ("fiqa ensemble train (2 members)", ["ensemble", "train", str(faces), "--epochs", "2", "--batch-size", "16",
                                             "--degrade-copies", "1", "--val-fraction", "0.25"], 4, 3),
    ]
    rows = []
    for name, argv, total, after in jobs:
        slug = name.split()[-1] if "--arch" in name else "ensemble"
        full, killed, marker = work / f"{slug}_full", work / f"{slug}_killed", work / f"{slug}.marker"
        cli = [PYTHON, "-m", "fiqa_plugin.cli.main"]
        subprocess.run(cli + argv + ["--out", str(full)], cwd=str(REPO), env=env, check=True, capture_output=True)
        proc = subprocess.Popen([PYTHON, "-c", PAUSE_AFTER_CHECKPOINT, str(marker), str(after), *argv, "--out",
                                 str(killed)], cwd=str(REPO), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and not marker.exists():
            time.sleep(0.05)
        was_running = proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kept = after if was_running else total
        again = subprocess.run(cli + argv + ["--out", str(killed)], cwd=str(REPO), env=env, capture_output=True, text=True)
        same = again.returncode == 0 and _same_run(full, killed)
        unit = "member-epoch" if slug == "ensemble" else "epoch"
        plural = lambda k: f"{k} {unit}{'' if k == 1 else 's'}"
        rows.append(f"| {name} ({n} CelebA faces) | after checkpoint {after} of {total} | {plural(kept)} | "
                    f"{plural(total - kept)} | {0 if same else 'see run'} | 0 (weights, ONNX and history identical "
                    f"to an unkilled run: {same}) |")
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--skip-kill", action="store_true", help="only the hostile corpus")
    args = ap.parse_args(argv)
    work = Path(args.out or tempfile.mkdtemp(prefix="fiqa-reliability-"))
    entries = build_corpus(work / "corpus")
    print(f"corpus: {len(entries)} entries in {work / 'corpus'} ({len(expected_rows(entries))} expect a row)")
    for label, extra in (("decode path: --mode aligned --method blur", ("--mode", "aligned", "--method", "blur")),
                         ("user path: --mode largest, default method", ())):
        res = run_score(str(work / "corpus"), str(work / f"scores_{len(extra)}.csv"), *extra)
        problems = check_rows(entries, res["rows"])
        print(f"\n### {label}\nexit {res['rc']}, {len(res['rows'])} rows, rows lost {len(problems['lost'])}, "
              f"duplicated {len(problems['duplicated'])}, peak RSS {res.get('maxrss_mib', float('nan')):.0f} MiB, "
              f"wall {res.get('wall_s', float('nan')):.1f} s")
        print({k: v[:5] for k, v in problems.items() if v} or "no problems")
        print(corpus_table(entries, res["rows"]))
        statuses = collections.Counter(r["status"] for r in res["rows"])
        print("statuses:", dict(statuses.most_common()))
    fo_runs = run_fiftyone(entries, work)
    print(f"\n### FiftyOne (blur, detect_faces=False; {fo_runs[0]['non_utf8_left_out']} non-UTF-8 names left out; "
          f"{fo_runs[1]['fifo_left_out']} FIFOs left out of apply_model)")
    print(fiftyone_table(fo_runs, entries))
    for r in fo_runs:
        if r.get("warnings"):
            print(f"{r['label']}: first FiftyOne warning: {r['warnings'][0]!r}")
    print("\nslowest decodes (CPU s, kind, file, status):")
    for row in slowest_files(entries):
        print(f"  {row[0]:.2f}  {row[1]}  {row[2]!r}  {row[3]}")
    if not args.skip_kill:
        from_kill = kill_matrix(work / "kill")
        print("\n" + from_kill)
    return 0


if __name__ == "__main__":
    sys.exit(main())
