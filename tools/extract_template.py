#!/usr/bin/python3
"""Extract the TRG head template that the library embeds (weights/trg-template/).

Reads the official TRG-Release data (MIT, github:asw91666/TRG-Release, commit 7cb6bb5) as copied to
../shared/trg-data and writes

  weights/trg-template/trg_template.json   the 1220-vertex template mesh (metres, head frame), its 2304 triangles and
                                           the 68 landmark vertex indices (iBUG 68 order)
  weights/trg-template/PROVENANCE.json     source repository, paths, commit and sha256 of every input and of the output

Floats are written as the shortest decimal that reads back as the same float32, so the C# reader recovers the
official values bit for bit. Run from anywhere: /usr/bin/python3 tools/extract_template.py [--data DIR]
"""
import argparse
import hashlib
import json
import os

import numpy as np

REPO = "asw91666/TRG-Release"
COMMIT = "7cb6bb5e072c751d83d10755908ce27159ac7ac1"
# shared copy -> (upstream path, upstream form). The shared .npy files are the upstream arrays, re-saved where the
# upstream file is a pickle or another dtype; both hashes are recorded.
INPUTS = {
    "template_1220.npy": ("data/init_vtx_cam.pkl", "key 't_vtx_1220' (float32 [1220,3])",
                          "179a8c58caafefd0ba8bcaf659e54fc0a6913eb705ecb350d121ef00f7be0cdd"),
    "triangles_1220.npy": ("data/triangles.npy", "uint16 [2304,3], same values",
                           "b3d5a58d24d1f9f6cdc3f859378b3a3524b248733a251cebb36e124ef2bfcdf4"),
    "landmark68_vertex_index.npy": ("npy/kpt_ind.npy", "identical file",
                                    "2740e6874c0e1a106b3ea3f0d4a7f0b5018cd98e653877a80818ab1c791ceeab"),
}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def f32(x):
    """Shortest decimal text that round-trips the float32 value."""
    return float(np.format_float_positional(np.float32(x), unique=True, trim="-"))


def main():
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(root, "..", "shared", "trg-data"))
    ap.add_argument("--out", default=os.path.join(root, "weights", "trg-template"))
    args = ap.parse_args()

    vertices = np.load(os.path.join(args.data, "template_1220.npy"))
    triangles = np.load(os.path.join(args.data, "triangles_1220.npy"))
    index = np.load(os.path.join(args.data, "landmark68_vertex_index.npy"))
    assert vertices.dtype == np.float32 and vertices.shape == (1220, 3), vertices.shape
    assert triangles.shape == (2304, 3) and triangles.min() >= 0 and triangles.max() < 1220
    assert index.shape == (68,) and index.min() >= 0 and index.max() < 1220 and len(set(index.tolist())) == 68

    # The iBUG 68 order, checked on the points (head frame: x to the subject's left, y down, z back; see README).
    lm = vertices[index].astype(np.float64)
    assert lm[0, 0] < 0 < lm[16, 0], "jaw runs from -x (subject's right) to +x"
    assert abs(lm[8, 0]) == np.abs(lm[0:17, 0]).min() and lm[8, 1] > lm[0:17, 1].max() - 1e-3, "point 8 is the chin"
    assert lm[17:27, 1].max() < lm[36:48, 1].min(), "brows above the eyes"
    assert lm[36:48, 1].max() < lm[30, 1] < lm[48:68, 1].min(), "eyes above the nose tip above the mouth"
    assert lm[30, 2] == lm[:, 2].min(), "point 30 (nose tip) is the most forward (-z) point"
    assert lm[36:42, 0].max() < 0 < lm[42:48, 0].min(), "points 36-41 are the subject's right eye (-x)"
    assert lm[48, 0] < lm[51, 0] < lm[54, 0] and lm[60, 0] < lm[64, 0], "mouth corners 48/54, inner corners 60/64"

    os.makedirs(args.out, exist_ok=True)
    out = os.path.join(args.out, "trg_template.json")
    doc = {
        "format": "trg-template/1",
        "units": "metres",
        "frame": "TRG head frame: +x towards the subject's left (image right in a frontal view), +y down (chin), "
                 "+z towards the back of the head (the face looks along -z); R = I faces the camera upright",
        "landmark_order": "iBUG 68 (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67)",
        "landmark68_vertex_index": [int(i) for i in index],
        "vertices": [[f32(v) for v in row] for row in vertices],
        "triangles": [[int(i) for i in row] for row in triangles],
    }
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")

    provenance = {
        "repository": f"https://github.com/{REPO}",
        "commit": COMMIT,
        "licence": "MIT (Copyright (c) 2024 sungho chun); text in LICENSE-TRG-Release",
        "inputs": [
            {"shared_copy": f"../shared/trg-data/{name}", "sha256": sha256(os.path.join(args.data, name)),
             "upstream_path": up, "upstream_form": form, "upstream_sha256": up_sha}
            for name, (up, form, up_sha) in INPUTS.items()
        ],
        "output": {"path": "weights/trg-template/trg_template.json", "sha256": sha256(out)},
        "generator": "tools/extract_template.py",
    }
    with open(os.path.join(args.out, "PROVENANCE.json"), "w") as f:
        json.dump(provenance, f, indent=1)
        f.write("\n")
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
