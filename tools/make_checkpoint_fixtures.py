#!/usr/bin/python3
"""Checkpoint fixtures for the TrgIlgpu format tests, made with REAL torch.save (Debian python3-torch).

  /usr/bin/python3 tools/make_checkpoint_fixtures.py
      writes the small committed fixtures to tests/TrgIlgpu.Tests/Fixtures/checkpoints/ plus expected.json
      (the values every good fixture must read back as, after conversion to float32 / int).

  /usr/bin/python3 tools/make_checkpoint_fixtures.py --full trg --out /tmp/trg.pt [--seed 1] [--sums /tmp/trg.json]
      writes a full-size official-format random state dict (keys and shapes from MODEL_SPEC.md, built here
      independently of the C# VariantInfo) and optionally per-tensor checksums for comparison.

Hostile fixtures only *describe* payloads (os.system, builtins.eval, subprocess.Popen, unknown classes): each would
create /tmp/trg_fixture_marker_<name> if a general unpickler ran it. Nothing here loads them.
"""
import argparse
import collections
import io
import json
import os
import pickle
import subprocess
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "TrgIlgpu.Tests", "Fixtures", "checkpoints")
MARKER = "/tmp/trg_fixture_marker_"


# ---------------------------------------------------------------------------------------------------------------
# Official key list (MODEL_SPEC.md sections 1, 3, 4): an independent cross-check of the C# VariantInfo.

def official_specs(variant):
    t = []

    def conv(p, o, i, k, bias=False):
        t.append((p + ".weight", [o, i, k, k], torch.float32))
        if bias:
            t.append((p + ".bias", [o], torch.float32))

    def bn(p, c):
        for n in ("weight", "bias", "running_mean", "running_var"):
            t.append((f"{p}.{n}", [c], torch.float32))
        t.append((p + ".num_batches_tracked", [], torch.int64))

    fe = "feature_extractor"
    conv(fe + ".conv1", 64, 3, 7)
    bn(fe + ".bn1", 64)
    inp = 64
    for li, (planes, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)]):
        for b in range(2):
            p = f"{fe}.layer{li + 1}.{b}"
            s = stride if b == 0 else 1
            conv(p + ".conv1", planes, inp, 3); bn(p + ".bn1", planes)
            conv(p + ".conv2", planes, planes, 3); bn(p + ".bn2", planes)
            if b == 0 and (s != 1 or inp != planes):
                conv(p + ".downsample.0", planes, inp, 1); bn(p + ".downsample.1", planes)
            inp = planes
    stages = 3 if variant == "trg" else 2
    iters = stages
    c = 512
    for k in range(stages):
        t.append((f"deconv_layers.{3 * k}.weight", [c, 256, 4, 4], torch.float32))
        bn(f"deconv_layers.{3 * k + 1}", 256)
        c = 256
    for i in range(iters):
        p = f"laf_extractor.{i}"
        for name, o, n_in in (("conv0", 128, 256), ("conv1", 64, 384), ("conv2", 5, 320)):
            t.append((f"{p}.{name}.weight", [o, n_in, 1], torch.float32))
            t.append((f"{p}.{name}.bias", [o], torch.float32))
    t.append(("points_grid", [1, 2, 324], torch.float32))
    for i in range(iters):
        p = f"regressor.{i}"
        fc1_in = (324 if i == 0 else 305) * 5 + 305 * 3 + 9 + 3
        for name, shape in (("fc1.weight", [1024, fc1_in]), ("fc1.bias", [1024]), ("fc2.weight", [1024, 1024]),
                            ("fc2.bias", [1024]), ("decshape.weight", [3660, 1024]), ("decshape.bias", [3660]),
                            ("decpose.weight", [9, 1024]), ("decpose.bias", [9]), ("init_face", [1, 1220, 3]),
                            ("init_head_pose", [1, 9])):
            t.append((f"{p}.{name}", shape, torch.float32))
    if variant == "trg":
        conv("predict_68_lmk.0", 68, 256, 1, bias=True)
    else:
        conv("predict_68_lmk.0", 256, 256, 3, bias=True)
        bn("predict_68_lmk.1", 256)
        conv("predict_68_lmk.3", 68, 256, 1, bias=True)
    total = sum(int(torch.Size(s).numel()) for _, s, _ in t)
    assert total == {"trg": 37_653_936, "trgv2": 29_810_433}[variant], total
    return t


def full_state_dict(variant, seed):
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    for key, shape, dtype in official_specs(variant):
        if dtype == torch.int64:
            sd[key] = torch.tensor(int(torch.randint(0, 10000, (1,), generator=g)), dtype=torch.int64)
        elif key.endswith("running_var"):
            sd[key] = torch.rand(shape, generator=g) + 0.5
        else:
            sd[key] = torch.randn(shape, generator=g) * 0.05
    return sd


