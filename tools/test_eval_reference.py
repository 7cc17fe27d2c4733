"""Self-tests of tools/eval_reference.py on cases worked out by hand.

    /usr/bin/python3 -m unittest discover -s tools -p 'test_*.py'
"""
import json
import os
import sys
import tempfile
import unittest

import numpy as np
from scipy.spatial.transform import Rotation

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_reference as ev  # noqa: E402


def write(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


class EvalReferenceTests(unittest.TestCase):
    def test_yaw_of_ten_degrees_and_a_centimetre_along_x(self):
        ry = Rotation.from_euler("y", 10, degrees=True).as_matrix().tolist()
        vh = [[0.05, 0, 0], [0, 0.05, 0], [0, 0, 0.05]]
        with tempfile.TemporaryDirectory() as d:
            gt, pred = os.path.join(d, "gt.jsonl"), os.path.join(d, "pred.jsonl")
            write(gt, [{"id": "a", "rotation": np.eye(3).tolist(), "translation": [0, 0, 1], "vertices_head": vh},
                       {"id": "b", "rotation": np.eye(3).tolist(), "translation": [0, 0, 1]}])
            write(pred, [{"id": "a", "rotation": ry, "translation": [0.01, 0, 1]}])
            m = ev.metrics(ev.read_poses(pred), ev.read_poses(gt))
        self.assertAlmostEqual(m["yaw"], 10)
        self.assertAlmostEqual(m["pitch"], 0)
        self.assertAlmostEqual(m["mae_r"], 10 / 3)
        self.assertAlmostEqual(m["ge"], 10, places=5)
        self.assertAlmostEqual(m["tx_mm"], 10)
        self.assertAlmostEqual(m["mae_t_mm"], 10 / 3)
        self.assertAlmostEqual(m["bmae"], 5 / 75 * 10 / 3)  # the ground truth's angle 0 falls in bin [0, 5)
        self.assertEqual(m["bmae_empty_bins"], 14)
        self.assertEqual(m["missing_predictions"], 1)
        self.assertEqual(m["n"], 1)

    def test_alignment_in_the_head_frame_turns_with_the_prediction(self):
        rz = Rotation.from_euler("z", 90, degrees=True).as_matrix()
        with tempfile.TemporaryDirectory() as d:
            gt, pred = os.path.join(d, "gt.jsonl"), os.path.join(d, "pred.jsonl")
            write(gt, [{"id": 1, "rotation": rz.tolist(), "translation": [0, 0.02, 1]}])
            write(pred, [{"id": 1, "rotation": rz.tolist(), "translation": [0, 0, 1]}])
            m = ev.metrics(ev.read_poses(pred), ev.read_poses(gt), {"dt_m": [0.02, 0, 0], "frame": "head"})
        self.assertAlmostEqual(m["mae_t_mm"], 0)  # R_z(90) (20 mm, 0, 0) = (0, 20 mm, 0)
        self.assertAlmostEqual(m["unaligned"]["ty_mm"], 20)


if __name__ == "__main__":
    unittest.main()
