#!/usr/bin/python3
"""Writes the end-to-end parity fixtures tests/TrgIlgpu.Tests/Fixtures/parity/{trgv2,trg}.json from the PyTorch
reference (tools/trg_reference.py) on synthetic weights (docs/synthetic-weights.md). Fixtures hold seeds, inputs
and expected outputs, never weights (docs/parity-fixtures.md).

    /usr/bin/python3 tools/make_parity_fixtures.py [--report] [--keep-existing]

--keep-existing keeps the cases already in the fixture files as they are (byte for byte) and computes only the new
ones: recomputing a case on another machine (thread count, ISA) moves its values by float32 noise (~1e-7), which
would churn the files for nothing. --report also prints, per face, the largest float32-vs-float64 differences of the reference itself and the
spread between two float32 PyTorch paths (oneDNN on/off), to judge how tight the engine tolerances can be.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trg_reference as ref  # noqa: E402
from synthetic_weights import synthetic_state_dict  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "TrgIlgpu.Tests", "Fixtures", "parity")
ASTRONAUT = os.path.join(ROOT, "..", "shared", "samples", "astronaut.png")
SEEDS = {"trgv2": 1, "trg": 2}
PATTERN_FORMULA = "R=(x*7+y*13)%256, G=(x*x+3*y)%256, B=(x^y)&255, x in [0,320), y in [0,240)"

# (image name, box, focal or None for the default W + H[, principal point (px, py) in image pixels; absent: the centre])
CASES = [
    ("batch1", [("astronaut", [153, 49, 295, 191], None)]),
    ("batch4_two_images", [
        ("astronaut", [153, 49, 295, 191], None),
        ("astronaut", [100, 150, 260, 310], None),
        ("astronaut", [400, -30, 560, 130], None),  # reaches above and right of the image
        ("pattern320x240", [60, 40, 200, 180], 700.0),
    ]),
    # Calibrated cameras: the principal point off the image centre (docs/camera.md), the default path's faces alongside.
    ("batch4_principal_off_centre", [
        ("astronaut", [153, 49, 295, 191], 900.0, (180.5, 301.25)),
        ("pattern320x240", [60, 40, 200, 180], 700.0, (40.0, 200.75)),
        ("astronaut", [400, -30, 560, 130], None, (293.25, 194.5)),  # box past the edge, default focal
        ("astronaut", [100, 150, 260, 310], None),                   # image centre, in the same batch
    ]),
]

COMPARED = ["translation", "rotation", "vertices_cam", "vertices_head", "landmarks68_norm"]


def pixel_checksum(img):
    """sum_j byte_j * (2j + 1) mod 2^64 over the RGB bytes, row-major: proves C# decoded the same pixels."""
    flat = img.reshape(-1).astype(np.uint64)
    return str(int(np.sum(flat * (np.arange(flat.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)), dtype=np.uint64)))


def max_diffs(a, b):
    d = {k: float(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)).max()) for k in COMPARED}
    d["sampling_points"] = max([float(np.abs(p.astype(np.float64) - q).max())
                                for p, q in zip(a["sampling_points"], b["sampling_points"])], default=0.0)
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--keep-existing", action="store_true", help="keep cases already in the fixture files unchanged")
    args = ap.parse_args()
    images = {"astronaut": ref.load_rgb(ASTRONAUT), "pattern320x240": ref.pattern_image(320, 240)}
    os.makedirs(OUT_DIR, exist_ok=True)
    for variant, seed in SEEDS.items():
        path = os.path.join(OUT_DIR, f"{variant}.json")
        existing = {}
        if args.keep_existing and os.path.exists(path):
            with open(path) as fh:
                existing = {c["name"]: c for c in json.load(fh)["cases"]}
        sd, sub = synthetic_state_dict(variant, seed)
        model = ref.TrgReference(variant).load_weights(sd, sub)
        fixture = {
            "variant": variant, "seed": str(seed),
            "weights": f"synthetic:{variant}:{seed} (docs/synthetic-weights.md)",
            "images": {
                "astronaut": {"path": "../shared/samples/astronaut.png", "width": 512, "height": 512,
                              "checksum": pixel_checksum(images["astronaut"])},
                "pattern320x240": {"width": 320, "height": 240, "formula": PATTERN_FORMULA,
                                   "checksum": pixel_checksum(images["pattern320x240"])},
            },
            "cases": [],
        }
        for name, faces in CASES:
            if name in existing:
                fixture["cases"].append(existing[name])
                continue
            inputs = []
            for image, box, focal, *principal in faces:
                img = images[image]
                inputs.append((img, box, float(img.shape[0] + img.shape[1]) if focal is None else focal,
                               principal[0] if principal else None))
            out32 = ref.run_faces(model, inputs, torch.float32)
            out64 = ref.run_faces(model, inputs, torch.float64)
            with torch.backends.mkldnn.flags(enabled=False):
                out32b = ref.run_faces(model, inputs, torch.float32)
            case = {"name": name, "faces": []}
            for (image, *_), r32, r64, r32b in zip(faces, out32, out64, out32b):
                face = {"image": image}
                face.update(r32)
                face["reference_float64_deviation"] = max_diffs(r32, r64)
                face["reference_float32_path_spread"] = max_diffs(r32, r32b)
                case["faces"].append(face)
                if args.report:
                    print(f"{variant} {name} {image} {face['bbox']}")
                    for label, d in (("f32 vs f64", face["reference_float64_deviation"]),
                                     ("f32 oneDNN on/off", face["reference_float32_path_spread"])):
                        print(f"   {label:18s} " + " ".join(f"{k}={v:.2e}" for k, v in d.items()))
            fixture["cases"].append(case)
        ref.write_json(path, fixture)
        print(f"wrote {path} ({os.path.getsize(path)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
