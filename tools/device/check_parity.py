#!/usr/bin/env python3
"""Parity of `trg estimate` output against the committed PyTorch fixtures (docs/parity-fixtures.md). numpy only.

Three subcommands, used by tools/device/run.sh (they work on any device's output, OpenCL included):

    check_parity.py plan F.json --image-dir DIR
        prints the `trg estimate` runs that reproduce the fixture's cases, one per line, tab separated:
        RUN_NAME  MODEL  IMAGE_PATH  FOCAL  l,t,r,b[;l,t,r,b...]  CAMERA
        CAMERA is fx,fy,cx,cy for faces whose principal point is off the image centre (run with --camera), else "-"
        (run with --focal). Consecutive faces of one case on one image with one camera share a run (and so a forward pass). Procedural
        images are written into DIR as NAME.png (pixels checked against the fixture's checksum); file images must
        already be there under their file name (astronaut.png).
    check_parity.py compare F.json --outputs DIR [--json OUT]
        reads DIR/RUN_NAME.json (the engine's single-image documents) for every run of the plan and prints the
        largest deviation of each output per face against the issue's tolerances; exit 0 when all pass, 1 when one
        fails, 2 when an output is missing or malformed
    check_parity.py faces REFERENCE.json DEVICE.json [--json OUT]
        face finding (face-api's SSD and landmark net on the engine, no TRG model) on the device against the same
        binary's run on PoCL made by prepare.sh: detection boxes and scores, 68 landmarks, landmark-fit rotation

Tolerances (issue 5 and tests/TrgIlgpu.Tests/Parity/EngineParityTests.cs): T 2e-5 m, R 1e-5, vertices 5e-5 m,
normalised landmarks 1e-4 (1e-4 * 192 for full-image pixels), on the final pose and on every iteration's R and T.
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import zlib
from typing import Dict, List, Tuple

import numpy as np

TOLERANCES = {  # key in the engine JSON -> tolerance
    "translation": 2e-5,
    "rotation": 1e-5,
    "vertices_cam": 5e-5,
    "vertices_head": 5e-5,
    "landmarks68_norm": 1e-4,
    "landmarks68": 1e-4 * 192,
    "iterations.translation": 2e-5,
    "iterations.rotation": 1e-5,
}
SHORT = {"translation": "T", "rotation": "R", "vertices_cam": "v_cam", "vertices_head": "v_head",
         "landmarks68_norm": "lmk", "landmarks68": "lmk_px", "iterations.translation": "it_T",
         "iterations.rotation": "it_R"}


class ParityInputError(Exception):
    """A missing or malformed file; the message names it."""


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------

def pattern_pixels(width: int, height: int) -> np.ndarray:
    """R = (7x + 13y) % 256, G = (x*x + 3y) % 256, B = (x ^ y) & 255 (docs/parity-fixtures.md), [H, W, 3] uint8."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    return np.stack([(x * 7 + y * 13) % 256, (x * x + 3 * y) % 256, (x ^ y) & 255], -1).astype(np.uint8)