def write_sums(sd, path):
    # float64 sum and the first values of each tensor: enough to prove every byte landed in the right place.
    out = {}
    for k, v in sd.items():
        flat = v.reshape(-1)
        out[k] = {"sum": float(flat.double().sum()), "head": [float(x) for x in flat[:4].double()],
                  "tail": [float(x) for x in flat[-3:].double()], "shape": list(v.shape)}
    with open(path, "w") as f:
        json.dump(out, f)


# ---------------------------------------------------------------------------------------------------------------
# Hand-made archives for cases torch.save never writes (short storages, huge sizes...).

class FakeStorage:
    def __init__(self, key, numel, storage_type=torch.FloatStorage):
        self.key, self.numel, self.storage_type = key, numel, storage_type


class FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class StoragePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", obj.storage_type, obj.key, "cpu", obj.numel)
        return None


def write_archive(path, obj, storages, deflate=(), name="archive", patch=lambda b: b):
    buf = io.BytesIO()
    StoragePickler(buf, protocol=2).dump(obj)
    pkl = patch(buf.getvalue())
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo(f"{name}/data.pkl"), pkl)
        for key, data in storages.items():
            z.writestr(zipfile.ZipInfo(f"{name}/data/{key}"), data,
                       compress_type=zipfile.ZIP_DEFLATED if key in deflate else zipfile.ZIP_STORED)
        z.writestr(zipfile.ZipInfo(f"{name}/version"), "3\n")


def replace_pickle(src, dst, transform):
    """Copies a torch.save zip, passing its data.pkl through transform(bytes)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                data = transform(data)
            zout.writestr(info, data)


class Payload:
    """Pickles as a call of an arbitrary function: what an attacker hides in a checkpoint."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


class Unknown:
    """A class no loader knows: pickles as __main__.Unknown plus BUILD."""

    def __init__(self):
        self.marker = MARKER + "unknown_class"


# ---------------------------------------------------------------------------------------------------------------

def small_state_dict(seed):
    torch.manual_seed(seed)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(5, 2))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p))
        m[1].running_mean.copy_(torch.randn(4))
        m[1].running_var.copy_(torch.rand(4) + 0.5)
        m[1].num_batches_tracked.fill_(1234)
    return m.state_dict()


def expected_of(sd):
    out = {}
    for k, v in sd.items():
        if v.dtype.is_floating_point:
            out[k] = {"dtype": "F32", "shape": list(v.shape), "values": [float(x) for x in v.float().reshape(-1)]}
        else:
            out[k] = {"dtype": "I64" if v.dtype == torch.int64 else "I32", "shape": list(v.shape),
                      "values": [int(x) for x in v.reshape(-1)]}
    return out


