"""Self-tests of the Python tools (reference, safetensors I/O, synthetic weights).

    /usr/bin/python3 -m unittest discover -s tools -p 'test_*.py'
"""
import os
import sys
import tempfile
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trg_reference as ref  # noqa: E402
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402
from synthetic_weights import element_count, grid_values, synthetic_state_dict, uniform  # noqa: E402


class SafetensorsTests(unittest.TestCase):
    def test_round_trip_keeps_dtypes_shapes_values_and_metadata(self):
        rng = np.random.default_rng(7)
        tensors = {"a": rng.standard_normal((3, 5)).astype(np.float32), "n": np.array(4, dtype=np.int64),
                   "i": rng.integers(-9, 9, (2304, 3)).astype(np.int32), "h": rng.standard_normal(7).astype(np.float16)}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.safetensors")
            write_safetensors(path, tensors, {"format": "trg-ilgpu", "variant": "trg"})
            with open(path, "rb") as fh:
                n = int.from_bytes(fh.read(8), "little")
            self.assertEqual(n % 8, 0)
            back, meta = read_safetensors(path)
        self.assertEqual(meta, {"format": "trg-ilgpu", "variant": "trg"})
        for k, v in tensors.items():
            self.assertEqual(back[k].dtype, v.dtype)
            np.testing.assert_array_equal(back[k], v)

    def test_truncated_file_is_refused_with_its_name(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.safetensors")
            write_safetensors(path, {"a": np.ones(100, np.float32)})
            with open(path, "rb") as fh:
                data = fh.read()
            with open(path, "wb") as fh:
                fh.write(data[:-4])
            with self.assertRaisesRegex(ValueError, "bad.safetensors"):
                read_safetensors(path)


class SyntheticTests(unittest.TestCase):
    def test_element_counts_match_spec(self):
        self.assertEqual(element_count("trg"), 37_653_936)
        self.assertEqual(element_count("trgv2"), 29_810_433)

    def test_uniform_range_and_moments(self):
        u = uniform(3, "some.key", 200_000).astype(np.float64)
        self.assertGreaterEqual(u.min(), -1.0)
        self.assertLess(u.max(), 1.0)
        self.assertAlmostEqual(u.mean(), 0.0, delta=0.01)
        self.assertAlmostEqual((u * u).mean(), 1 / 3, delta=0.01)

    def test_grid_is_linspace_within_one_ulp(self):
        g = torch.linspace(-1, 1, 18)
        xv, yv = torch.meshgrid([g, g], indexing="ij")
        official = torch.stack([xv.reshape(-1), yv.reshape(-1)]).unsqueeze(0).numpy()
        self.assertLessEqual(np.abs(official - grid_values()).max(), 6e-8)


class ReferenceTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        sd, sub = synthetic_state_dict("trgv2", 9)
        cls.model = ref.TrgReference("trgv2").load_weights(sd, sub)
        cls.img = ref.pattern_image(320, 240)

    def test_crop_matches_a_per_pixel_bilinear_loop(self):
        box = [-20.0, 100.0, 130.5, 250.5]  # reaches left of and below the image
        crop = ref.crop_normalised(self.img, box)
        h, w, _ = self.img.shape
        for (x, y) in [(0, 0), (5, 7), (100, 60), (191, 191), (20, 150), (191, 0)]:
            sx, sy = box[0] + x * (box[2] - box[0]) / 191, box[1] + y * (box[3] - box[1]) / 191
            x0, y0 = int(np.floor(sx)), int(np.floor(sy))
            acc = np.zeros(3)
            for dy in (0, 1):
                for dx in (0, 1):
                    wt = (sx - x0 if dx else 1 - (sx - x0)) * (sy - y0 if dy else 1 - (sy - y0))
                    xi, yi = x0 + dx, y0 + dy
                    if 0 <= xi < w and 0 <= yi < h:
                        acc += wt * self.img[yi, xi]
            expect = (acc / 255 - ref.MEAN) / ref.STD
            np.testing.assert_allclose(crop[:, y, x], expect, atol=1e-6)

    def test_batch_gives_the_same_faces_as_single_runs(self):
        faces = [(self.img, [60, 40, 200, 180], 700.0), (self.img, [150, 20, 290, 160], 560.0)]
        batch = ref.run_faces(self.model, faces)
        for face, got in zip(faces, batch):
            single = ref.run_faces(self.model, [face])[0]
            for k in ("rotation", "translation", "vertices_cam", "landmarks68_norm"):
                np.testing.assert_allclose(got[k], single[k], atol=2e-6)
        self.assertGreater(np.abs(batch[0]["translation"] - batch[1]["translation"]).max(), 1e-3)

    def test_outputs_are_consistent(self):
        out = ref.run_faces(self.model, [(self.img, [60, 40, 200, 180], 700.0)])[0]
        r = out["rotation"].astype(np.float64)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-6)
        cam = out["vertices_head"].astype(np.float64) @ r.T + out["translation"]
        np.testing.assert_allclose(cam, out["vertices_cam"], atol=1e-6)
        self.assertEqual(len(out["iterations"]), 2)
        self.assertEqual(out["sampling_points"][0].shape, (305, 2))

    def test_float64_run_is_close_to_float32(self):
        face = [(self.img, [60, 40, 200, 180], 700.0)]
        a = ref.run_faces(self.model, face, torch.float32)[0]
        b = ref.run_faces(self.model, face, torch.float64)[0]
        self.assertLess(np.abs(a["rotation"] - b["rotation"]).max(), 1e-6)
        self.assertLess(np.abs(a["vertices_cam"] - b["vertices_cam"]).max(), 5e-6)

    def test_centre_principal_point_is_the_default_path_bit_for_bit(self):
        h, w, _ = self.img.shape
        plain = ref.run_faces(self.model, [(self.img, [60, 40, 200, 180], 700.0)])[0]
        centred = ref.run_faces(self.model, [(self.img, [60, 40, 200, 180], 700.0, (w / 2, h / 2))])[0]
        for k in ("rotation", "translation", "vertices_cam", "vertices_head", "landmarks68_norm"):
            np.testing.assert_array_equal(plain[k], centred[k])
        self.assertNotIn("principal", plain)
        self.assertEqual(centred["principal"], [w / 2, h / 2])

    def test_principal_point_enters_crop_K_box_info_and_translation(self):
        box, f, (px, py) = [60, 40, 200, 180], 700.0, (40.5, 200.25)
        k = ref.crop_intrinsics(box, f, 320, 240, (px, py))
        s = 192 / 140
        np.testing.assert_allclose(k, [[f * s, 0, (px - 60) * s], [0, f * s, (py - 40) * s], [0, 0, 1]], rtol=1e-6)
        dump = {}
        out = ref.run_faces(self.model, [(self.img, box, f, (px, py))], torch.float64, dump)[0]
        bx, by = 130.0, 110.0
        np.testing.assert_allclose(dump["binfo"][0].numpy(), [(bx - px) / f * 4, (by - py) / f * 4, 140 / f], rtol=1e-12)
        sc, ox, oy = dump["iter1_pose9"][0, 6:9].numpy()
        expect = [0.1 * sc * ox + 0.2 * sc * (bx - px) / 140, 0.1 * sc * oy + 0.2 * sc * (by - py) / 140, 0.2 * sc * f / 140]
        np.testing.assert_allclose(out["translation"], expect, rtol=1e-6)


if __name__ == "__main__":
    unittest.main()
