#!/usr/bin/python3
"""Reference Euler angles from SciPy for the C# EulerAngles tests.

Writes tests/TrgIlgpu.Tests/Fixtures/App/euler_scipy.json: row-major float32-representable rotation matrices and
SciPy's Rotation.from_matrix(R).as_euler('yxz', degrees=True) for each (EVAL_SPEC.md's convention), including
gimbal-lock cases (pitch = +-90 degrees). Run with Debian's python3-scipy: /usr/bin/python3 tools/euler_reference.py
"""
import json
import os

import numpy as np
import scipy
from scipy.spatial.transform import Rotation

rng = np.random.default_rng(20241029)
mats = [Rotation.random(random_state=rng).as_matrix() for _ in range(40)]
# Head-pose-like angles, and the gimbal-lock and near-lock cases.
for yaw, pitch, roll in [(30, 20, -10), (-75, 5, 40), (0, 90, 0), (25, -90, 0), (10, 90, 30), (-40, 89.9, 12), (170, -45, -170)]:
    mats.append(Rotation.from_euler('yxz', [yaw, pitch, roll], degrees=True).as_matrix())
cases = []
for m in mats:
    m32 = m.astype(np.float32)  # the engine's rotations are float32: give SciPy exactly what C# will read
    yaw, pitch, roll = Rotation.from_matrix(m32.astype(np.float64)).as_euler('yxz', degrees=True)
    cases.append({"rotation": [float(x) for x in m32.reshape(-1)], "yaw": yaw, "pitch": pitch, "roll": roll})
out = os.path.join(os.path.dirname(__file__), "..", "tests", "TrgIlgpu.Tests", "Fixtures", "App", "euler_scipy.json")
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    json.dump({"scipy": scipy.__version__, "convention": "as_euler('yxz', degrees=True)", "cases": cases}, f, indent=1)
print(f"wrote {len(cases)} cases to {out}")
