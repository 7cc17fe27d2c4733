#!/usr/bin/python3
"""Independent float64 reference of `trg metrics` (docs/evaluation.md, EVAL_SPEC.md) with SciPy and numpy.

    /usr/bin/python3 tools/eval_reference.py metrics --pred PRED.jsonl --gt GT.jsonl [--align DT.json]
        prints the JSON metrics (the keys `trg metrics --json` writes) for any pose files: compare with the C# tool.
    /usr/bin/python3 tools/eval_reference.py fixture
        writes tests/TrgIlgpu.Tests/Fixtures/Evaluation/{pred,gt}.jsonl, dt.json and expected.json: random samples incl.
        angles near the +-180 degree seams, near-identity rotations, rotations beyond 75 degrees, rotations rounded to 4
        decimals (not orthonormal), and ids on one side only. The C# tests compare to 1e-6 relative / 1e-9 absolute.

Written from EVAL_SPEC.md, not from the C# code: SciPy's Rotation does the conversions.
"""
import argparse
import json
import os
import sys

import numpy as np
import scipy
from scipy.spatial.transform import Rotation

BIN_WIDTH, BIN_RANGE = 5.0, 75.0


def read_poses(path):
    """id -> dict(R, T, vh, vc) from pose lines or `trg estimate --jsonl` lines (id: path, or path#k with several faces)."""
    out = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            o = json.loads(line)
            if "image" in o:
                if "error" in o:
                    continue
                faces = o["faces"]
                items = [(o["image"]["path"] if len(faces) == 1 else f'{o["image"]["path"]}#{k}', face) for k, face in enumerate(faces)]
            else:
                items = [(str(o["id"]), o)]
            for key, s in items:
                out[key] = {
                    "R": np.array(s["rotation"], dtype=np.float64),
                    "T": np.array(s["translation"], dtype=np.float64),
                    "vh": np.array(s["vertices_head"], dtype=np.float64) if s.get("vertices_head") is not None else None,
                    "vc": np.array(s["vertices_cam"], dtype=np.float64) if s.get("vertices_cam") is not None else None,
                }
    return out, list(out.keys())


def score(pairs):
    p_r = np.stack([p["R"] for p, _ in pairs])
    g_r = np.stack([g["R"] for _, g in pairs])
    e_p = Rotation.from_matrix(p_r).as_euler("yxz", degrees=True)
    e_g = Rotation.from_matrix(g_r).as_euler("yxz", degrees=True)
    err = np.abs(e_g - e_p)  # no wrap-around, as the official code
    cos = (np.trace(np.matmul(p_r, np.transpose(g_r, (0, 2, 1))), axis1=1, axis2=2) - 1) / 2
    ge = np.degrees(np.arccos(np.clip(cos, -1 + 1e-7, 1 - 1e-7)))
    t_err = np.abs(np.stack([p["T"] for p, _ in pairs]) - np.stack([g["T"] for _, g in pairs])) * 1000
    mae_per = err.mean(axis=1)
    angle = Rotation.from_matrix(g_r).magnitude() * 180 / np.pi
    bmae, empty = 0.0, 0
    for i in range(int(BIN_RANGE / BIN_WIDTH)):
        lo = i * BIN_WIDTH
        m = (angle >= lo) & (angle < lo + BIN_WIDTH)
        if m.any():
            bmae += mae_per[m].mean()
        else:
            empty += 1
    r = {
        "yaw": err[:, 0].mean(), "pitch": err[:, 1].mean(), "roll": err[:, 2].mean(), "mae_r": err.mean(), "ge": ge.mean(),
        "tx_mm": t_err[:, 0].mean(), "ty_mm": t_err[:, 1].mean(), "tz_mm": t_err[:, 2].mean(), "mae_t_mm": t_err.mean(),
        "bmae": BIN_WIDTH / BIN_RANGE * bmae, "bmae_empty_bins": float(empty), "n": float(len(pairs)),
    }
    if all(g["vh"] is not None for _, g in pairs):
        add = [np.linalg.norm((g["vh"] @ p["R"].T + p["T"]) - (g["vh"] @ g["R"].T + g["T"]), axis=1).mean() for p, g in pairs]
        r["add_mm"] = float(np.mean(add)) * 1000
    if all(g["vc"] is not None and p["vc"] is not None for p, g in pairs):
        d = np.array([np.linalg.norm(p["vc"] - g["vc"], axis=1).mean() for p, g in pairs]) * 1000
        r["dense_median_mm"], r["dense_mean_mm"] = float(np.median(d)), float(d.mean())
    return {k: float(v) for k, v in r.items()}


