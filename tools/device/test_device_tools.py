"""Self-tests of the GPU-machine tools that can run without a GPU.

    /usr/bin/python3 -m unittest discover -s tools/device -p 'test_*.py'
"""
import copy
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
import zlib
from contextlib import redirect_stderr, redirect_stdout

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import check_parity as cp  # noqa: E402
import report  # noqa: E402

FIXTURES = os.path.join(ROOT, "tests", "TrgIlgpu.Tests", "Fixtures", "parity")


def read_png_rgb(path):
    """Decoder for the PNGs write_png makes (8-bit RGB, filter 0): checks the writer independently of it."""
    with open(path, "rb") as fh:
        data = fh.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    w = h = None
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == int.from_bytes(data[pos + 8 + n:pos + 12 + n], "big")
        if kind == b"IHDR":
            w, h = int.from_bytes(body[0:4], "big"), int.from_bytes(body[4:8], "big")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(h, w, 3)


def engine_documents(fixture, outputs, rng, noise=0.0):
    """What `trg estimate` would write for every run of the plan: the fixture's values, plus uniform noise."""
    cases = {c["name"]: c for c in fixture["cases"]}
    for name, _image, _focal, _boxes, case, idx, _principal in cp.plan_runs(fixture):
        faces = []
        for i in idx:
            want = cases[case]["faces"][i]
            face = {k: copy.deepcopy(want[k]) for k in ("bbox", "rotation", "translation", "vertices_cam", "vertices_head",
                                                        "landmarks68_norm", "landmarks68", "iterations")}
            if noise:
                for k in ("vertices_cam", "rotation"):
                    a = np.asarray(face[k], dtype=np.float64)
                    face[k] = (a + rng.uniform(-noise, noise, a.shape)).tolist()
            faces.append(face)
        with open(os.path.join(outputs, name + ".json"), "w") as fh:
            json.dump({"device": "test", "faces": faces}, fh)


class CheckParityTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.fixture_path = os.path.join(FIXTURES, "trgv2.json")
        with open(self.fixture_path) as fh:
            self.fixture = json.load(fh)
        self.rng = np.random.default_rng(20261129)

    def tearDown(self):
        self.tmp.cleanup()

    def run_cli(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            rc = cp.main(list(args))
        return rc, out.getvalue(), err.getvalue()

    def test_plan_groups_consecutive_faces_by_image_and_focal_and_writes_the_pattern(self):
        open(os.path.join(self.dir, "astronaut.png"), "wb").close()
        rc, out, _ = self.run_cli("plan", self.fixture_path, "--image-dir", self.dir)
        self.assertEqual(rc, 0)
        lines = [line.split("\t") for line in out.strip().splitlines()]
        self.assertEqual([line[0] for line in lines],
                         ["trgv2-batch1-0", "trgv2-batch4_two_images-0", "trgv2-batch4_two_images-1",
                          "trgv2-batch4_principal_off_centre-0", "trgv2-batch4_principal_off_centre-1",
                          "trgv2-batch4_principal_off_centre-2", "trgv2-batch4_principal_off_centre-3"])
        self.assertTrue(all(line[1] == "synthetic:trgv2:1" for line in lines))
        self.assertEqual(lines[1][3], "1024")
        self.assertEqual(lines[1][4], "153,49,295,191;100,150,260,310;400,-30,560,130")
        self.assertEqual(lines[1][5], "-")
        self.assertEqual(lines[2][3], "700")
        # Off-centre principal points run with --camera f,f,px,py; the centred face with --focal.
        self.assertEqual(lines[3][5], "900,900,180.5,301.25")
        self.assertEqual(lines[4][5], "700,700,40,200.75")
        self.assertEqual(lines[6][5], "-")
        rgb = read_png_rgb(lines[2][2])
        self.assertEqual(rgb.shape, (240, 320, 3))
        self.assertEqual(cp.image_checksum(rgb), int(self.fixture["images"]["pattern320x240"]["checksum"]))
        y, x = 17, 301  # one pixel by the formula in docs/parity-fixtures.md
        self.assertEqual(list(rgb[y, x]), [(x * 7 + y * 13) % 256, (x * x + 3 * y) % 256, (x ^ y) & 255])

    def test_plan_names_a_missing_image_file(self):
        rc, _, err = self.run_cli("plan", self.fixture_path, "--image-dir", self.dir)
        self.assertEqual(rc, 2)
        self.assertIn(os.path.join(self.dir, "astronaut.png"), err)

    def test_outputs_equal_to_the_fixture_pass_with_zero_deviation(self):
        engine_documents(self.fixture, self.dir, self.rng)
        rep = cp.compare(self.fixture_path, self.dir)
        self.assertTrue(rep["pass"])
        self.assertEqual(len(rep["faces"]), 9)
        self.assertEqual(max(rep["max_deviation"].values()), 0.0)

    def test_noise_below_the_tolerance_passes_and_is_measured(self):
        engine_documents(self.fixture, self.dir, self.rng, noise=3e-6)
        rep = cp.compare(self.fixture_path, self.dir)
        self.assertTrue(rep["pass"])
        self.assertGreater(rep["max_deviation"]["rotation"], 1e-6)
        self.assertLessEqual(rep["max_deviation"]["rotation"], 3e-6 + 1e-7)

    def test_a_deviation_over_the_tolerance_fails_with_exit_1(self):
        engine_documents(self.fixture, self.dir, self.rng)
        name = "trgv2-batch4_two_images-0.json"
        path = os.path.join(self.dir, name)
        with open(path) as fh:
            doc = json.load(fh)
        doc["faces"][2]["vertices_cam"][int(self.rng.integers(0, 1220))][1] += 6e-5  # tolerance 5e-5
        with open(path, "w") as fh:
            json.dump(doc, fh)
        rc, out, _ = self.run_cli("compare", self.fixture_path, "--outputs", self.dir, "--json", os.path.join(self.dir, "r.json"))
        self.assertEqual(rc, 1)
        self.assertIn("FAIL", out)
        with open(os.path.join(self.dir, "r.json")) as fh:
            rep = json.load(fh)
        failed = [(f["case"], f["face"]) for f in rep["faces"] if not f["pass"]]
        self.assertEqual(failed, [("batch4_two_images", 2)])

    def test_a_non_finite_value_fails(self):
        engine_documents(self.fixture, self.dir, self.rng)
        path = os.path.join(self.dir, "trgv2-batch1-0.json")
        with open(path) as fh:
            doc = json.load(fh)
        doc["faces"][0]["translation"][2] = None  # the engine writes non-finite numbers as null
        with open(path, "w") as fh:
            json.dump(doc, fh)
        rep = cp.compare(self.fixture_path, self.dir)
        self.assertFalse(rep["pass"])
        self.assertEqual(rep["max_deviation"]["translation"], float("inf"))

    def test_missing_output_and_wrong_box_are_named(self):
        rc, _, err = self.run_cli("compare", self.fixture_path, "--outputs", self.dir)
        self.assertEqual(rc, 2)
        self.assertIn("trgv2-batch1-0.json: engine output not found", err)
        engine_documents(self.fixture, self.dir, self.rng)
        path = os.path.join(self.dir, "trgv2-batch1-0.json")
        with open(path) as fh:
            doc = json.load(fh)
        doc["faces"][0]["bbox"] = [1, 2, 3, 4]
        with open(path, "w") as fh:
            json.dump(doc, fh)
        rc, _, err = self.run_cli("compare", self.fixture_path, "--outputs", self.dir)
        self.assertEqual(rc, 2)
        self.assertIn("bbox [1, 2, 3, 4]", err)


class FaceParityTests(unittest.TestCase):
    @staticmethod
    def document(rng, faces=2):
        return {"faces": [{"detection": {"box": list(rng.uniform(0, 500, 4)), "score": float(rng.uniform(0.5, 1)),
                                         "landmarks68": list(rng.uniform(0, 500, 136))},
                           "rotation": list(rng.uniform(-1, 1, 9))} for _ in range(faces)]}

    def run_faces(self, ref, dev):
        with tempfile.TemporaryDirectory() as d:
            paths = []
            for name, doc in (("ref", ref), ("dev", dev)):
                paths.append(os.path.join(d, name + ".json"))
                with open(paths[-1], "w") as fh:
                    json.dump(doc, fh)
            out = io.StringIO()
            with redirect_stdout(out):
                code = cp.main(["faces", *paths, "--json", os.path.join(d, "rep.json")])
            with open(os.path.join(d, "rep.json")) as fh:
                return code, out.getvalue(), json.load(fh)

    def test_small_device_noise_passes_and_is_measured(self):
        rng = np.random.default_rng(11)
        ref = self.document(rng)
        dev = copy.deepcopy(ref)
        dev["faces"][1]["detection"]["landmarks68"][17] += 0.01
        code, out, rep = self.run_faces(ref, dev)
        self.assertEqual(code, 0, out)
        self.assertAlmostEqual(rep["faces"][1]["max_abs"]["landmarks68"], 0.01, places=6)
        self.assertEqual(rep["faces"][0]["max_abs"]["landmarks68"], 0.0)

    def test_a_moved_box_or_a_missing_face_fails(self):
        rng = np.random.default_rng(12)
        ref = self.document(rng)
        dev = copy.deepcopy(ref)
        dev["faces"][0]["detection"]["box"][2] += 0.5
        code, out, _ = self.run_faces(ref, dev)
        self.assertEqual(code, 1)
        self.assertIn("FAIL", out)
        code, out, rep = self.run_faces(ref, {"faces": ref["faces"][:1]})
        self.assertEqual(code, 1)
        self.assertIn("1 faces on the device, 2 on the reference", out)


class ReportTests(unittest.TestCase):
    def test_results_table_has_medians_and_ratios(self):
        rng = np.random.default_rng(7)
        with tempfile.TemporaryDirectory() as raw, tempfile.TemporaryDirectory() as out:
            medians = {}
            for b in (1, 8, 64):
                e, d, s = (float(v) for v in rng.uniform(0.1, 20, 3))
                medians[b] = (e, d, s)
                with open(os.path.join(raw, f"engine-b{b}.json"), "w") as fh:
                    json.dump({"Variant": "trgv2", "Device": "CUDA: NVIDIA H200", "Batch": b, "Iterations": 100, "Launches": 37,
                               "MedianMs": e, "P90Ms": e * 1.1, "ImagesPerSecond": b * 1000 / e, "WeightBytes": 110796392,
                               "TotalDeviceBytes": 115403068}, fh)
                for mode, v in (("default", d), ("strict", s)):
                    with open(os.path.join(raw, f"torch-{mode}-b{b}.json"), "w") as fh:
                        json.dump({"engine": "PyTorch 2.11.0 eager CUDA", "median_ms": v, "p90_ms": v * 1.2, "iterations": 100,
                                   "max_memory_allocated_bytes": 200 * 2**20}, fh)
            with open(os.path.join(raw, "gpu-before.csv"), "w") as fh:
                fh.write("name, driver_version, memory.total [MiB]\nNVIDIA H200, 580.159.04, 143771 MiB\n")
            with open(os.path.join(raw, "date.txt"), "w") as fh:
                fh.write("2026-11-29\n")
            with open(os.path.join(raw, "device.txt"), "w") as fh:
                fh.write("cuda\n")
            self.assertEqual(report.main(["--raw", raw, "--out", out]), 0)
            with open(os.path.join(out, "results.md")) as fh:
                md = fh.read()
            with open(os.path.join(out, "results.json")) as fh:
                js = json.load(fh)
        self.assertIn("## GPU: NVIDIA H200, 2026-11-29", md)
        self.assertIn("driver 580.159.04", md)
        for b, (e, d, s) in medians.items():
            row = next(line for line in md.splitlines() if line.startswith(f"| {b} |"))
            self.assertIn(f"{d / e:.2f}x", row)
            self.assertIn(f"{s / e:.2f}x", row)
        self.assertIn("Issue 5 targets at batch 1", md)
        self.assertIn("**not run or no output**", md)  # no parity files: said so, not hidden
        self.assertEqual([r["batch"] for r in js["timings"]], [1, 8, 64])


class ReferenceDeviceTests(unittest.TestCase):
    def test_reference_forward_keeps_every_tensor_on_the_input_device(self):
        import torch
        import trg_reference as ref
        from bench_peers import inputs
        model = ref.build_model(None, "trgv2:3")[0].eval().to("meta")  # meta: shapes only; a CPU tensor would clash
        x, k, info = (t.to("meta") for t in inputs(2))
        out = model(x, k, info)
        self.assertEqual(out["face_cam"].device.type, "meta")
        self.assertEqual(tuple(out["lmk"].shape), (2, 68, 2))
        self.assertTrue(torch.is_tensor(out["iterations"][-1][1]))

    def test_torch_peer_refuses_cuda_without_a_gpu(self):
        import torch
        if torch.cuda.is_available():
            self.skipTest("this machine has CUDA")
        p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench_peers.py"), "torch", "--device", "cuda"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 8)
        self.assertIn("torch.cuda.is_available() is False", p.stderr)


if __name__ == "__main__":
    unittest.main()
