"""TensorFlow's C++ start-up lines stay out of the output when a case module imports TensorFlow itself."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

MODULE = """
import numpy as np
import tensorflow as tf  # at module level, before gradcheck's own quiet import

def square(x):
    return np.sum(x ** 2)

def square_vjp(x, dz):
    return (2 * x * dz,)
"""


@pytest.mark.slow  # a fresh interpreter imports TensorFlow: a minute on a busy machine
def test_a_case_module_that_imports_tensorflow_prints_no_cpp_log_lines(tmp_path):
    pytest.importorskip("tensorflow")
    (tmp_path / "tfmodule.py").write_text(MODULE)
    (tmp_path / "c.yaml").write_text("name: sq\nfunction: tfmodule:square\nvjp: tfmodule:square_vjp\n"
                                     "inputs: {x: [1.0, 2.0]}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(tmp_path)])
    done = subprocess.run([sys.executable, "-m", "gradcheck", "run", "c.yaml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout + done.stderr
    for noise in ("cpu_feature_guard", "oneDNN", "cuInit", "absl::InitializeLog", "I0000", "E0000"):
        assert noise not in output
    assert "2 passed, 0 failed" in done.stdout
