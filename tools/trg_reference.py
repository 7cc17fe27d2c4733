#!/usr/bin/python3
"""PyTorch reference of TRG / TRGv2 inference, written from ../shared/spec/MODEL_SPEC.md.

The module tree reproduces the official state-dict keys, so `load_state_dict` takes an official checkpoint
as well as a TrgIlgpu safetensors file or the synthetic weights (docs/synthetic-weights.md). Float32 by
default (float64 on request, to measure rounding); the CLI runs on the CPU, the forward also on CUDA (tools/device/).

    /usr/bin/python3 tools/trg_reference.py --synthetic trgv2:1 --image ../shared/samples/astronaut.png \
        --bbox 153,49,295,191 --json out.json [--dump-dir dump/]
    /usr/bin/python3 tools/trg_reference.py --model trgv2.safetensors --image photo.jpg --bbox l,t,r,b --focal 1000
    /usr/bin/python3 tools/trg_reference.py --synthetic trg:2 --write-model trg-synthetic.safetensors \
        [--triangles ../shared/trg-data/triangles_1220.npy]
    /usr/bin/python3 tools/trg_reference.py --synthetic trg:2 --write-checkpoint state_dict.bin   # torch.save, official layout

The JSON has the shape of `trg estimate --json` (see docs/reference.md).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402
from synthetic_weights import synthetic_state_dict, variant_tensors  # noqa: E402

INPUT = 192
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
LRELU = 0.01


# ---------------------------------------------------------------------------------------------
# Network (spec sections 1, 3, 4, 5)
# ---------------------------------------------------------------------------------------------

class BasicBlock(nn.Module):
    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(y + skip)


class ResNet18Features(nn.Module):
    """torchvision-style ResNet18 without avgpool/fc; returns every stage output."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for li, (planes, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)]):
            setattr(self, f"layer{li + 1}", nn.Sequential(BasicBlock(cin, planes, stride), BasicBlock(planes, planes, 1)))
            cin = planes

    def forward(self, x) -> Dict[str, torch.Tensor]:
        out = {}
        x = F.relu(self.bn1(self.conv1(x)))
        out["stem"] = x
        x = self.maxpool(x)
        out["maxpool"] = x
        for li in range(1, 5):
            x = getattr(self, f"layer{li}")(x)
            out[f"layer{li}"] = x
        return out


class PointMlp(nn.Module):
    """laf_extractor.i: per-point 1x1 Conv1d layers, the sampled features re-concatenated after each."""

    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv1d(256, 128, 1)
        self.conv1 = nn.Conv1d(128 + 256, 64, 1)
        self.conv2 = nn.Conv1d(64 + 256, 5, 1)

    def forward(self, f):  # f [B, 256, N] -> [B, 5 * N] channel-major
        y = F.leaky_relu(self.conv0(f), LRELU)
        y = F.leaky_relu(self.conv1(torch.cat([y, f], 1)), LRELU)
        y = F.relu(self.conv2(torch.cat([y, f], 1)))
        return y.reshape(y.shape[0], -1)


class Regressor(nn.Module):
    def __init__(self, in_features: int):
        super().__init__()
        self.fc1 = nn.Linear(in_features, 1024)
        self.fc2 = nn.Linear(1024, 1024)
        self.decshape = nn.Linear(1024, 1220 * 3)
        self.decpose = nn.Linear(1024, 9)
        self.register_buffer("init_face", torch.zeros(1, 1220, 3))
        self.register_buffer("init_head_pose", torch.zeros(1, 9))


def rot6d_to_matrix(p6):
    """Spec 4e: columns of the 3x2 row-major view, Gram-Schmidt, cross product; R = [b1 b2 b3] as columns."""
    m = p6.reshape(-1, 3, 2)
    a1, a2 = m[:, :, 0], m[:, :, 1]
    b1 = F.normalize(a1, dim=1, eps=1e-12)
    b2 = F.normalize(a2 - (b1 * a2).sum(1, keepdim=True) * b1, dim=1, eps=1e-12)
    b3 = torch.cross(b1, b2, dim=1)
    return torch.stack([b1, b2, b3], dim=-1)


