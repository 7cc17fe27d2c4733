"""Deterministic synthetic TRG / TRGv2 weights (docs/synthetic-weights.md).

Twin of src/TrgIlgpu/Model/SyntheticWeights.cs: both must produce the same float32 bits for every
element. Vectorised numpy; all uint64 arithmetic wraps (numpy array ops on uint64 do not raise).

Usage as a module:
    from synthetic_weights import variant_tensors, synthetic_state_dict
    sd, subsample = synthetic_state_dict("trgv2", 1)     # {key: np.ndarray}, np.int64[305]
"""
from __future__ import annotations

import math
from typing import Dict, List, Tuple

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
MASK64 = (1 << 64) - 1

INPUT_SIZE = 192
VERTICES = 1220
SUBSAMPLED = 305
GRID_POINTS = 324
LANDMARKS = 68
HIDDEN = 1024


# ---------------------------------------------------------------------------------------------
# Key list: the official state dict of each variant, in the order of TrgIlgpu VariantInfo.Tensors.
# ---------------------------------------------------------------------------------------------

def n_iter(variant: str) -> int:
    return 3 if variant == "trg" else 2


def regressor_input(i: int) -> int:
    points = GRID_POINTS if i == 0 else SUBSAMPLED
    return points * 5 + SUBSAMPLED * 3 + 9 + 3


def variant_tensors(variant: str) -> List[Tuple[str, Tuple[int, ...], str]]:
    """(key, shape, dtype) of every state-dict tensor; dtype 'f32' or 'i64'."""
    if variant not in ("trg", "trgv2"):
        raise ValueError(f"unknown variant '{variant}' (expected trg or trgv2)")
    t: List[Tuple[str, Tuple[int, ...], str]] = []

    def conv(p, o, i, k, bias=False):
        t.append((p + ".weight", (o, i, k, k), "f32"))
        if bias:
            t.append((p + ".bias", (o,), "f32"))

    def bn(p, c):
        for n in ("weight", "bias", "running_mean", "running_var"):
            t.append((f"{p}.{n}", (c,), "f32"))
        t.append((p + ".num_batches_tracked", (), "i64"))

    fe = "feature_extractor"
    conv(fe + ".conv1", 64, 3, 7)
    bn(fe + ".bn1", 64)
    inp = 64
    for li, (planes, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)]):
        for b in range(2):
            p = f"{fe}.layer{li + 1}.{b}"
            s = stride if b == 0 else 1
            conv(p + ".conv1", planes, inp, 3); bn(p + ".bn1", planes)
            conv(p + ".conv2", planes, planes, 3); bn(p + ".bn2", planes)
            if b == 0 and (s != 1 or inp != planes):
                conv(p + ".downsample.0", planes, inp, 1); bn(p + ".downsample.1", planes)
            inp = planes
    c = 512
    for k in range(n_iter(variant)):  # deconv stages == iterations for both variants
        t.append((f"deconv_layers.{3 * k}.weight", (c, 256, 4, 4), "f32"))
        bn(f"deconv_layers.{3 * k + 1}", 256)
        c = 256
    for i in range(n_iter(variant)):
        p = f"laf_extractor.{i}"
        t += [(p + ".conv0.weight", (128, 256, 1), "f32"), (p + ".conv0.bias", (128,), "f32"),
              (p + ".conv1.weight", (64, 384, 1), "f32"), (p + ".conv1.bias", (64,), "f32"),
              (p + ".conv2.weight", (5, 320, 1), "f32"), (p + ".conv2.bias", (5,), "f32")]
    t.append(("points_grid", (1, 2, GRID_POINTS), "f32"))
    for i in range(n_iter(variant)):
        p = f"regressor.{i}"
        t += [(p + ".fc1.weight", (HIDDEN, regressor_input(i)), "f32"), (p + ".fc1.bias", (HIDDEN,), "f32"),
              (p + ".fc2.weight", (HIDDEN, HIDDEN), "f32"), (p + ".fc2.bias", (HIDDEN,), "f32"),
              (p + ".decshape.weight", (VERTICES * 3, HIDDEN), "f32"), (p + ".decshape.bias", (VERTICES * 3,), "f32"),
              (p + ".decpose.weight", (9, HIDDEN), "f32"), (p + ".decpose.bias", (9,), "f32"),
              (p + ".init_face", (1, VERTICES, 3), "f32"), (p + ".init_head_pose", (1, 9), "f32")]
    if variant == "trg":
        conv("predict_68_lmk.0", LANDMARKS, 256, 1, bias=True)
    else:
        conv("predict_68_lmk.0", 256, 256, 3, bias=True)
        bn("predict_68_lmk.1", 256)
        conv("predict_68_lmk.3", LANDMARKS, 256, 1, bias=True)
    return t


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------

def fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & MASK64
    return h


