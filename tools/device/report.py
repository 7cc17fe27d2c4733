#!/usr/bin/env python3
"""Writes OUT/results.md (ready to paste into bench/RESULTS.md) and OUT/results.json from what run.sh left in RAW.
Standard library only; every input is optional (a failed step leaves a gap, marked in the tables).

    python3 tools/device/report.py --raw RAW --out OUT
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys

TARGET_B1_MS = 0.25          # issue 5: GPU batch 1, end to end after upload
TARGET_SPEEDUP = 5.0         # issue 5: at least 5x PyTorch eager at batch 1
TARGET_MEMORY_GIB = 0.15     # issue 5: weights + activations + workspace


def read_json(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def read_text(path, default=""):
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return default


def gpu_info(raw):
    """First data row of nvidia-smi's csv query (before the run), as a dict; empty when there is no nvidia-smi."""
    try:
        with open(os.path.join(raw, "gpu-before.csv")) as fh:
            rows = list(csv.reader(fh))
        return {k.strip(): v.strip() for k, v in zip(rows[0], rows[1])} if len(rows) > 1 else {}
    except (OSError, IndexError):
        return {}


def batches(raw):
    """Batch sizes that any timing step wrote a file for."""
    found = set()
    for name in os.listdir(raw):
        m = re.fullmatch(r"(engine|torch-default|torch-strict)-b(\d+)\.json", name)
        if m:
            found.add(int(m.group(2)))
    return sorted(found)


