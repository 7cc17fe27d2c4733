#!/usr/bin/python3
"""Checks tools/trg_reference.py against the official TRG model code (TRG variant only: the official release
has no TRGv2 head). Nothing of the official code is copied into the project: the needed files are read
from the bare mirror with `git show` into a temporary folder at run time; the packages it imports but does
not need for inference (yacs, torchgeometry, scipy, packaging) are replaced by small stand-ins.

    /usr/bin/python3 tools/compare_official.py [--mirror /work/.mirror/asw91666+TRG-Release/repo] [--seed 2]

Runs the synthetic weights on the parity inputs (astronaut box, a box reaching outside the image) and
prints the largest difference of every output; 0.0 everywhere means bit-identical.
"""
import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import types

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trg_reference as ref  # noqa: E402
from synthetic_weights import synthetic_state_dict  # noqa: E402

FILES = ["models/op.py", "models/trg_model/__init__.py", "models/trg_model/trg.py",
         "models/trg_model/laf_extractor.py", "models/trg_model/pose_resnet.py",
         "models/trg_model/core/__init__.py", "models/trg_model/core/cfgs.py", "util/pkl.py"]


class _Cfg(dict):
    """Stand-in for yacs CfgNode: a dict with attribute access."""

    def __init__(self, *args, new_allowed=False, **kw):
        super().__init__(*args, **kw)

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k)

    def __setattr__(self, k, v):
        self[k] = v


def _stub_modules():
    yacs = types.ModuleType("yacs")
    yacs_config = types.ModuleType("yacs.config")
    yacs_config.CfgNode = _Cfg
    yacs.config = yacs_config
    packaging = types.ModuleType("packaging")
    version = types.ModuleType("packaging.version")
    version.parse = lambda s: tuple(int(p) for p in s.split("+")[0].split("a")[0].split(".")[:2])
    packaging.version = version
    for name, mod in [("yacs", yacs), ("yacs.config", yacs_config), ("packaging", packaging),
                      ("packaging.version", version), ("torchgeometry", types.ModuleType("torchgeometry")),
                      ("scipy", types.ModuleType("scipy"))]:
        sys.modules[name] = mod


def _extract(mirror, dest):
    for path in FILES:
        text = subprocess.run(["git", "--git-dir", mirror, "show", f"HEAD:{path}"], check=True,
                              capture_output=True).stdout
        out = os.path.join(dest, path)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as fh:
            fh.write(text)
    # Package markers only (the official models/__init__.py pulls in the training framework).
    for pkg in ["models", "util"]:
        open(os.path.join(dest, pkg, "__init__.py"), "w").close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", default="/work/.mirror/asw91666+TRG-Release/repo")
    ap.add_argument("--seed", type=int, default=2)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    img = ref.load_rgb(os.path.join(root, "..", "shared", "samples", "astronaut.png"))

    sd, subsample = synthetic_state_dict("trg", args.seed)
    ours = ref.TrgReference("trg").load_weights(sd, subsample)

    with tempfile.TemporaryDirectory() as tmp:
        _extract(args.mirror, tmp)
        os.makedirs(os.path.join(tmp, "data"))
        with open(os.path.join(tmp, "data", "arkit_subsample.pkl"), "wb") as fh:
            pickle.dump({"1220_to_305": [int(v) for v in subsample]}, fh)
        _stub_modules()
        sys.path.insert(0, tmp)
        cwd = os.getcwd()
        os.chdir(tmp)  # the official code reads data/arkit_subsample.pkl relative to the working folder
        try:
            import models.trg_model.trg as trg_mod
            from models.trg_model.core.cfgs import cfg
            torch.utils.model_zoo.load_url = lambda *a, **k: {}  # no ImageNet download; weights come below
            trg_mod.rotmat_to_rot6d = lambda r: torch.zeros(1, 1, 6)  # init buffers are overwritten below
            cfg.MODEL.TRG = _Cfg(LAF_ON=False, N_ITER=3, INPUT_IMG_SIZE=192, MLP_DIM=[256, 128, 64, 5])
            cfg.POSE_RES_MODEL = _Cfg(EXTRA=_Cfg(NUM_LAYERS=18, DECONV_WITH_BIAS=False, NUM_DECONV_LAYERS=3,
                                                  NUM_DECONV_FILTERS=[256] * 3, NUM_DECONV_KERNELS=[4] * 3))
            cfg.RES_MODEL = _Cfg(DECONV_WITH_BIAS=False, NUM_DECONV_LAYERS=3, NUM_DECONV_FILTERS=[256] * 3,
                                 NUM_DECONV_KERNELS=[4] * 3)
            official = trg_mod.TRG(cfg, np.zeros((1220, 3), np.float32), np.eye(4, dtype=np.float32))
        finally:
            os.chdir(cwd)
        missing, unexpected = official.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
        official.eval()

        faces = [(img, [153, 49, 295, 191], 1024.0), (img, [400, -30, 560, 130], 1024.0)]
        out_ours = ref.run_faces(ours, faces)
        x = torch.from_numpy(np.stack([ref.crop_normalised(im, box) for im, box, _ in faces]))
        k4 = np.zeros((len(faces), 4, 3), np.float32)
        for n, (im, box, f) in enumerate(faces):
            k4[n, :3, :] = ref.crop_intrinsics(box, f, im.shape[1], im.shape[0]).T
        bbox7 = torch.tensor([box + [f, im.shape[0], im.shape[1]] for im, box, f in faces], dtype=torch.float32)
        with torch.no_grad():
            out, _ = official(x, torch.from_numpy(k4), bbox7)
        final = out["output"][-1]
        worst = {}
        for n in range(len(faces)):
            o = out_ours[n]
            pairs = {
                "rotation": (o["rotation"], final["pred_R_t"][n, :3, :3].T.numpy()),
                "translation": (o["translation"], final["pred_R_t"][n, 3, :3].numpy()),
                "vertices_head": (o["vertices_head"], final["pred_face_world"][n].numpy()),
                "vertices_cam": (o["vertices_cam"], final["pred_face_cam"][n].numpy()),
                "landmarks68_norm": (o["landmarks68_norm"], out["pred_lmk68"][0][n].numpy()),
            }
            for i, it in enumerate(o["iterations"]):
                rt = out["output"][i + 1]["pred_R_t"][n]
                pairs[f"iter{i}_rotation"] = (it["rotation"], rt[:3, :3].T.numpy())
                pairs[f"iter{i}_translation"] = (it["translation"], rt[3, :3].numpy())
            for i, p in enumerate(o["sampling_points"]):
                pairs[f"sampling_points{i + 1}"] = (p, out["samp_pt"][i][n].numpy())
            for k, (a, b) in pairs.items():
                worst[k] = max(worst.get(k, 0.0), float(np.abs(a.astype(np.float64) - b).max()))
        for k, v in worst.items():
            print(f"{k:24s} max |ours - official| = {v:.3g}")
        print("bit-identical" if all(v == 0 for v in worst.values()) else "NOT bit-identical")


if __name__ == "__main__":
    main()
