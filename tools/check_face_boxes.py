#!/usr/bin/python3
"""Acceptance check of face finding in `trg estimate` against face-api itself on the same pictures.

Inputs: the engine's `trg estimate --json` output (a document with "images", or one image's document) and the
face-api reference JSON files that `node tools/faceapi/reference.js OUT_DIR IMAGE...` wrote for the same images (matched
by file name). For face-api's SSD detections (minConfidence 0.5), builds the TRG box from face-api's own 68 landmarks by
the official demo's rule (centre of the landmarks' extent, side 1.5 x the larger extent, truncated to integers) and
compares it with the engine's `bbox`; also the detection boxes and scores. Exits 1 when a face-api face is not found
exactly once, the engine finds an extra face, or a TRG box is below --min-iou (default 0.75).

    /usr/bin/python3 tools/check_face_boxes.py engine.json REF_DIR
"""
import argparse
import json
import math
import os
import sys


def rule_box(landmarks):
    xs = [p[0] for p in landmarks]
    ys = [p[1] for p in landmarks]
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    half = 0.75 * max(max(xs) - min(xs), max(ys) - min(ys))
    return [math.trunc(cx - half), math.trunc(cy - half), math.trunc(cx + half), math.trunc(cy + half)]


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("engine")
    ap.add_argument("refdir")
    ap.add_argument("--min-iou", type=float, default=0.75)
    args = ap.parse_args()
    with open(args.engine) as f:
        doc = json.load(f)
    images = doc["images"] if "images" in doc else [doc]
    bad = compared = 0
    for img in images:
        name = os.path.splitext(os.path.basename(img["image"]["path"]))[0]
        ref_path = os.path.join(args.refdir, name + ".json")
        if not os.path.exists(ref_path):
            continue
        with open(ref_path) as f:
            ref = json.load(f)["ssd"][0]["faces"]
        faces = img.get("faces", [])
        used = set()
        for k, want in enumerate(ref):
            matches = [i for i, face in enumerate(faces) if iou(face["detection"]["box"], want["box"]) >= 0.95]
            if len(matches) != 1:
                print(f"{name}: face-api face {k} {want['box']} matched {len(matches)} engine faces  FAIL")
                bad += 1
                continue
            face = faces[matches[0]]
            used.add(matches[0])
            trg_iou = iou(face["bbox"], rule_box(want["landmarks"])) if want.get("landmarks") else float("nan")
            ok = trg_iou >= args.min_iou
            bad += not ok
            compared += 1
            print(f"{name}: face {k}: detection IoU {iou(face['detection']['box'], want['box']):.4f}, score "
                  f"{face['detection']['score']:.4f} vs {want['score']:.4f}, TRG box IoU vs face-api's landmarks' box "
                  f"{trg_iou:.4f}  {'ok' if ok else 'FAIL'}")
        extra = [i for i in range(len(faces)) if i not in used]
        if extra:
            print(f"{name}: {len(extra)} engine faces face-api does not report  FAIL")
            bad += len(extra)
        if not ref and not faces:
            print(f"{name}: no face, as face-api  ok")
    print(f"{compared} faces compared; {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
