#!/usr/bin/python3
"""Peers for `bench/` : PyTorch eager timing and the ONNX export used by the ONNX Runtime benchmark.

Both run the PyTorch reference (tools/trg_reference.py, written from MODEL_SPEC.md) on the same synthetic weights
the engine benchmarks with (docs/synthetic-weights.md), so the three engines compute the same network.
The timed region is the network's forward on ready normalised crops (the engine's timing also includes its
on-device crop and the result download: the comparison is, if anything, in PyTorch's favour).

    /usr/bin/python3 tools/bench_peers.py torch --synthetic trgv2:1 --batch 1 --iters 20 [--threads N] [--json OUT]
    python3 tools/bench_peers.py torch --device cuda [--strict-fp32] --batch 64 --iters 100 --json OUT   (tools/device/)
    /usr/bin/python3 tools/bench_peers.py onnx --synthetic trgv2:1 --batch 1 --out trgv2-b1.onnx
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from trg_reference import build_model  # noqa: E402


def inputs(batch: int, seed: int = 7):
    """Normalised crops (random, fixed seed), crop intrinsics and box info for 512x512 images, boxes of 150 px."""
    g = np.random.default_rng(seed)
    x = torch.from_numpy(g.standard_normal((batch, 3, 192, 192)).astype(np.float32))
    ks, infos = [], []
    for i in range(batch):
        l, t = 150.0 + i % 16, 50.0 + i % 8
        r, b, f, w, h = l + 150, t + 150, 1024.0, 512.0, 512.0
        s = 192.0 / (r - l)
        ks.append([[f * s, 0, (w / 2 - l) * s], [0, f * s, (h / 2 - t) * s], [0, 0, 1]])
        infos.append([l, t, r, b, f, h, w])
    return x, torch.tensor(ks, dtype=torch.float32), torch.tensor(infos, dtype=torch.float32)


class Wrapped(torch.nn.Module):
    """The reference's forward with tensor outputs only (for tracing)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, k, bbox7):
        out = self.model(x, k, bbox7)
        rot, trans = out["iterations"][-1]
        return rot, trans, out["face_cam"], out["lmk"]


def set_strict_fp32() -> dict:
    """TF32 off for cuBLAS and cuDNN: float32 matrix products and convolutions in full float32."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return precision_flags()


def precision_flags() -> dict:
    """The float32 settings in force (PyTorch's defaults: cuDNN convolutions may use TF32, matmul does not)."""
    def read(obj, name):
        try:  # older versions raise on unknown backend attributes; newer ones deprecate some
            return getattr(obj, name)
        except Exception:  # noqa: BLE001
            return None

    flags = {"matmul_allow_tf32": read(torch.backends.cuda.matmul, "allow_tf32"),
             "cudnn_allow_tf32": read(torch.backends.cudnn, "allow_tf32"),
             "float32_matmul_precision": torch.get_float32_matmul_precision(),
             "cudnn_benchmark": read(torch.backends.cudnn, "benchmark"),
             # PyTorch 2.9+ also reports the setting per backend this way
             "matmul_fp32_precision": read(torch.backends.cuda.matmul, "fp32_precision"),
             "conv_fp32_precision": read(read(torch.backends.cudnn, "conv"), "fp32_precision")}
    return {k: v for k, v in flags.items() if v is not None}


def cmd_torch(a):
    if a.threads:
        torch.set_num_threads(a.threads)
    cuda = a.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("bench_peers: error: --device cuda but torch.cuda.is_available() is False", file=sys.stderr)
        return 8
    flags = set_strict_fp32() if a.strict_fp32 else precision_flags()
    dev = torch.device(a.device)
    model = build_model(None, a.synthetic)[0].eval().to(dev)
    x, k, info = (t.to(dev) for t in inputs(a.batch))
    # Device work is asynchronous: wait for it before reading the clock at both ends.
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        for _ in range(a.warmup):
            model(x, k, info)
        sync()
        ms = []
        for _ in range(a.iters):
            sync()
            t0 = time.perf_counter()
            model(x, k, info)
            sync()
            ms.append((time.perf_counter() - t0) * 1000)
    ms.sort()
    where = f"CUDA {torch.cuda.get_device_name(dev)}" if cuda else "CPU"
    rep = {"engine": f"PyTorch {torch.__version__} eager {'CUDA' if cuda else 'CPU'}", "device": where,
           "precision": "strict float32 (TF32 off)" if a.strict_fp32 else "PyTorch defaults",
           "precision_flags": flags, "threads": torch.get_num_threads(), "batch": a.batch, "warmup": a.warmup,
           "iterations": a.iters, "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
           "min_ms": ms[0], "images_per_second": a.batch * 1000.0 / float(np.median(ms))}
    if cuda:
        rep["max_memory_allocated_bytes"] = int(torch.cuda.max_memory_allocated(dev))
    text = json.dumps(rep, indent=2)
    if a.json:
        with open(a.json + ".tmp", "w") as fh:
            fh.write(text)
        os.replace(a.json + ".tmp", a.json)
    print(text)
    return 0


def cmd_onnx(a):
    # eval() on the wrapper too: export restores the wrapper's own training flag afterwards, recursively.
    model = Wrapped(build_model(None, a.synthetic)[0]).eval()
    x, k, info = inputs(a.batch)
    with torch.no_grad():
        expected = model(x, k, info)
        torch.onnx.export(model, (x, k, info), a.out, opset_version=16,
                          input_names=["crops", "intrinsics", "bbox7"],
                          output_names=["rotation", "translation", "vertices_cam", "landmarks68_norm"])
    # The inputs and PyTorch's outputs beside the model (raw little-endian float32), so the ONNX Runtime benchmark
    # can check that it runs the same network before timing it.
    for name, t in zip(["crops", "intrinsics", "bbox7"], (x, k, info)):
        t.numpy().astype("<f4").tofile(f"{a.out}.{name}.f32")
    for name, t in zip(["rotation", "translation", "vertices_cam", "landmarks68_norm"], expected):
        t.numpy().astype("<f4").tofile(f"{a.out}.{name}.f32")
    print(a.out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("torch", help="time PyTorch eager on the CPU or a CUDA GPU")
    t.add_argument("--synthetic", default="trgv2:1")
    t.add_argument("--batch", type=int, default=1)
    t.add_argument("--warmup", type=int, default=3)
    t.add_argument("--iters", type=int, default=20)
    t.add_argument("--threads", type=int, default=0)
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    t.add_argument("--strict-fp32", action="store_true", help="TF32 off in cuBLAS and cuDNN (allow_tf32 = False)")
    t.add_argument("--json")
    o = sub.add_parser("onnx", help="export the reference to ONNX (fixed batch)")
    o.add_argument("--synthetic", default="trgv2:1")
    o.add_argument("--batch", type=int, default=1)
    o.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    return {"torch": cmd_torch, "onnx": cmd_onnx}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
