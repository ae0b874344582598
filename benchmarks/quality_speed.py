"""Crop quality models from uint8 aligned crops: parity of the in-graph preprocessing and the speed of each step.

    python benchmarks/quality_speed.py [--models mbv2_t1_w025_h256 tinyfqnet] [--threads 2] [--batch 256]
                                       [--faces 8192] [--repeats 5] [--parity 500] [--int8] [--stream 100000]

* parity: ``--parity`` real ArcFace-aligned CelebA crops (../shared/data/celeba_aligned, sorted, first N)
  scored by the pre-graph recipe (per-crop ``cv2.resize`` INTER_AREA, BGR→RGB, (x−127.5)/127.5, NCHW, in
  numpy, then the float ONNX file) and by ``OnnxQualityModel`` (preprocessing inside the graph):
  max |difference| and Spearman ρ of the two score lists.
* speed: the same 256 real crops tiled to ``--faces`` faces, batches of ``--batch``, ``--threads``
  intra-op threads; every variant is timed once per round, rounds interleaved, median of ``--repeats``
  rounds reported (the machine is shared: a single timing can catch a busy moment), with the best round
  (the least disturbed one) and the process CPU time per face (summed over threads; what other jobs
  inflate least, so ratios of CPU time are the steadiest on a busy machine). Variants: the pre-graph
  recipe; the float network alone on ready float input; ``OnnxQualityModel.score_crops`` (which runs
  64 crops at a time); the in-graph session under several session settings and batch sizes, and with
  the first in-graph resize (a grouped convolution, :func:`conv_resize_preprocessing`); the int8 model (``--int8``: static QDQ quantisation calibrated on 512 other real crops);
  the buffalo_sc recognizer (``RECOGNIZERS.create("buffalo_sc").embed``).
* hardware bound: MACs per face (``fiqa_plugin.quality.cost.count_macs``) ÷ the MAC/s of a large float32
  GEMM (2048³, onnxruntime MatMul, same threads) measured in the same run.
* memory: peak RSS (VmHWM) of a fresh process that loads the default model and scores ``--stream`` faces
  batch by batch (``benchmarks/tinyfqnet_speed.py --memory-child``).

Prints markdown tables (docs/performance.md).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def celeba_aligned(n: int, skip: int = 0) -> np.ndarray:
    import cv2

    from fiqa_plugin.paths import shared_path

    files = sorted(shared_path("data", "celeba_aligned").glob("*/*.jpg"))[skip : skip + n]
    return np.stack([cv2.imread(str(f)) for f in files])


def reference_input(crops: np.ndarray, size: int) -> np.ndarray:
    """The pre-graph Python preprocessing (as OnnxQualityModel.preprocess did it)."""
    import cv2

    x = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])[..., ::-1]
    return np.ascontiguousarray(((x.astype(np.float32) - 127.5) * (1 / 127.5)).transpose(0, 3, 1, 2))


def session(model, threads: int, level: str = "all", spin: bool = False, parallel: bool = False):
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads, o.inter_op_num_threads, o.log_severity_level = threads, 1, 3
    o.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                  "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                  "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    o.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    if parallel:
        o.execution_mode = ort.ExecutionMode.ORT_PARALLEL
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, sess_options=o, providers=["CPUExecutionProvider"])


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def per_s(fn, block: np.ndarray, total: int, batch: int) -> tuple:
    """``(faces per wall second, process CPU µs per face)``: CPU time, summed over threads, is what
    other jobs on a shared machine inflate least."""
    fn(block[:batch])  # warm-up
    t, c = time.perf_counter(), cpu_s()
    for i in range(0, total, batch):
        fn(block[: min(batch, total - i)])
    return total / (time.perf_counter() - t), (cpu_s() - c) / total * 1e6


def gemm_macs_per_s(threads: int, n: int = 2048, reps: int = 3) -> tuple:
    """``(MAC per wall second, MAC per CPU second)`` of an n³ float32 MatMul in onnxruntime, best of
    ``reps`` (the dense-math ceiling of this CPU at ``threads``)."""
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm",
                          [helper.make_tensor_value_info(k, TensorProto.FLOAT, [n, n]) for k in "ab"],
                          [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
    s = session(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), threads)
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    s.run(None, {"a": a, "b": a})
    best = best_cpu = 0.0
    for _ in range(reps):
        t, c = time.perf_counter(), cpu_s()
        s.run(None, {"a": a, "b": a})
        best, best_cpu = max(best, n ** 3 / (time.perf_counter() - t)), max(best_cpu, n ** 3 / (cpu_s() - c))
    return best, best_cpu


def quantized(float_model, calib: np.ndarray, size: int):
    """Static int8 (QDQ, per-channel weights) of ``float_model`` calibrated on ``calib`` crops."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    x = reference_input(calib, size)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": x[i : i + 64]} for i in range(0, len(x), 64)])

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as d:
        src, pre, out = (os.path.join(d, f) for f in ("f.onnx", "p.onnx", "q.onnx"))
        onnx.save(float_model, src)
        quant_pre_process(src, pre, skip_symbolic_shape=True)
        quantize_static(pre, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        return onnx.load(out)


def conv_resize_preprocessing(float_model, size: int, crop: int = 112):
    """The first in-graph preprocessing (commit 7349348), kept here to time it: the INTER_AREA resize as
    one grouped convolution (``p×p`` kernels, stride ``p``, ``q²`` outputs per channel) and a
    DepthToSpace on channel-first float crops, then Round, RGB order and (x−127.5)/127.5, NCHW."""
    import math

    from onnx import TensorProto, helper, numpy_helper

    from fiqa_plugin.quality.preprocess_graph import area_matrix

    g = math.gcd(crop, size)
    p, q = crop // g, size // g
    a = area_matrix(crop, size)[:q, :p]
    k = np.concatenate([np.einsum("yi,xj->yxij", a, a).reshape(q * q, 1, p, p)] * 3).astype(np.float32)
    m = onnx_copy(float_model)
    inp = m.graph.input[0].name
    inits = [numpy_helper.from_array(k, "cv_k"), numpy_helper.from_array(np.array([2, 1, 0], np.int64), "cv_rgb"),
             numpy_helper.from_array(np.array([127.5], np.float32), "cv_mean"),
             numpy_helper.from_array(np.array([1 / 127.5], np.float32), "cv_scale")]
    nodes = [helper.make_node("Transpose", ["crops"], ["cv_t"], perm=[0, 3, 1, 2]),
             helper.make_node("Cast", ["cv_t"], ["cv_f"], to=TensorProto.FLOAT),
             helper.make_node("Conv", ["cv_f", "cv_k"], ["cv_c"], group=3, kernel_shape=[p, p], strides=[p, p]),
             helper.make_node("DepthToSpace", ["cv_c"], ["cv_d"], blocksize=q, mode="CRD"),
             helper.make_node("Round", ["cv_d"], ["cv_r"]),
             helper.make_node("Gather", ["cv_r", "cv_rgb"], ["cv_g"], axis=1),
             helper.make_node("Sub", ["cv_g", "cv_mean"], ["cv_s"]),
             helper.make_node("Mul", ["cv_s", "cv_scale"], [inp])]
    old = list(m.graph.node)
    del m.graph.node[:]
    m.graph.node.extend(nodes + old)
    m.graph.initializer.extend(inits)
    m.graph.input[0].CopyFrom(helper.make_tensor_value_info("crops", TensorProto.UINT8, ["n", crop, crop, 3]))
    return m


def onnx_copy(model):
    import onnx

    return onnx.ModelProto.FromString(model.SerializeToString())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["mbv2_t1_w025_h256", "tinyfqnet"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--faces", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--parity", type=int, default=500)
    ap.add_argument("--int8", action="store_true", help="also time a static int8 variant")
    ap.add_argument("--stream", type=int, default=100000, help="faces streamed for peak RSS (0: skip)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import onnx
    from scipy.stats import spearmanr

    from fiqa_plugin.plugins import QUALITY_METHODS, RECOGNIZERS
    from fiqa_plugin.quality.cost import count_macs
    from fiqa_plugin.quality.preprocess_graph import with_preprocessing

    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; threads {a.threads}, batch {a.batch}\n")
    parity_crops = celeba_aligned(a.parity)
    crops = parity_crops[:256]
    block = np.concatenate([crops] * -(-max(a.batch, 1024) // len(crops)))
    calib = celeba_aligned(512, skip=a.parity) if a.int8 else None

    variants, macs, parity = {}, {}, []
    for name in a.models:
        m = QUALITY_METHODS.create(name, threads=a.threads, batch_size=a.batch)
        cfg, raw = m.config, onnx.load(str(m.config.model_path))
        s = cfg.input_size
        ref = session(raw, a.threads)
        ref_before = session(raw, a.threads, spin=True)  # the session settings before this work
        x_ready = reference_input(block[: a.batch], s)
        want = ref.run(None, {"input": reference_input(parity_crops, s)})[0][:, 0]
        got = m.score_crops(parity_crops)
        parity.append((m.name, len(got), float(np.abs(got - want).max()), float(spearmanr(got, want)[0])))
        macs[m.name] = count_macs(raw)
        pre = lambda lvl="all", **kw: session(with_preprocessing(raw, s), a.threads, lvl, **kw)  # noqa: E731
        run = lambda sess: (lambda b: sess.run(None, {"crops": b}))  # noqa: E731
        v = {
            "before: Python preprocessing + float graph": lambda b, r=ref_before, s=s: r.run(None, {"input": reference_input(b, s)}),
            "float network alone (input ready, no preprocessing)": lambda b, r=ref: r.run(None, {"input": x_ready[: len(b)]}),
            "in-graph preprocessing (OnnxQualityModel.score_crops)": m.score_crops,
            "in-graph session, one run per batch": run(pre()),
            "in-graph, optimisation level basic": run(pre("basic")),
            "in-graph, optimisation level extended": run(pre("extended")),
            "in-graph, threads spin while idle (onnxruntime's default)": run(pre(spin=True)),
            "in-graph, parallel execution mode": run(pre(parallel=True)),
            "in-graph, first version (resize as a grouped conv)": run(session(conv_resize_preprocessing(raw, s), a.threads)),
        }
        if a.int8:
            v["in-graph, int8 static (QDQ)"] = run(session(with_preprocessing(quantized(raw, calib, s), s), a.threads))
        variants[m.name] = v
    rec = RECOGNIZERS.create("buffalo_sc", threads=a.threads, batch_size=a.batch)
    macs["buffalo_sc recognizer"] = count_macs(onnx.load(str(rec.model_path)))

    times: dict = {}
    gemm: list = []
    for r in range(a.repeats):
        for name, v in variants.items():
            for label, fn in v.items():
                times.setdefault((name, label, a.batch), []).append(per_s(fn, block, a.faces, a.batch))
            for b in (64, 1024):
                times.setdefault((name, "in-graph session, one run per batch", b), []).append(
                    per_s(v["in-graph session, one run per batch"], block, a.faces, b))
        times.setdefault(("buffalo_sc recognizer", "embed", a.batch), []).append(per_s(rec.embed, block, max(512, a.faces // 16), a.batch))
        gemm.append(gemm_macs_per_s(a.threads))
    peak, peak_cpu = max(g[0] for g in gemm), max(g[1] for g in gemm)
    med = {k: float(np.median([x[0] for x in t])) for k, t in times.items()}
    cpu = {k: float(np.median([x[1] for x in t])) for k, t in times.items()}
    rec_fps = med[("buffalo_sc recognizer", "embed", a.batch)]

    print("| model | faces | max abs difference | Spearman ρ |\n|---|---|---|---|")
    for row in parity:
        print(f"| {row[0]} | {row[1]} | {row[2]:.2e} | {row[3]:.6f} |")
    rec_cpu = cpu[("buffalo_sc recognizer", "embed", a.batch)]
    print(f"\n| model | variant | batch | faces/s (median of {a.repeats}) | best round | × before | × recognizer | CPU µs/face | "
          "× before (CPU) | × recognizer (CPU) | runs (faces/s) |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for (name, label, b), fps in med.items():
        key = (name, "before: Python preprocessing + float graph", a.batch)
        base, base_cpu = med.get(key, fps), cpu.get(key, cpu[(name, label, b)])
        runs = ", ".join(f"{t[0]:,.0f}" for t in times[(name, label, b)])
        best = max(t[0] for t in times[(name, label, b)])
        c = cpu[(name, label, b)]
        print(f"| {name} | {label} | {b} | {fps:,.0f} | {best:,.0f} | {fps / base:.2f} | {fps / rec_fps:.0f} | {c:,.0f} | "
              f"{base_cpu / c:.2f} | {rec_cpu / c:.0f} | {runs} |")
    print(f"\nlarge-GEMM ceiling: {peak / 1e9:.1f} GMAC/s, {peak_cpu / 1e9:.1f} GMAC per CPU second ({a.threads} threads, "
          f"onnxruntime MatMul 2048³, best of {3 * a.repeats}: 3 in each round)")
    print("| network | MACs/face | bound (faces/s) | faces/s, median / best round | % of bound (best round) | "
          "GMAC per CPU second | % of the GEMM's |\n|---|---|---|---|---|---|---|")
    for name, n in macs.items():
        k = (name, "in-graph preprocessing (OnnxQualityModel.score_crops)", a.batch)
        if k not in med:
            k = ("buffalo_sc recognizer", "embed", a.batch)
        best = max(t[0] for t in times[k])
        per_cpu = n / (cpu[k] * 1e-6)
        print(f"| {name} | {n / 1e6:.2f} M | {peak / n:,.0f} | {med[k]:,.0f} / {best:,.0f} | {100 * best * n / peak:.0f}% | "
              f"{per_cpu / 1e9:.1f} | {100 * per_cpu / peak_cpu:.0f}% |")
    if a.stream:
        tmp = tempfile.NamedTemporaryFile(suffix=".npy", delete=False)
        np.save(tmp, crops[:64])
        tmp.close()
        out = subprocess.run([sys.executable, str(HERE / "tinyfqnet_speed.py"), "--memory-child", tmp.name, "--model", a.models[0],
                              "--threads", str(a.threads), "--batch", str(a.batch), "--stream", str(a.stream)],
                             capture_output=True, text=True, check=True)
        os.unlink(tmp.name)
        mem = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"\npeak RSS scoring {mem['faces']:,} faces streamed ({a.models[0]}, fresh process): {mem['peak_rss_mb']:.0f} MB "
              f"({mem['before_scoring_mb']:.0f} MB before scoring began)")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