def soft_argmax(heat):
    """Spec 5: softmax over h*w cells, expected (col, row), divided by h, mapped to [-1, 1]."""
    b, k, h, w = heat.shape
    p = F.softmax(heat.reshape(b, k, h * w), dim=2).reshape(b, k, h, w)
    cols = torch.arange(w, dtype=heat.dtype, device=heat.device).view(1, 1, 1, w)
    rows = torch.arange(h, dtype=heat.dtype, device=heat.device).view(1, 1, h, 1)
    x = (p * cols).sum(dim=(2, 3))
    y = (p * rows).sum(dim=(2, 3))
    return torch.stack([x, y], -1) / h * 2 - 1


class TrgReference(nn.Module):
    def __init__(self, variant: str):
        super().__init__()
        if variant not in ("trg", "trgv2"):
            raise ValueError(f"unknown variant '{variant}'")
        self.variant = variant
        self.n_iter = 3 if variant == "trg" else 2
        self.feature_extractor = ResNet18Features()
        layers: List[nn.Module] = []
        cin = 512
        for _ in range(self.n_iter):
            layers += [nn.ConvTranspose2d(cin, 256, 4, 2, 1, 0, bias=False), nn.BatchNorm2d(256), nn.ReLU()]
            cin = 256
        self.deconv_layers = nn.Sequential(*layers)
        self.laf_extractor = nn.ModuleList([PointMlp() for _ in range(self.n_iter)])
        self.register_buffer("points_grid", torch.zeros(1, 2, 324))
        self.regressor = nn.ModuleList([Regressor((324 if i == 0 else 305) * 5 + 305 * 3 + 9 + 3) for i in range(self.n_iter)])
        if variant == "trg":
            self.predict_68_lmk = nn.Sequential(nn.Conv2d(256, 68, 1))
        else:
            self.predict_68_lmk = nn.Sequential(nn.Conv2d(256, 256, 3, 1, 1), nn.BatchNorm2d(256),
                                                nn.LeakyReLU(LRELU), nn.Conv2d(256, 68, 1))
        # The official arkit_subsample.pkl '1220_to_305'; not part of the state dict.
        self.register_buffer("subsample", torch.zeros(305, dtype=torch.long), persistent=False)

    # --- weights -------------------------------------------------------------------------------

    def load_weights(self, state: Dict[str, np.ndarray], subsample: np.ndarray) -> "TrgReference":
        sd = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()
              if k not in ("subsample", "triangles")}
        sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
        missing, unexpected = self.load_state_dict(sd, strict=False)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        unexpected = [k for k in unexpected if not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise ValueError(f"state dict does not fit {self.variant}: missing {missing[:8]}, unexpected {unexpected[:8]}")
        sub = np.asarray(subsample, dtype=np.int64).reshape(-1)
        if sub.shape != (305,) or sub.min() < 0 or sub.max() >= 1220:
            raise ValueError("subsample must be 305 indices in [0, 1220)")
        self.subsample.copy_(torch.from_numpy(sub))
        return self.eval()

    # --- forward -------------------------------------------------------------------------------

    def iteration_map(self, i: int, deconv: List[torch.Tensor]) -> torch.Tensor:
        return deconv[i] if self.variant == "trg" else deconv[-1]

    @torch.no_grad()
    def forward(self, x, K, bbox7, dump: Optional[Dict[str, torch.Tensor]] = None, principal=None):
        """x [B,3,192,192] normalised crops; K [B,3,3] crop intrinsics; bbox7 [B,7] = (l,t,r,b,f,H,W);
        principal [B,2] = the principal point (px, py) in image pixels, None: the official (W/2, H/2) (docs/camera.md)."""
        dump = {} if dump is None else dump
        b = x.shape[0]
        dump["crop"] = x
        stages = self.feature_extractor(x)
        dump.update({f"backbone_{k}": v for k, v in stages.items()})
        s = stages["layer4"]
        deconv = []
        for k in range(self.n_iter):
            s = self.deconv_layers[3 * k:3 * k + 3](s)
            deconv.append(s)
            dump[f"deconv{k}"] = s

        # Box info (spec 2.4), in the model's dtype as the official code does it.
        l, t, r, bt, f, img_h, img_w = bbox7.unbind(1)
        bsize = r - l
        cx, cy = (l + r) * 0.5, (t + bt) * 0.5
        # The official code subtracts img_w * 0.5, img_h * 0.5: the principal point at the image centre.
        px, py = (img_w * 0.5, img_h * 0.5) if principal is None else principal.unbind(1)
        binfo = torch.stack([(cx - px) / f * 4, (cy - py) / f * 4, bsize / f], 1)
        dump["binfo"] = binfo
        # Homogeneous intrinsics [B,4,3]: [c, 1] @ K4 = K c (the fourth row is zero).
        k4 = torch.cat([K.transpose(1, 2), torch.zeros(b, 1, 3, dtype=x.dtype, device=x.device)], 1)

        face = self.regressor[0].init_face.expand(b, -1, -1)
        pose9 = self.regressor[0].init_head_pose.expand(b, -1)
        rt = None
        iterations = []
        sampling_points = []
        for i in range(self.n_iter):
            fmap = self.iteration_map(i, deconv)
            if i == 0:
                pts = self.points_grid.expand(b, -1, -1).transpose(1, 2)  # [B,324,2] (x, y)
            else:
                v = face[:, self.subsample, :]
                cam = torch.bmm(torch.cat([v, torch.ones_like(v[:, :, :1])], 2), rt)  # [B,305,4], last = 1
                uvw = torch.bmm(cam, k4)
                pix = (uvw / uvw[:, :, 2:3])[:, :, :2]
                sampling_points.append(pix)
                dump[f"iter{i}_sampling_pixels"] = pix
                pts = pix / INPUT * 2 - 1
            dump[f"iter{i}_sampling_norm"] = pts
            sampled = F.grid_sample(fmap, pts.unsqueeze(2), mode="bilinear", padding_mode="zeros", align_corners=True)[..., 0]
            dump[f"iter{i}_sampled"] = sampled
            feat = self.laf_extractor[i](sampled)
            dump[f"iter{i}_mlp_features"] = feat

            reg = self.regressor[i]
            sub = face[:, self.subsample, :].reshape(b, -1)
            xc = torch.cat([feat, sub, pose9, binfo], 1)
            hidden = reg.fc2(reg.fc1(xc))  # no activation between (dropout is identity at inference)
            dump[f"iter{i}_regressor_input"] = xc
            dump[f"iter{i}_hidden"] = hidden
            face = reg.decshape(hidden).reshape(b, 1220, 3) + face
            pose9 = reg.decpose(hidden) + pose9
            dump[f"iter{i}_pose9"] = pose9
            dump[f"iter{i}_face"] = face

            rot = rot6d_to_matrix(pose9[:, :6])
            sc, ox, oy = pose9[:, 6], pose9[:, 7], pose9[:, 8]
            # Spec 4f (official code order: 0.2 * s * ..., face offset 0.1 * s).
            tz = 0.2 * sc * f / bsize
            tx = ox * 0.1 * sc + 0.2 * sc * (cx - px) / bsize
            ty = oy * 0.1 * sc + 0.2 * sc * (cy - py) / bsize
            trans = torch.stack([tx, ty, tz], -1)
            rt = torch.zeros(b, 4, 4, dtype=x.dtype, device=x.device)
            rt[:, :3, :3] = rot
            rt[:, :3, 3] = trans
            rt[:, 3, 3] = 1
            rt = rt.transpose(1, 2)  # row-vector form: [v, 1] @ rt = R v + T
            iterations.append((rot, trans))
            dump[f"iter{i}_R"] = rot
            dump[f"iter{i}_T"] = trans

        face_cam = torch.bmm(torch.cat([face, torch.ones_like(face[:, :, :1])], 2), rt)[:, :, :3]
        heat_in = deconv[-1]
        heat = self.predict_68_lmk(heat_in)
        dump["heatmaps"] = heat
        lmk = soft_argmax(heat)
        dump["landmarks_norm"] = lmk
        return {"face": face, "face_cam": face_cam, "iterations": iterations,
                "sampling_points": sampling_points, "lmk": lmk}


# ---------------------------------------------------------------------------------------------
# Preprocessing (spec section 2)
# ---------------------------------------------------------------------------------------------

def crop_normalised(img: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """[3,192,192] float32: bilinear crop of the uint8 RGB image, taps outside the image read 0; float64 inside."""
    h, w, _ = img.shape
    l, t, r, b = (float(v) for v in box)
    grid = np.arange(INPUT, dtype=np.float64)
    sx = l + grid * (r - l) / 191  # output column -> source x (integer pixel centres)
    sy = t + grid * (b - t) / 191
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = sx - x0, sy - y0
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    src = img.astype(np.float64)

    def taps(ys, xs):
        inside = ((ys >= 0) & (ys < h))[:, None] & ((xs >= 0) & (xs < w))[None, :]
        v = src[np.clip(ys, 0, h - 1)[:, None], np.clip(xs, 0, w - 1)[None, :]]
        return np.where(inside[..., None], v, 0.0)

    p00, p10 = taps(y0, x0), taps(y0, x0 + 1)
    p01, p11 = taps(y0 + 1, x0), taps(y0 + 1, x0 + 1)
    wx, wy = fx[None, :, None], fy[:, None, None]
    rgb = (1 - wy) * ((1 - wx) * p00 + wx * p10) + wy * ((1 - wx) * p01 + wx * p11)  # [192,192,3]
    x = (rgb / 255.0 - MEAN) / STD
    return x.transpose(2, 0, 1).astype(np.float32)


def crop_intrinsics(box: Sequence[float], focal: float, width: int, height: int,
                    principal: Optional[Sequence[float]] = None) -> np.ndarray:
    """K of the crop camera (spec 2.3): s = 192 / (r - l) for both axes (the warp uses 191); the principal point
    (px, py) of the image camera moves to ((px - l) s, (py - t) s); None: the image centre (W/2, H/2) as in the spec."""
    l, t, r, _ = (float(v) for v in box)
    px, py = (width / 2, height / 2) if principal is None else (float(principal[0]), float(principal[1]))
    s = 192.0 / (r - l)
    k = np.array([[focal * s, 0, (px - l) * s], [0, focal * s, (py - t) * s], [0, 0, 1]])
    return k.astype(np.float32)


def load_rgb(path: str) -> np.ndarray:
    import cv2
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: image not found")
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: not a readable image")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def pattern_image(width: int = 320, height: int = 240) -> np.ndarray:
    """Procedural test image: R=(7x+13y)%256, G=(x*x+3y)%256, B=(x^y)&255 (docs/parity-fixtures.md)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    return np.stack([(x * 7 + y * 13) % 256, (x * x + 3 * y) % 256, (x ^ y) & 255], -1).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Running faces
# ---------------------------------------------------------------------------------------------

def f32(v) -> float:
    return float(np.float32(v))


def principal_of(face) -> Optional[List[float]]:
    """The face's principal point (float32 values) when it has one (a 4th tuple element), else None (image centre)."""
    return [f32(v) for v in face[3]] if len(face) > 3 and face[3] is not None else None


def run_faces(model: TrgReference, faces: List[tuple],
              dtype=torch.float32, dump: Optional[Dict[str, torch.Tensor]] = None) -> List[dict]:
    """faces: (rgb uint8 [H,W,3], box l,t,r,b, focal[, (px, py)]): the optional principal point is in image pixels
    (default the image centre, the official path, computed exactly as before). Boxes, focal and principal point are
    float32 values, as the engine gets them. Faces with a principal point get a "principal" entry in their result."""
    xs, ks, infos, principals = [], [], [], []
    for face in faces:
        img, box, focal = face[:3]
        h, w, _ = img.shape
        box = [f32(v) for v in box]
        focal = f32(focal)
        pp = principal_of(face)
        xs.append(crop_normalised(img, box))
        ks.append(crop_intrinsics(box, focal, w, h, pp))
        infos.append(np.array(box + [focal, h, w], dtype=np.float32))
        principals.append(np.array(pp if pp is not None else [w * 0.5, h * 0.5], dtype=np.float32))
    x = torch.from_numpy(np.stack(xs)).to(dtype)
    K = torch.from_numpy(np.stack(ks)).to(dtype)
    bbox7 = torch.from_numpy(np.stack(infos)).to(dtype)
    any_principal = any(principal_of(face) is not None for face in faces)
    principal = torch.from_numpy(np.stack(principals)).to(dtype) if any_principal else None
    m = model.to(dtype)
    out = m(x, K, bbox7, dump, principal)
    results = []
    for n, face in enumerate(faces):
        img, box, focal = face[:3]
        box = [f32(v) for v in box]
        l, t, r, b = box
        lmk = out["lmk"][n].double().numpy()
        crop_px = (lmk + 1) / 2 * INPUT
        full = np.stack([l + crop_px[:, 0] * (r - l) / 191, t + crop_px[:, 1] * (b - t) / 191], 1)
        rot, trans = out["iterations"][-1]
        results.append({
            "bbox": box,
            "focal": f32(focal),
            "rotation": rot[n].numpy(),
            "translation": trans[n].numpy(),
            "vertices_cam": out["face_cam"][n].numpy(),
            "vertices_head": out["face"][n].numpy(),
            "landmarks68_norm": out["lmk"][n].numpy(),
            "landmarks68": full.astype(np.float32),
            "iterations": [{"rotation": R[n].numpy(), "translation": T[n].numpy()} for R, T in out["iterations"]],
            "sampling_points": [p[n].numpy() for p in out["sampling_points"]],
        })
        if principal_of(face) is not None:
            results[-1]["principal"] = principal_of(face)
    return results


def to_json_value(v):
    """float32 arrays become nested lists of the shortest float32 decimal strings (exact when read as float32)."""
    if isinstance(v, dict):
        return {k: to_json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json_value(x) for x in v]
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return to_json_value(v[()])
        return [to_json_value(x) for x in v]
    if isinstance(v, (np.floating, float)):
        return float(str(np.float32(v)))
    if isinstance(v, (np.integer, int)):
        return int(v)
    return v


def write_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(to_json_value(obj), fh, separators=(",", ":"))
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Model sources
# ---------------------------------------------------------------------------------------------

def detect_variant(keys) -> Optional[str]:
    keys = set(keys)
    if "deconv_layers.6.weight" in keys:
        return "trg"
    if "predict_68_lmk.3.weight" in keys:
        return "trgv2"
    return None


def load_subsample_file(path: str) -> np.ndarray:
    if path.endswith(".npy"):
        return np.load(path).astype(np.int64)
    import pickle  # the user's own official data file
    with open(path, "rb") as fh:
        return np.asarray(pickle.load(fh)["1220_to_305"], dtype=np.int64)


def build_model(model_path: Optional[str], synthetic: Optional[str], subsample_path: Optional[str] = None):
    """Returns (model, state dict as numpy, subsample, description)."""
    if synthetic:
        variant, _, seed = synthetic.partition(":")
        sd, sub = synthetic_state_dict(variant, int(seed or "0", 0))
        return TrgReference(variant).load_weights(sd, sub), sd, sub, f"synthetic:{variant}:{int(seed or '0', 0)}"
    if model_path.endswith(".safetensors"):
        sd, meta = read_safetensors(model_path)
        variant = meta.get("variant") or detect_variant(sd)
        if "subsample" not in sd:
            raise ValueError(f"{model_path}: no 'subsample' tensor")
        sub = sd["subsample"]
    else:  # an official torch checkpoint (state_dict.bin); needs the subsample from arkit_subsample.pkl / .npy
        obj = torch.load(model_path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model"):  # checkpoints that wrap the state dict
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
        sd = {(k[len("module."):] if k.startswith("module.") else k): v.numpy() for k, v in obj.items()}
        variant = detect_variant(sd)
        if not subsample_path:
            raise ValueError("an official checkpoint needs --subsample (arkit_subsample.pkl or subsample_1220_to_305.npy)")
        sub = load_subsample_file(subsample_path)
    if variant is None:
        raise ValueError(f"{model_path}: cannot tell the variant from the keys")
    return TrgReference(variant).load_weights(sd, sub), sd, sub, model_path


def main(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch reference of TRG / TRGv2 (MODEL_SPEC.md)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="TrgIlgpu .safetensors file, or an official state_dict.bin (with --subsample)")
    src.add_argument("--synthetic", help="VARIANT:SEED, e.g. trgv2:1 (docs/synthetic-weights.md)")
    ap.add_argument("--subsample", help="arkit_subsample.pkl or a .npy of the 305 indices (official checkpoints)")
    ap.add_argument("--image", help="RGB image (PNG/JPEG)")
    ap.add_argument("--bbox", action="append", default=[], help="l,t,r,b (repeatable)")
    ap.add_argument("--focal", type=float, help="focal length in pixels (default W + H)")
    ap.add_argument("--principal", help="principal point px,py in image pixels (default the image centre W/2,H/2)")
    ap.add_argument("--json", help="write results here (default stdout)")
    ap.add_argument("--dump-dir", help="save intermediates as .npy here")
    ap.add_argument("--float64", action="store_true", help="compute in float64 (to measure float32 rounding)")
    ap.add_argument("--write-model", help="write the weights as a TrgIlgpu .safetensors file and exit")
    ap.add_argument("--triangles", help="with --write-model: a [2304,3] .npy of triangles to include")
    ap.add_argument("--write-checkpoint", help="write the state dict as an official-format torch.save checkpoint and exit")
    args = ap.parse_args(argv)

    model, sd, sub, source = build_model(args.model, args.synthetic, args.subsample)
    if args.write_model:
        tensors = {k: sd[k] for k, _, _ in variant_tensors(model.variant)}
        tensors["subsample"] = np.asarray(sub, dtype=np.int64)
        if args.triangles:
            tensors["triangles"] = np.load(args.triangles).astype(np.int32)
        write_safetensors(args.write_model, tensors, {"format": "trg-ilgpu", "variant": model.variant})
        print(f"wrote {args.write_model}", file=sys.stderr)
        return 0
    if args.write_checkpoint:  # official layout: torch.save of an OrderedDict of tensors, as the authors' state_dict.bin
        import collections
        state = collections.OrderedDict((k, torch.from_numpy(np.ascontiguousarray(sd[k]))) for k, _, _ in variant_tensors(model.variant))
        torch.save(state, args.write_checkpoint)
        print(f"wrote {args.write_checkpoint}", file=sys.stderr)
        return 0
    if not args.image or not args.bbox:
        ap.error("--image and at least one --bbox are needed")
    img = load_rgb(args.image)
    h, w, _ = img.shape
    focal = args.focal if args.focal is not None else float(w + h)
    boxes = []
    for text in args.bbox:
        parts = text.split(",")
        if len(parts) != 4:
            ap.error(f"--bbox '{text}': expected l,t,r,b")
        boxes.append([float(p) for p in parts])
    dump: Dict[str, torch.Tensor] = {}
    principal = None
    if args.principal:
        parts = args.principal.split(",")
        if len(parts) != 2:
            ap.error(f"--principal '{args.principal}': expected px,py")
        principal = [float(p) for p in parts]
    faces = run_faces(model, [(img, box, focal, principal) for box in boxes],
                      torch.float64 if args.float64 else torch.float32, dump if args.dump_dir else None)
    result = {
        "image": {"path": args.image, "width": w, "height": h},
        "focal": f32(focal),
        "device": "pytorch-cpu-float64" if args.float64 else "pytorch-cpu",
        "model": {"variant": model.variant, "source": source},
        "faces": [{k: v for k, v in face.items() if k not in ("focal", "sampling_points")} for face in faces],
    }
    if args.dump_dir:
        os.makedirs(args.dump_dir, exist_ok=True)
        for k, v in dump.items():
            np.save(os.path.join(args.dump_dir, k + ".npy"), v.numpy())
    if args.json:
        write_json(args.json, result)
    else:
        json.dump(to_json_value(result), sys.stdout, separators=(",", ":"))
        print()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FileNotFoundError as e:
        print(f"trg_reference: error: {e.filename or e}: not found", file=sys.stderr)
        sys.exit(3)
    except ValueError as e:
        print(f"trg_reference: error: {e}", file=sys.stderr)
        sys.exit(4)