def uniform(seed: int, key: str, count: int) -> np.ndarray:
    """u_j in [-1, 1) as float32 for j = 0..count-1 (splitmix64 finaliser of base + (j+1)*golden)."""
    base = ((seed * 0x9E3779B97F4A7C15) & MASK64) ^ fnv1a64(key)
    j1 = np.arange(1, count + 1, dtype=np.uint64)
    z = np.uint64(base) + j1 * GOLDEN
    z = (z ^ (z >> np.uint64(30))) * MIX1
    z = (z ^ (z >> np.uint64(27))) * MIX2
    z ^= z >> np.uint64(31)
    # 24 high bits -> k * 2^-23 - 1: exact in float64 and in float32.
    return ((z >> np.uint64(40)).astype(np.float64) * 2.0 ** -23 - 1.0).astype(np.float32)


def affine(u: np.ndarray, scale: float, offset: float = 0.0) -> np.ndarray:
    """float32(float32(u * scale) + offset): one float32 multiply, one float32 add (no FMA)."""
    v = u * np.float32(scale)
    return v + np.float32(offset)


def _module(key: str) -> str:
    return key.rsplit(".", 1)[0]


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _is_regressor_output(module: str) -> bool:
    return module.startswith("regressor.") and _leaf(module) in ("decshape", "decpose")


def grid_values() -> np.ndarray:
    g = np.array([np.float32(-1.0 + 2.0 * k / 17.0) for k in range(18)], dtype=np.float32)
    n = np.arange(GRID_POINTS)
    return np.stack([g[n // 18], g[n % 18]])[None].astype(np.float32)


def init_face(seed: int) -> np.ndarray:
    u = uniform(seed, "init_face", VERTICES * 3).reshape(VERTICES, 3)
    x = u[:, 0] * np.float32(0.078)
    y = u[:, 1] * np.float32(0.09)
    z = (u[:, 2] * np.float32(0.05)) - np.float32(0.02)
    return np.stack([x, y, z], axis=1)[None].astype(np.float32)


def tensor_values(seed: int, key: str, shape: Tuple[int, ...], bn_modules: set) -> np.ndarray:
    count = int(np.prod(shape)) if shape else 1
    leaf, module = _leaf(key), _module(key)
    if leaf == "num_batches_tracked":
        return np.zeros(shape, dtype=np.int64)
    if key == "points_grid":
        return grid_values()
    if leaf == "init_face":
        return init_face(seed)
    if leaf == "init_head_pose":
        return np.array([[1, 0, 0, 1, 0, 0, 1, 0, 0]], dtype=np.float32)
    u = uniform(seed, key, count)
    if module in bn_modules:
        scale, offset = {"weight": (0.1, 1.0), "bias": (0.1, 0.0),
                         "running_mean": (0.1, 0.0), "running_var": (0.25, 1.0)}[leaf]
    elif _is_regressor_output(module):
        # Small regressor outputs keep the iteration loop's rounding gain low (docs/synthetic-weights.md).
        scale, offset = (0.03 * math.sqrt(3.0 / 1024.0) if leaf == "weight" else 0.03), 0.0
    elif leaf == "bias":
        scale, offset = 0.1, 0.0
    elif leaf == "weight":
        if module.startswith("deconv_layers."):
            fan_in = shape[0] * 16 // 4  # stride-2 4x4 transposed conv: each output sees Cin * 4 taps
            scale = math.sqrt(3.0 / fan_in)
        else:
            scale = math.sqrt(3.0 / int(np.prod(shape[1:])))
        offset = 0.0
    else:
        raise ValueError(f"no synthetic rule for tensor '{key}'")
    return affine(u, scale, offset).reshape(shape)


def synthetic_state_dict(variant: str, seed: int) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """Every state-dict tensor of the variant (in VariantInfo order) and the synthetic subsample 4*j."""
    if not 0 <= seed <= MASK64:
        raise ValueError(f"seed {seed} is not a uint64")
    specs = variant_tensors(variant)
    bn_modules = {_module(k) for k, _, _ in specs if _leaf(k) == "running_mean"}
    sd = {k: tensor_values(seed, k, shape, bn_modules) for k, shape, _ in specs}
    subsample = np.arange(SUBSAMPLED, dtype=np.int64) * 4
    return sd, subsample


def element_count(variant: str) -> int:
    return sum(int(np.prod(s)) if s else 1 for _, s, _ in variant_tensors(variant))


def checksum(a: np.ndarray) -> int:
    """sum_j bits_j * (2j + 1) mod 2^64 over the little-endian element bit patterns (uint32 for float32,
    uint64 for int64): an exact whole-tensor fingerprint both languages compute cheaply."""
    flat = np.ascontiguousarray(a).reshape(-1)
    bits = flat.view(np.uint32).astype(np.uint64) if flat.dtype == np.float32 else flat.view(np.uint64)
    w = np.arange(flat.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    return int(np.sum(bits * w, dtype=np.uint64))


if __name__ == "__main__":
    import sys, time
    for v in ("trgv2", "trg"):
        t0 = time.time()
        sd, _ = synthetic_state_dict(v, 1)
        print(v, len(sd), "tensors", element_count(v), "elements", f"{time.time() - t0:.2f}s", file=sys.stderr)
