#!/usr/bin/python3
"""Acceptance check of `trg estimate` without a model (the landmark fit) against OpenCV on the engine's own landmarks.

For every face of one or more `trg estimate --json` / `--jsonl` outputs, solves the same perspective-n-point problem
with OpenCV (solvePnP SOLVEPNP_EPNP polished by solvePnPRefineLM, and SOLVEPNP_ITERATIVE; the lower reprojection
error wins) on the JSON's `detection.landmarks68` with the image's `camera`, and the embedded template's 68 points
(weights/trg-template/trg_template.json). Prints, per face, the engine's yaw/pitch/roll and OpenCV's (SciPy
as_euler('yxz'), the engine's convention), the geodesic angle between the rotations and the relative translation
difference; exits 1 when any face is off by more than --max-deg degrees (default 2) or --max-t relative (default 0.02).

    /usr/bin/python3 tools/check_landmark_fit.py result.json [more.json ...]
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def template_landmarks():
    with open(os.path.join(ROOT, "weights", "trg-template", "trg_template.json")) as f:
        t = json.load(f)
    v = np.asarray(t["vertices"], dtype=np.float64).reshape(-1, 3)
    return v[np.asarray(t["landmark68_vertex_index"])]


def images(path):
    with open(path) as f:
        text = f.read()
    try:
        doc = json.loads(text)
        return doc["images"] if "images" in doc else [doc]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip() and '"image"' in line and '"faces"' in line]


def opencv_pose(model, points, camera, guess=None):
    """OpenCV's best pose from its own starts (EPnP, ITERATIVE), or refined from `guess` = (R, T) when given."""
    k = np.array([[camera["fx"], 0, camera["cx"]], [0, camera["fy"], camera["cy"]], [0, 0, 1]], dtype=np.float64)
    best = None
    starts = [cv2.SOLVEPNP_EPNP, cv2.SOLVEPNP_ITERATIVE] if guess is None else ["guess"]
    for flag in starts:
        if flag == "guess":
            rvec, tvec = cv2.Rodrigues(guess[0])[0], guess[1].reshape(3, 1).copy()
        else:
            ok, rvec, tvec = cv2.solvePnP(model, points, k, None, flags=flag)
            if not ok:
                continue
        rvec, tvec = cv2.solvePnPRefineLM(model, points, k, None, rvec, tvec,
                                          (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 200, 1e-12))
        proj, _ = cv2.projectPoints(model, rvec, tvec, k, None)
        rms = float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - points) ** 2, axis=1))))
        if tvec[2, 0] > 0 and (best is None or rms < best[2]):
            best = (cv2.Rodrigues(rvec)[0], tvec.reshape(3), rms)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json", nargs="+")
    ap.add_argument("--max-deg", type=float, default=2.0)
    ap.add_argument("--max-t", type=float, default=0.02)
    args = ap.parse_args()
    model = template_landmarks()
    worst_deg, worst_t, n, bad = 0.0, 0.0, 0, 0
    for path in args.json:
        for img in images(path):
            for i, face in enumerate(img.get("faces", [])):
                if face.get("method") != "landmarks":
                    continue
                points = np.asarray(face["detection"]["landmarks68"], dtype=np.float64)
                ref = opencv_pose(model, points, img["camera"])
                r = np.asarray(face["rotation"], dtype=np.float64)
                t = np.asarray(face["translation"], dtype=np.float64)
                if ref is None:
                    print(f"{img['image']['path']} face {i}: OpenCV found no pose")
                    bad += 1
                    continue
                rr, tr, rms = ref
                deg = float(np.degrees(Rotation.from_matrix(r @ rr.T).magnitude()))
                rel = float(np.linalg.norm(t - tr) / np.linalg.norm(tr))
                note = ""
                if (deg > args.max_deg or rel > args.max_t) and face.get("fit_rms_px", np.inf) < rms:
                    # OpenCV's own starts ended in a worse local minimum: let OpenCV refine from the engine's pose. If it
                    # stays there with the engine's lower error, the engine's answer is OpenCV's minimum too.
                    rg, tg, rmsg = opencv_pose(model, points, img["camera"], (r, t))
                    deg = float(np.degrees(Rotation.from_matrix(r @ rg.T).magnitude()))
                    rel = float(np.linalg.norm(t - tg) / np.linalg.norm(tg))
                    note = f" (OpenCV's own starts: {rms:.2f} px, a worse minimum; refined from the engine's pose: {rmsg:.2f} px)"
                    rr, rms = rg, rmsg
                e = Rotation.from_matrix(r).as_euler("yxz", degrees=True)
                eo = Rotation.from_matrix(rr).as_euler("yxz", degrees=True)
                ok = deg <= args.max_deg and rel <= args.max_t
                bad += not ok
                n += 1
                worst_deg, worst_t = max(worst_deg, deg), max(worst_t, rel)
                print(f"{img['image']['path']} face {i}: engine ypr {e[0]:7.2f} {e[1]:7.2f} {e[2]:7.2f}  opencv "
                      f"{eo[0]:7.2f} {eo[1]:7.2f} {eo[2]:7.2f}  angle {deg:.4f} deg  dT {rel:.2e}  "
                      f"rms {face.get('fit_rms_px', float('nan')):.2f}/{rms:.2f} px  {'ok' if ok else 'FAIL'}{note}")
    print(f"{n} faces, worst rotation difference {worst_deg:.4f} deg, worst translation difference {worst_t:.2e}; "
          f"{bad} outside --max-deg {args.max_deg} / --max-t {args.max_t}")
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
