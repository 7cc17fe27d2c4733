"""Writes tests/TrgIlgpu.Tests/Fixtures/synthetic/synthetic_weights.json: for each (variant, seed), every
tensor's first/last 16 values, float64 sum and exact bit checksum, from tools/synthetic_weights.py.
The C# twin (SyntheticWeights.Create) is tested against it.

    /usr/bin/python3 tools/make_synthetic_fixture.py
"""
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synthetic_weights import synthetic_state_dict, variant_tensors, element_count, checksum  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "TrgIlgpu.Tests", "Fixtures", "synthetic", "synthetic_weights.json")

# Seeds: the parity seeds, plus one large seed so that seed * golden wraps.
CASES = [("trgv2", 1), ("trg", 2), ("trgv2", 0xFEDCBA9876543210)]


def values(a):
    # Shortest float32 repr parsed back as a Python float: JSON holds exactly the float32 digits.
    return [float(str(v)) for v in a] if a.dtype == np.float32 else [int(v) for v in a]


def main():
    out = {"definition": "docs/synthetic-weights.md", "cases": []}
    for variant, seed in CASES:
        sd, subsample = synthetic_state_dict(variant, seed)
        tensors = []
        for key, shape, dtype in variant_tensors(variant):
            a = sd[key]
            assert a.shape == shape, (key, a.shape, shape)
            flat = a.reshape(-1)
            tensors.append({
                "key": key, "shape": list(shape), "dtype": dtype,
                "first": values(flat[:16]), "last": values(flat[-16:]),
                "sum": math.fsum(flat.astype(np.float64).tolist()),
                "checksum": str(checksum(a)),
            })
        tensors.append({"key": "subsample", "shape": [305], "dtype": "i64",
                        "first": values(subsample[:16]), "last": values(subsample[-16:]),
                        "sum": float(subsample.sum()), "checksum": str(checksum(subsample))})
        out["cases"].append({"variant": variant, "seed": str(seed), "elements": element_count(variant),
                             "tensors": tensors})
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    os.replace(tmp, OUT)
    print(OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