def make_small(out):
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    p = lambda name: os.path.join(out, name)
    expected = {}

    # --- good checkpoints, all by torch.save ---
    sd = small_state_dict(1)
    torch.save(sd, p("float32.pt"))
    expected["float32.pt"] = expected_of(sd)

    torch.manual_seed(2)
    dtypes = collections.OrderedDict([
        ("f32", torch.randn(3, 4)), ("f16", torch.randn(5).half()), ("bf16", torch.randn(2, 3).bfloat16()),
        ("f64", torch.randn(4, 2).double()), ("i64", torch.randint(-1000, 1000, (6,))),
        ("i32", torch.randint(-1000, 1000, (3,), dtype=torch.int32)), ("scalar", torch.tensor(2.5)),
        ("empty", torch.zeros(0, 3))])
    torch.save(dtypes, p("dtypes.pt"))
    expected["dtypes.pt"] = expected_of(dtypes)

    sd = small_state_dict(3)
    torch.save({"epoch": 7, "state_dict": sd, "best_metric": 0.25}, p("nested_state_dict.pt"))
    expected["nested_state_dict.pt"] = expected_of(sd)
    sd = small_state_dict(4)
    torch.save({"model": sd, "optimizer_name": "adam"}, p("nested_model.pt"))
    expected["nested_model.pt"] = expected_of(sd)

    sd = small_state_dict(5)
    torch.save(collections.OrderedDict(("module." + k, v) for k, v in sd.items()), p("module_prefix.pt"))
    expected["module_prefix.pt"] = expected_of(sd)

    torch.manual_seed(6)
    base = torch.randn(6, 5)
    half = torch.randn(4, 4).half()
    views = collections.OrderedDict([
        ("base", base), ("row", base[2]), ("col", base[:, 1]), ("transposed", base.t()), ("block", base[1:4, 2:]),
        ("element", base[3, 4]), ("half_t", half.t()), ("half_strided", half[::2, 1::2])])
    torch.save(views, p("views.pt"))
    expected["views.pt"] = expected_of(views)

    torch.manual_seed(7)
    params = collections.OrderedDict([("w", torch.nn.Parameter(torch.randn(3, 2))), ("b", torch.nn.Parameter(torch.randn(2)))])
    torch.save(params, p("parameters.pt"))
    expected["parameters.pt"] = expected_of(params)

    sd = small_state_dict(8)
    torch.save(sd, p("legacy.pt"), _use_new_zipfile_serialization=False)

    torch.save(torch.randn(3), p("single_tensor.pt"))
    torch.save({"epoch": 3, "note": "no tensors"}, p("no_tensors.pt"))

    # --- hostile checkpoints: payloads torch.save really writes, each refused before anything runs ---
    t = torch.randn(2, 2)
    # os.system pickles as posix.system on Linux; patch the GLOBAL line to the portable spelling.
    torch.save(collections.OrderedDict([("a.weight", t), ("evil", Payload(os.system, "touch " + MARKER + "os_system"))]),
               p("tmp.pt"))
    replace_pickle(p("tmp.pt"), p("hostile_os_system.pt"), lambda b: b.replace(b"cposix\nsystem\n", b"cos\nsystem\n"))
    os.remove(p("tmp.pt"))
    # Protocol 4: STACK_GLOBAL of builtins.eval.
    torch.save(collections.OrderedDict([("a.weight", t), ("evil", Payload(eval, f"__import__('os').system('touch {MARKER}eval')"))]),
               p("hostile_eval.pt"), pickle_protocol=4)
    # Protocol 2 writes Python 2 module names (commands.Popen); patch to the real one.
    torch.save(collections.OrderedDict([("evil", Payload(subprocess.Popen, ["touch", MARKER + "popen"])), ("a.weight", t)]),
               p("tmp.pt"))
    replace_pickle(p("tmp.pt"), p("hostile_popen.pt"), lambda b: b.replace(b"ccommands\nPopen\n", b"csubprocess\nPopen\n"))
    os.remove(p("tmp.pt"))
    torch.save(collections.OrderedDict([("a.weight", t), ("thing", Unknown())]), p("hostile_unknown_class.pt"))
    torch.save(torch.nn.Linear(2, 2), p("hostile_full_module.pt"))
    # The payload as a storage type inside a persistent id.
    write_archive(p("hostile_storage_type.pt"),
                  collections.OrderedDict([("w", FakeTensor(FakeStorage("0", 4, Payload(os.system, "touch " + MARKER + "storage_type")), 0, [4], [1]))]),
                  {"0": bytes(16)}, patch=lambda b: b.replace(b"cposix\nsystem\n", b"cos\nsystem\n"))
    # A plain pickle in place of arkit_subsample.pkl: protocol-0 os.system, and a dict hiding a payload.
    with open(p("hostile_os_system.pkl"), "wb") as f:
        f.write(b"cos\nsystem\n(S'touch " + (MARKER + "pkl").encode() + b"'\ntR.")
    with open(p("hostile_subsample.pkl"), "wb") as f:
        pickle.dump({"1220_to_305": list(range(305)), "x": Payload(subprocess.Popen, ["touch", MARKER + "subsample"])}, f, protocol=4)

    # --- plain pickles, protocols 2-5, for the unpickler's value coverage (asserted literally in the tests) ---
    shared = ["same"]
    for proto in (2, 3, 4, 5):
        value = {"ints": [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31 - 1, 2**31, 2**63 - 1, -2**63],
                 "floats": [0.5, -1e300, float("inf")], "text": "h\u00e9llo \u2713", "tuple": (1, (2, 3), ()),
                 "nested": collections.OrderedDict([("k", [None, True, False])]), "shared": [shared, shared]}
        if proto >= 3:
            value["bytes"] = b"\x00\xff"
        with open(p(f"plain_p{proto}.pkl"), "wb") as f:
            pickle.dump(value, f, protocol=proto)

    # --- subsample pickles holding numpy integer arrays instead of the official list ---
    import numpy as np
    chosen = np.random.default_rng(10).choice(1220, 305, replace=False)
    for dtype in ("int32", "int64"):
        with open(p(f"subsample_{dtype}_array.pkl"), "wb") as f:
            pickle.dump({"1220_to_305": chosen.astype(dtype), "other": [1, 2]}, f, protocol=4)
    expected["subsample_array"] = [int(x) for x in chosen]

    # --- broken archives ---
    good = open(p("float32.pt"), "rb").read()
    open(p("truncated.pt"), "wb").write(good[: len(good) // 2])
    bad = bytearray(good)
    cd = good.rfind(b"PK\x01\x02")
    bad[cd + 20: cd + 60] = b"\xff" * 40  # sizes and name length of the first central-directory record
    open(p("corrupt_directory.pt"), "wb").write(bytes(bad))
    replace_pickle(p("float32.pt"), p("corrupt_pickle.pt"), lambda b: b[: len(b) // 2])
    replace_pickle(p("float32.pt"), p("garbage_pickle.pt"), lambda b: b[:2] + bytes([0xFE, 0xED]) + b[4:])

    f32 = lambda n, seed=9: torch.randn(n, generator=torch.Generator().manual_seed(seed)).numpy().tobytes()
    write_archive(p("storage_short.pt"), collections.OrderedDict([("w", FakeTensor(FakeStorage("0", 10), 0, [100], [1]))]),
                  {"0": f32(10)})
    write_archive(p("storage_view_past_end.pt"), collections.OrderedDict([("w", FakeTensor(FakeStorage("0", 12), 4, [3, 3], [3, 1]))]),
                  {"0": f32(12)})
    write_archive(p("storage_entry_mismatch.pt"), collections.OrderedDict([("w", FakeTensor(FakeStorage("0", 10), 0, [10], [1]))]),
                  {"0": f32(9)})
    write_archive(p("storage_missing.pt"), collections.OrderedDict([("w", FakeTensor(FakeStorage("7", 4), 0, [4], [1]))]),
                  {"0": f32(4)})
    write_archive(p("huge_numel.pt"), collections.OrderedDict([("w", FakeTensor(FakeStorage("0", 1 << 40), 0, [1 << 40], [1]))]),
                  {"0": f32(4)})
    write_archive(p("huge_shape.pt"), collections.OrderedDict([("w", FakeTensor(FakeStorage("0", 4), 0, [1 << 31, 1 << 31, 1 << 31], [0, 0, 0]))]),
                  {"0": f32(4)})
    # A deflated storage whose headers claim 4,000,000,000 bytes: refused from the directory alone.
    write_archive(p("tmp.pt"), collections.OrderedDict([("w", FakeTensor(FakeStorage("0", 1_000_000_000), 0, [1_000_000_000], [1]))]),
                  {"0": bytes(4096)}, deflate=("0",))
    data = bytearray(open(p("tmp.pt"), "rb").read())
    os.remove(p("tmp.pt"))
    claim = (4_000_000_000).to_bytes(4, "little")
    for sig, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = 0
        while (at := data.find(sig, at)) >= 0:
            name_len = int.from_bytes(data[at + (26 if sig == b"PK\x03\x04" else 28):][:2], "little")
            name_at = at + (30 if sig == b"PK\x03\x04" else 46)
            if data[name_at:name_at + name_len] == b"archive/data/0":
                data[at + size_at: at + size_at + 4] = claim
            at += 4
    open(p("zip_bomb_claim.pt"), "wb").write(bytes(data))
    # The same storage claiming 2,000,000,000 compressed bytes in a file of a few hundred.
    for sig, size_at in ((b"PK\x03\x04", 18), (b"PK\x01\x02", 20)):
        at = data.find(sig)
        while at >= 0:
            data[at + size_at: at + size_at + 4] = (2_000_000_000).to_bytes(4, "little")
            at = data.find(sig, at + 4)
    open(p("zip_size_beyond_file.pt"), "wb").write(bytes(data))

    # A checkpoint re-zipped with deflate: legal zip, read through the decompressor.
    with zipfile.ZipFile(p("float32.pt")) as zin, zipfile.ZipFile(p("deflated.pt"), "w") as zout:
        for info in zin.infolist():
            zi = zipfile.ZipInfo(info.filename)
            zout.writestr(zi, zin.read(info.filename), compress_type=zipfile.ZIP_DEFLATED)
    expected["deflated.pt"] = expected["float32.pt"]

    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=0)
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"wrote {len(os.listdir(out))} files, {total} bytes, to {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", choices=["trg", "trgv2"])
    ap.add_argument("--out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sums")
    ap.add_argument("--nest", help="store the state dict under this key")
    ap.add_argument("--prefix", default="", help="prefix every key (e.g. module.)")
    a = ap.parse_args()
    if a.full:
        sd = full_state_dict(a.full, a.seed)
        obj = collections.OrderedDict((a.prefix + k, v) for k, v in sd.items())
        torch.save({a.nest: obj} if a.nest else obj, a.out)
        if a.sums:
            write_sums(sd, a.sums)
        print(f"wrote {a.out}: {a.full}, {len(sd)} tensors, {os.path.getsize(a.out)} bytes")
    else:
        make_small(a.out or FIXTURES)


if __name__ == "__main__":
    main()