def ms(v):
    return "–" if v is None else (f"{v:.3f}" if v < 10 else f"{v:.1f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    raw = a.raw
    date = read_text(os.path.join(raw, "date.txt"), "?")
    device = read_text(os.path.join(raw, "device.txt"), "?")
    dry = read_text(os.path.join(raw, "dry.txt"), "0") == "1"
    gpu = gpu_info(raw)
    cpu = read_text(os.path.join(raw, "cpu.txt")).replace("cpu: ", "")

    rows = []
    for b in batches(raw):
        eng = read_json(os.path.join(raw, f"engine-b{b}.json"))
        tdef = read_json(os.path.join(raw, f"torch-default-b{b}.json"))
        tstr = read_json(os.path.join(raw, f"torch-strict-b{b}.json"))
        row = {"batch": b, "engine": eng, "torch_default": tdef, "torch_strict": tstr}
        e = eng["MedianMs"] if eng else None
        row["ratio_default"] = tdef["median_ms"] / e if (e and tdef) else None
        row["ratio_strict"] = tstr["median_ms"] / e if (e and tstr) else None
        rows.append(row)
    parity = [p for p in (read_json(os.path.join(raw, f"parity-{v}.json")) for v in ("trgv2", "trg")) if p]
    torch_parity = read_json(os.path.join(raw, "torch-parity.json")) or []
    steps = []
    try:
        with open(os.path.join(raw, "steps.tsv")) as fh:
            steps = [line.rstrip("\n").split("\t") for line in fh][1:]
    except OSError:
        pass

    eng_any = next((r["engine"] for r in rows if r["engine"]), None)
    torch_any = next((r[k] for r in rows for k in ("torch_default", "torch_strict") if r[k]), None)
    if gpu:
        machine = f"{gpu.get('name', '?')} (driver {gpu.get('driver_version', '?')}, {gpu.get('memory.total [MiB]', '?')})"
    else:
        machine = f"{eng_any['Device'] if eng_any else device} on {cpu}"
    md = []
    title = f"## GPU: {gpu.get('name', device)}, {date}" if not dry else f"## DRY RUN on {device} ({date}): rehearsal of tools/device/run.sh, not GPU results"
    md += [title, ""]
    md.append(f"Written by `tools/device/run.sh` on {machine}. Engine device: {eng_any['Device'] if eng_any else device}"
              f"{'; peer: ' + torch_any['engine'] if torch_any else ''}.")
    if eng_any:
        md.append(f"TRGv2, synthetic weights seed 1 in both engines, 192x192 crops; {eng_any['Launches']} kernel launches per "
                  f"forward; engine device memory {eng_any['TotalDeviceBytes'] / 2**20:.1f} MiB "
                  f"({eng_any['WeightBytes'] / 2**20:.1f} weights). Median (p90) in milliseconds over the stated forwards after warm-up. "
                  "TrgIlgpu times the whole forward after the image upload (on-device crop and result download included); "
                  "PyTorch eager times the network on crops already on the device, synchronised before and after.")
    md += ["", "| batch | TrgIlgpu ms | images/s | PyTorch default ms | default / TrgIlgpu | PyTorch strict fp32 ms | strict / TrgIlgpu | PyTorch peak MiB | forwards |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        e, d, s = r["engine"], r["torch_default"], r["torch_strict"]
        peak = (d or s or {}).get("max_memory_allocated_bytes")
        md.append("| {b} | {em} | {ips} | {dm} | {rd} | {sm} | {rs} | {pk} | {n} |".format(
            b=r["batch"],
            em=f"{ms(e['MedianMs'])} ({ms(e['P90Ms'])})" if e else "failed",
            ips=f"{e['ImagesPerSecond']:.0f}" if e else "–",
            dm=f"{ms(d['median_ms'])} ({ms(d['p90_ms'])})" if d else "failed",
            rd=f"{r['ratio_default']:.2f}x" if r["ratio_default"] else "–",
            sm=f"{ms(s['median_ms'])} ({ms(s['p90_ms'])})" if s else "failed",
            rs=f"{r['ratio_strict']:.2f}x" if r["ratio_strict"] else "–",
            pk=f"{peak / 2**20:.0f}" if peak else "–",
            n=e["Iterations"] if e else (d or {}).get("iterations", "–")))
    again = read_json(os.path.join(raw, "repeat-engine-b1.json"))
    first = next((r["engine"] for r in rows if r["batch"] == 1 and r["engine"]), None)
    if again and first:
        md += ["", f"TrgIlgpu batch 1 timed again after the other steps: {ms(again['MedianMs'])} ms against {ms(first['MedianMs'])} ms "
               f"({(again['MedianMs'] / first['MedianMs'] - 1) * 100:+.1f} %): differences smaller than this are noise."]
    md += ["", "Ratios are PyTorch's median over TrgIlgpu's: above 1, TrgIlgpu is faster. Default = PyTorch's float32 settings "
           "(cuDNN may use TF32 in convolutions); strict = TF32 off in cuBLAS and cuDNN."]

    b1 = next((r for r in rows if r["batch"] == 1), None)
    if b1 and b1["engine"] and not dry:
        e = b1["engine"]
        gib = e["TotalDeviceBytes"] / 2**30
        md += ["", "Issue 5 targets at batch 1: "
               f"latency {e['MedianMs']:.3f} ms (target ≤ {TARGET_B1_MS} ms: {'met' if e['MedianMs'] <= TARGET_B1_MS else 'NOT met'}); "
               + (f"speed-up over PyTorch eager default {b1['ratio_default']:.1f}x (target ≥ {TARGET_SPEEDUP:g}x: "
                  f"{'met' if b1['ratio_default'] >= TARGET_SPEEDUP else 'NOT met'}); " if b1["ratio_default"] else "")
               + f"device memory {gib:.3f} GiB (target ≤ {TARGET_MEMORY_GIB} GiB: {'met' if gib <= TARGET_MEMORY_GIB else 'NOT met'}); "
               f"{e['Launches']} launches (target ≤ 40: {'met' if e['Launches'] <= 40 else 'NOT met'})."]

    md += ["", f"### Parity on {device}: `trg estimate` against the committed PyTorch fixtures", ""]
    keys = ["translation", "rotation", "vertices_cam", "vertices_head", "landmarks68_norm", "iterations.rotation"]
    head = "| variant | faces | T m | R | vertices_cam m | vertices_head m | landmarks (norm.) | R, every iteration | result |"
    tol = parity[0]["tolerances"] if parity else None
    md += [head, "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    if tol:
        md.append("| tolerance | | " + " | ".join(f"{tol[k]:.0e}" for k in keys) + " | |")
    for p in parity:
        md.append(f"| {p['variant']} | {len(p['faces'])} | " + " | ".join(f"{p['max_deviation'][k]:.1e}" for k in keys)
                  + f" | {'pass' if p['pass'] else '**FAIL**'} |")
    for v in ("trgv2", "trg"):
        if not any(p["variant"] == v for p in parity):
            md.append(f"| {v} | – | " + " | ".join("–" for _ in keys) + " | **not run or no output** |")
    if torch_parity:
        md += ["", f"PyTorch reference on the same device against the same fixtures (its timing peer computes the same function):", "",
               "| variant | settings | T m | R | vertices_cam m | vertices_head m | landmarks (norm.) | R, every iteration | within the engine tolerances |",
               "|---|---|---:|---:|---:|---:|---:|---:|---|"]
        for p in torch_parity:
            md.append(f"| {p['variant']} | {p['precision']} | " + " | ".join(f"{p['max_deviation'][k]:.1e}" for k in keys)
                      + f" | {'yes' if p['pass'] else 'no'} |")

    faces = read_json(os.path.join(raw, "faces-parity.json"))
    if faces:
        md += ["", f"### Face finding on {device} against the same build on PoCL (`check_parity.py faces`)", "",
               "| face | box px | score | landmarks px | fitted R | result |", "|---:|---:|---:|---:|---:|---|"]
        for f in faces["faces"]:
            d = f["max_abs"]
            md.append(f"| {f['face']} | {d['box']:.1e} | {d['score']:.1e} | {d['landmarks68']:.1e} | {d['rotation']:.1e} | "
                      f"{'pass' if f['pass'] else '**FAIL**'} |")
        md += [f"- {p}" for p in faces.get("problems", [])]
    for run in ("cold", "warm"):
        startup = read_text(os.path.join(raw, f"startup-{run}.txt"))
        if startup:
            md += ["", f"### Start-up, {run} (`trg estimate --model {'synthetic:trgv2:1'} --bbox ... --timings`, a fresh process)", "",
                   "```", startup.strip(), "```"]

    prof = read_text(os.path.join(raw, "profile-b1.txt"))
    if prof:
        prof = "\n".join(line for line in prof.splitlines() if not line.startswith("trace written"))
        md += ["", "### Per-kernel profile, batch 1 (`trg profile`, each launch synchronised)", "", "```", prof, "```"]
    failed = [s for s in steps if len(s) == 3 and s[1] not in ("0",)]
    md += ["", f"Steps: {len(steps)}, {sum(1 for s in steps if len(s) == 3 and s[1] == '0')} ok"
           + (", not ok or skipped: " + "; ".join(f"{s[0]} (rc {s[1]}, {s[2]} s)" for s in failed) if failed else "") + "."]

    os.makedirs(a.out, exist_ok=True)
    text = "\n".join(md) + "\n"
    for name, content in (("results.md", text), ("results.json", json.dumps(
            {"date": date, "device": device, "dry_run": dry, "gpu": gpu, "cpu": cpu, "timings": rows, "parity": parity,
             "torch_parity": torch_parity, "faces": faces, "steps": steps}, indent=1))):
        tmp = os.path.join(a.out, name + ".tmp")
        with open(tmp, "w") as fh:
            fh.write(content)
        os.replace(tmp, os.path.join(a.out, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
