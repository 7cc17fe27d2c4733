#!/usr/bin/env python3
"""PyTorch reference (tools/trg_reference.py) on a device, against the committed parity fixtures.

Runs every fixture case through the reference on --device (cuda or cpu), first with PyTorch's default float32
settings and then with TF32 off, and prints the largest deviation per output as check_parity.py does. On CUDA
this shows that the PyTorch peer timed by run.sh computes the same function as the engine (same synthetic
weights, rebuilt by this machine's numpy), and how far TF32 moves it.

    python3 tools/device/torch_parity.py --device cuda --image-dir .device/samples --json OUT.json FIXTURE.json...
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import check_parity as cp  # noqa: E402
import trg_reference as ref  # noqa: E402
from bench_peers import precision_flags, set_strict_fp32  # noqa: E402


def load_image(name: str, info: dict, image_dir: str) -> np.ndarray:
    if "formula" in info:
        rgb = cp.pattern_pixels(int(info["width"]), int(info["height"]))
    else:
        rgb = ref.load_rgb(os.path.join(image_dir, os.path.basename(info["path"])))
    if cp.image_checksum(rgb) != int(info["checksum"]):
        raise cp.ParityInputError(f"image '{name}': pixel checksum differs from the fixture's")
    return rgb


def run_case(model, case: dict, images: dict, device: torch.device) -> list:
    """The reference's forward on one batch of faces on `device` (crops built on the CPU in float64, as the fixture)."""
    xs, ks, infos, principals = [], [], [], []
    for face in case["faces"]:
        img = images[face["image"]]
        h, w, _ = img.shape
        box = [ref.f32(v) for v in face["bbox"]]
        focal = ref.f32(face["focal"])
        pp = face.get("principal")  # off-centre principal point (docs/camera.md); absent: the image centre
        xs.append(ref.crop_normalised(img, box))
        ks.append(ref.crop_intrinsics(box, focal, w, h, pp))
        infos.append(np.array(box + [focal, h, w], dtype=np.float32))
        principals.append(np.array(pp if pp is not None else [w * 0.5, h * 0.5], dtype=np.float32))
    x, k, info = (torch.from_numpy(np.stack(a)).to(device) for a in (xs, ks, infos))
    principal = None
    if any("principal" in face for face in case["faces"]):
        principal = torch.from_numpy(np.stack(principals)).to(device)
    out = model(x, k, info, None, principal)
    got = []
    for n, face in enumerate(case["faces"]):
        l, t, r, b = face["bbox"]
        lmk = out["lmk"][n].double().cpu().numpy()
        px = (lmk + 1) / 2 * ref.INPUT
        rot, trans = out["iterations"][-1]
        got.append({
            "rotation": rot[n].cpu().numpy(), "translation": trans[n].cpu().numpy(),
            "vertices_cam": out["face_cam"][n].cpu().numpy(), "vertices_head": out["face"][n].cpu().numpy(),
            "landmarks68_norm": out["lmk"][n].cpu().numpy(),
            "landmarks68": np.stack([l + px[:, 0] * (r - l) / 191, t + px[:, 1] * (b - t) / 191], 1),
            "iterations": [{"rotation": R[n].cpu().numpy(), "translation": T[n].cpu().numpy()} for R, T in out["iterations"]],
        })
    return got


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fixtures", nargs="+")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    ap.add_argument("--image-dir", required=True, help="folder holding the fixtures' image files (astronaut.png)")
    ap.add_argument("--json", help="write the full report here")
    a = ap.parse_args(argv)
    if a.device == "cuda" and not torch.cuda.is_available():
        print("torch_parity: error: --device cuda but torch.cuda.is_available() is False", file=sys.stderr)
        return 8
    device = torch.device(a.device)
    where = torch.cuda.get_device_name(device) if a.device == "cuda" else "CPU"
    reports, ok = [], True
    defaults = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        for path in a.fixtures:
            fx = cp.load_json(path, "parity fixture")
            images = {name: load_image(name, info, a.image_dir) for name, info in fx["images"].items()}
            model = ref.build_model(None, f"{fx['variant']}:{int(fx['seed'])}")[0].eval().to(device)
            for mode in ("default", "strict"):
                flags = set_strict_fp32() if mode == "strict" else precision_flags()
                faces = []
                for case in fx["cases"]:
                    for i, (want, got) in enumerate(zip(case["faces"], run_case(model, case, images, device))):
                        dev = cp.compare_face(want, got, f"{path}: {case['name']} face {i}")
                        faces.append({"case": case["name"], "face": i, "deviation": dev,
                                      "pass": all(dev[k] <= cp.TOLERANCES[k] for k in cp.TOLERANCES)})
                rep = {"variant": fx["variant"], "fixture": path, "device": f"PyTorch {torch.__version__} {where}",
                       "precision": mode, "precision_flags": flags, "faces": faces, "tolerances": cp.TOLERANCES,
                       "max_deviation": {k: max(f["deviation"][k] for f in faces) for k in cp.TOLERANCES},
                       "pass": all(f["pass"] for f in faces)}
                rep["device"] += f", {mode} float32 settings"
                cp.print_report(rep)
                reports.append(rep)
                ok = ok and rep["pass"]
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = defaults  # next fixture: defaults first
    except cp.ParityInputError as e:
        print(f"torch_parity: error: {e}", file=sys.stderr)
        return 2
    if a.json:
        with open(a.json + ".tmp", "w") as fh:
            json.dump(reports, fh, indent=1, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
        os.replace(a.json + ".tmp", a.json)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
