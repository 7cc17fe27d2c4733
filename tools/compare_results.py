#!/usr/bin/python3
"""Compare two `trg estimate`-shaped JSON documents face by face (engine vs PyTorch reference).

    /usr/bin/python3 tools/compare_results.py engine.json reference.json

Tolerances are the core engine issue's, on the final iteration: |T| 2e-5 m, R 1e-5, camera-space vertices 5e-5 m,
normalised landmarks 1e-4; every iteration's R and T are checked with the same tolerances. Exit 0 when all pass.
"""
import json
import sys

import numpy as np

TOL = {"translation": 2e-5, "rotation": 1e-5, "vertices_cam": 5e-5, "vertices_head": 5e-5, "landmarks68_norm": 1e-4}


def faces(doc):
    if "faces" in doc:
        return doc["faces"]
    return [f for img in doc["images"] for f in img.get("faces", [])]


def main(a, b):
    fa, fb = faces(json.load(open(a))), faces(json.load(open(b)))
    if len(fa) != len(fb):
        print(f"face counts differ: {len(fa)} vs {len(fb)}")
        return 1
    ok = True
    for n, (x, y) in enumerate(zip(fa, fb)):
        parts = []
        for key, tol in TOL.items():
            d = float(np.max(np.abs(np.asarray(x[key], np.float64) - np.asarray(y[key], np.float64))))
            ok &= d <= tol
            parts.append(f"{key} {d:.2e}{'' if d <= tol else ' FAIL'}")
        for i, (ix, iy) in enumerate(zip(x["iterations"], y["iterations"])):
            for key in ("rotation", "translation"):
                d = float(np.max(np.abs(np.asarray(ix[key], np.float64) - np.asarray(iy[key], np.float64))))
                ok &= d <= TOL[key]
                if d > TOL[key]:
                    parts.append(f"iteration {i} {key} {d:.2e} FAIL")
        print(f"face {n} bbox {x['bbox']}: " + ", ".join(parts))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