def metrics(pred, gt, dt=None):
    (p, _), (g, g_order) = pred, gt
    pairs = [(p[k], g[k]) for k in g_order if k in p]
    result = score(pairs)
    result["missing_predictions"] = float(sum(1 for k in g_order if k not in p))
    result["missing_ground_truth"] = float(sum(1 for k in p if k not in g))
    if dt is not None:
        d = np.array(dt["dt_m"], dtype=np.float64)
        shifted = []
        for a, b in pairs:
            c = a["R"] @ d if dt.get("frame", "head") == "head" else d
            shifted.append(({**a, "T": a["T"] + c, "vc": None if a["vc"] is None else a["vc"] + c}, b))
        aligned = score(shifted)
        aligned.update({k: result[k] for k in ("missing_predictions", "missing_ground_truth")})
        aligned["unaligned"] = {k: v for k, v in result.items() if not k.startswith("missing")}
        result = aligned
    return result


def random_rotation_about(rng, max_deg):
    axis = rng.normal(size=3)
    return Rotation.from_rotvec(axis / np.linalg.norm(axis) * np.radians(rng.uniform(0, max_deg)))


def make_fixture(folder):
    rng = np.random.default_rng(20261203)
    gts, preds = [], []
    nv = 12
    cases = []
    cases += [Rotation.random(random_state=rng) for _ in range(12)]                                            # uniform
    cases += [random_rotation_about(rng, 2.0) for _ in range(10)]                                              # near identity
    cases += [Rotation.from_euler("yxz", [s * rng.uniform(179.0, 179.99), rng.uniform(-30, 30), rng.uniform(-20, 20)], degrees=True)
              for s in (1, -1) for _ in range(5)]                                                             # yaw seam
    cases += [Rotation.from_euler("yxz", [rng.uniform(-40, 40), rng.uniform(-30, 30), s * rng.uniform(179.0, 179.99)], degrees=True)
              for s in (1, -1) for _ in range(4)]                                                             # roll seam
    cases += [Rotation.from_rotvec(v / np.linalg.norm(v) * np.radians(rng.uniform(75, 150))) for v in rng.normal(size=(10, 3))]  # beyond 75
    cases += [Rotation.from_euler("yxz", rng.uniform([-70, -40, -30], [70, 40, 30]), degrees=True) for _ in range(16)]  # head poses
    for i, r_gt in enumerate(cases):
        r_pred = random_rotation_about(rng, 6.0) * r_gt
        m_gt, m_pred = r_gt.as_matrix(), r_pred.as_matrix()
        if i % 9 == 4:  # a user's file with few digits: not exactly orthonormal
            m_gt, m_pred = np.round(m_gt, 4), np.round(m_pred, 4)
        t_gt = np.array([rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15), rng.uniform(0.4, 1.5)])
        t_pred = t_gt + rng.normal(scale=0.012, size=3)
        vh = rng.normal(scale=0.05, size=(nv, 3))
        vh_pred = vh + rng.normal(scale=0.004, size=(nv, 3))
        gts.append({"id": f"s{i:03d}", "rotation": m_gt.tolist(), "translation": t_gt.tolist(), "vertices_head": vh.tolist(),
                    "vertices_cam": (vh @ m_gt.T + t_gt).tolist()})
        preds.append({"id": f"s{i:03d}", "rotation": m_pred.tolist(), "translation": t_pred.tolist(),
                      "vertices_cam": (vh_pred @ m_pred.T + t_pred).tolist()})
    # Ids on one side only: counted, never scored.
    preds = [p for p in preds if p["id"] not in ("s005", "s040", "s061")]
    preds.append({**preds[0], "id": "extra-1"})
    preds.append({**preds[1], "id": "extra-2"})
    os.makedirs(folder, exist_ok=True)
    for name, rows in (("gt.jsonl", gts), ("pred.jsonl", preds)):
        with open(os.path.join(folder, name), "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    dt = {"dt_m": [0.0031, -0.0124, 0.0207], "frame": "head"}
    with open(os.path.join(folder, "dt.json"), "w") as f:
        json.dump(dt, f)
    p, g = read_poses(os.path.join(folder, "pred.jsonl")), read_poses(os.path.join(folder, "gt.jsonl"))
    expected = {"scipy": scipy.__version__, "numpy": np.__version__, "plain": metrics(p, g), "aligned": metrics(p, g, dt)}
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(f"wrote {len(gts)} ground-truth and {len(preds)} predicted samples to {folder}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("metrics")
    m.add_argument("--pred", required=True)
    m.add_argument("--gt", required=True)
    m.add_argument("--align")
    sub.add_parser("fixture")
    a = ap.parse_args()
    if a.cmd == "fixture":
        make_fixture(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "TrgIlgpu.Tests", "Fixtures", "Evaluation"))
    else:
        dt = json.load(open(a.align)) if a.align else None
        json.dump(metrics(read_poses(a.pred), read_poses(a.gt), dt), sys.stdout, indent=1)
        print()


if __name__ == "__main__":
    main()
