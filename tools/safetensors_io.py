"""Minimal safetensors reader/writer in pure Python + numpy (no safetensors package).

Format: 8-byte little-endian header length N, N bytes of JSON header
{key: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the raw
little-endian tensor bytes. The writer pads the header with spaces to a multiple of 8 bytes and writes
to a temporary file that it renames, so a failed write leaves nothing half-written.

TrgIlgpu model files: official state-dict keys + `subsample` int64 [305] + optional `triangles`
int32 [2304,3]; `__metadata__` {"format": "trg-ilgpu", "variant": "trg" | "trgv2"}.
"""
from __future__ import annotations

import json
import os
import struct
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

_DTYPES = {
    "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "U8": np.dtype("u1"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def write_safetensors(path: str, tensors: Mapping[str, np.ndarray], metadata: Optional[Mapping[str, str]] = None) -> None:
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for key, array in tensors.items():
        a = np.ascontiguousarray(array)
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        if dt not in _NAMES:
            raise ValueError(f"tensor '{key}': dtype {a.dtype} is not supported")
        data = a.astype(dt, copy=False).tobytes()
        header[key] = {"dtype": _NAMES[dt], "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path: str) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Returns (tensors, metadata). BF16 is widened to float32; other dtypes are kept."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"{path}: header length {n} exceeds the file size {len(raw)}")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: header is not JSON ({e})")
    metadata = header.pop("__metadata__", {}) or {}
    body = memoryview(raw)[8 + n:]
    tensors: Dict[str, np.ndarray] = {}
    for key, info in header.items():
        dtype, shape, (begin, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
        count = int(np.prod(shape)) if shape else 1
        if not 0 <= begin <= end <= len(body):
            raise ValueError(f"{path}: tensor '{key}' data offsets {begin}..{end} outside the data ({len(body)} bytes)")
        if dtype == "BF16":
            if end - begin != count * 2:
                raise ValueError(f"{path}: tensor '{key}' has {end - begin} bytes for BF16 {list(shape)}")
            bits = np.frombuffer(body[begin:end], dtype="<u2").astype(np.uint32) << 16
            tensors[key] = bits.view(np.float32).reshape(shape)
            continue
        if dtype not in _DTYPES:
            raise ValueError(f"{path}: tensor '{key}' has unsupported dtype {dtype}")
        dt = _DTYPES[dtype]
        if end - begin != count * dt.itemsize:
            raise ValueError(f"{path}: tensor '{key}' has {end - begin} bytes for {dtype} {list(shape)}")
        tensors[key] = np.frombuffer(body[begin:end], dtype=dt).reshape(shape).copy()
    return tensors, dict(metadata)