def image_checksum(rgb: np.ndarray) -> int:
    """sum_j byte_j * (2j + 1) mod 2^64 over the row-major RGB bytes (uint64 arithmetic wraps)."""
    b = rgb.reshape(-1).astype(np.uint64)
    w = np.arange(b.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    return int(np.sum(b * w, dtype=np.uint64))


def write_png(path: str, rgb: np.ndarray) -> None:
    """8-bit RGB PNG, filter 0 on every row; written to a temp file and renamed."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[r].tobytes() for r in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(png)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Fixture and plan
# ---------------------------------------------------------------------------------------------

def load_json(path: str, what: str):
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise ParityInputError(f"{path}: {what} not found") from None
    except (OSError, ValueError) as e:
        raise ParityInputError(f"{path}: {what} is not readable JSON ({e})") from None


def plan_runs(fixture: dict) -> List[Tuple[str, str, float, List[List[float]], str, List[int], object]]:
    """(run name, image name, focal, boxes, case name, face indices in the case, principal point [px, py] or None
    for the image centre) for every engine run."""
    runs = []
    for case in fixture["cases"]:
        groups: List[Tuple[str, float, object, List[int]]] = []
        for i, face in enumerate(case["faces"]):
            principal = face.get("principal")
            if groups and groups[-1][:3] == (face["image"], face["focal"], principal):
                groups[-1][3].append(i)
            else:
                groups.append((face["image"], face["focal"], principal, [i]))
        for k, (image, focal, principal, idx) in enumerate(groups):
            name = f"{fixture['variant']}-{case['name']}-{k}"
            runs.append((name, image, float(focal), [case["faces"][i]["bbox"] for i in idx], case["name"], idx, principal))
    return runs


def box_text(box) -> str:
    return ",".join(f"{v:g}" for v in box)


# ---------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------

def max_abs(want, got, what: str) -> float:
    a = np.asarray(want, dtype=np.float64)
    b = np.asarray([np.nan if v is None else v for v in np.asarray(got, dtype=object).reshape(-1)], dtype=np.float64)
    if a.size != b.size:
        raise ParityInputError(f"{what}: {b.size} values, expected {a.size}")
    d = np.abs(a.reshape(-1) - b)
    return float("inf") if np.isnan(d).any() else float(d.max())


def compare_face(want: dict, got: dict, at: str) -> Dict[str, float]:
    """Largest |engine - fixture| of every checked output of one face."""
    dev = {k: max_abs(want[k], got.get(k), f"{at}: {k}") for k in
           ("translation", "rotation", "vertices_cam", "vertices_head", "landmarks68_norm", "landmarks68")}
    wi, gi = want["iterations"], got.get("iterations") or []
    if len(gi) != len(wi):
        raise ParityInputError(f"{at}: {len(gi)} iterations, expected {len(wi)}")
    dev["iterations.translation"] = max(max_abs(w["translation"], g["translation"], f"{at}: iteration T") for w, g in zip(wi, gi))
    dev["iterations.rotation"] = max(max_abs(w["rotation"], g["rotation"], f"{at}: iteration R") for w, g in zip(wi, gi))
    return dev


def compare(fixture_path: str, outputs: str) -> dict:
    fixture = load_json(fixture_path, "parity fixture")
    cases = {c["name"]: c for c in fixture["cases"]}
    faces = []
    device = None
    for name, image, _focal, boxes, case_name, idx, _principal in plan_runs(fixture):
        path = os.path.join(outputs, name + ".json")
        doc = load_json(path, "engine output")
        device = device or doc.get("device")
        got_faces = doc.get("faces")
        if got_faces is None:
            raise ParityInputError(f"{path}: no 'faces' (engine error: {doc.get('error')})")
        if len(got_faces) != len(idx):
            raise ParityInputError(f"{path}: {len(got_faces)} faces, expected {len(idx)}")
        for i, got in zip(idx, got_faces):
            want = cases[case_name]["faces"][i]
            at = f"{path}: face {i} of {case_name}"
            if [float(v) for v in got["bbox"]] != [float(v) for v in want["bbox"]]:
                raise ParityInputError(f"{at}: bbox {got['bbox']}, expected {want['bbox']}")
            dev = compare_face(want, got, at)
            faces.append({"variant": fixture["variant"], "case": case_name, "face": i, "image": image,
                          "bbox": want["bbox"], "deviation": dev,
                          "pass": all(dev[k] <= TOLERANCES[k] for k in TOLERANCES),
                          "reference_float64_deviation": want.get("reference_float64_deviation")})
    worst = {k: max(f["deviation"][k] for f in faces) for k in TOLERANCES}
    return {"variant": fixture["variant"], "fixture": fixture_path, "device": device, "tolerances": TOLERANCES,
            "faces": faces, "max_deviation": worst, "pass": all(f["pass"] for f in faces)}


def print_report(rep: dict) -> None:
    keys = list(TOLERANCES)
    print(f"parity {rep['variant']} on {rep['device']} against {rep['fixture']}")
    print(f"{'case':<20} {'face':>4} " + " ".join(f"{SHORT[k]:>9}" for k in keys) + "  result")
    print(f"{'tolerance':<20} {'':>4} " + " ".join(f"{TOLERANCES[k]:9.1e}" for k in keys))
    for f in rep["faces"]:
        print(f"{f['case']:<20} {f['face']:>4} " + " ".join(f"{f['deviation'][k]:9.2e}" for k in keys)
              + ("  ok" if f["pass"] else "  FAIL"))
    print(f"{'largest':<20} {'':>4} " + " ".join(f"{rep['max_deviation'][k]:9.2e}" for k in keys)
          + ("  PASS" if rep["pass"] else "  FAIL"))


# ---------------------------------------------------------------------------------------------

def image_path(name: str, info: dict, image_dir: str) -> str:
    """The file of one fixture image in image_dir; procedural ones are written there first."""
    if "formula" not in info:
        path = os.path.join(image_dir, os.path.basename(info["path"]))
        if not os.path.isfile(path):
            raise ParityInputError(f"{path}: image '{name}' not found")
        return path
    rgb = pattern_pixels(int(info["width"]), int(info["height"]))
    if image_checksum(rgb) != int(info["checksum"]):
        raise ParityInputError(f"image '{name}': checksum {image_checksum(rgb)} of the formula's pixels != {info['checksum']}")
    path = os.path.join(image_dir, name + ".png")
    write_png(path, rgb)
    return path


# Face finding on the device vs the same binary on PoCL (prepare.sh): detector boxes and scores, the landmark net's
# 68 points, and the landmark-fit pose. Float32 on two devices: summation order differs, so pixels get 0.05 px.
FACE_TOLERANCES = {"box": 0.05, "score": 1e-4, "landmarks68": 0.05, "rotation": 1e-3}


def compare_faces(reference_path: str, device_path: str) -> dict:
    """Per face, the largest |device - reference| of the detection box, score, landmarks and fitted rotation."""
    ref = load_json(reference_path, "reference estimate")
    dev = load_json(device_path, "device estimate")
    want, got = ref.get("faces", []), dev.get("faces", [])
    rep = {"reference": reference_path, "device": device_path, "faces": [], "pass": len(want) == len(got) and len(want) > 0,
           "problems": [] if len(want) == len(got) else [f"{len(got)} faces on the device, {len(want)} on the reference"]}
    for i, (w, g) in enumerate(zip(want, got)):
        wd, gd = w.get("detection") or {}, g.get("detection") or {}
        dev_max = {
            "box": max_abs(wd.get("box"), gd.get("box"), f"face {i} box"),
            "score": max_abs([wd.get("score")], [gd.get("score")], f"face {i} score"),
            "landmarks68": max_abs(wd.get("landmarks68"), gd.get("landmarks68"), f"face {i} landmarks68"),
            "rotation": max_abs(w.get("rotation"), g.get("rotation"), f"face {i} rotation"),
        }
        ok = all(dev_max[k] <= FACE_TOLERANCES[k] for k in FACE_TOLERANCES)
        rep["faces"].append({"face": i, "max_abs": dev_max, "pass": ok})
        rep["pass"] = rep["pass"] and ok
    return rep


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("plan", help="print the estimate runs of a fixture")
    q.add_argument("fixture")
    q.add_argument("--image-dir", required=True)
    c = sub.add_parser("compare", help="compare engine outputs with a fixture")
    c.add_argument("fixture")
    c.add_argument("--outputs", required=True, help="folder holding RUN_NAME.json for each run of the plan")
    c.add_argument("--json", help="write the full report here")
    f = sub.add_parser("faces", help="compare face finding on the device with the reference run (prepare.sh, PoCL)")
    f.add_argument("reference")
    f.add_argument("device")
    f.add_argument("--json", help="write the full report here")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "plan":
            fx = load_json(a.fixture, "parity fixture")
            paths = {name: image_path(name, info, a.image_dir) for name, info in fx["images"].items()}
            model = f"synthetic:{fx['variant']}:{int(fx['seed'])}"
            for name, image, focal, boxes, _, _, principal in plan_runs(fx):
                camera = "-" if principal is None else ",".join(f"{v:.9g}" for v in (focal, focal, *principal))
                print(f"{name}\t{model}\t{paths[image]}\t{focal:g}\t{';'.join(box_text(b) for b in boxes)}\t{camera}")
            return 0
        if a.cmd == "faces":
            rep = compare_faces(a.reference, a.device)
            for face in rep["faces"]:
                cells = ", ".join(f"{k} {v:.3g} (≤ {FACE_TOLERANCES[k]:g})" for k, v in face["max_abs"].items())
                print(f"faces: face {face['face']}: {cells}: {'ok' if face['pass'] else 'FAIL'}")
            for problem in rep["problems"]:
                print(f"faces: {problem}")
        else:
            rep = compare(a.fixture, a.outputs)
            print_report(rep)
        if a.json:
            tmp = a.json + ".tmp"
            with open(tmp, "w") as fh:
                json.dump(rep, fh, indent=1)
            os.replace(tmp, a.json)
        return 0 if rep["pass"] else 1
    except ParityInputError as e:
        print(f"check_parity: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
