"""The experiment on every Keras backend, each in a subprocess with KERAS_BACKEND set: the networks and
their model queries on every installed backend, an end-to-end run and the same-seed check on JAX."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import backend
from conftest import ROOT, TINY, assert_one_error_line, read_accuracies, run_script

pytestmark = pytest.mark.slow  # every test here runs a subprocess

NETWORKS_AND_QUERIES = """
import json
import numpy as np
import backend, models
backend.configure()
x = np.random.default_rng(0).uniform(size=(30, 28, 28, 1)).astype(np.float32)
model = models.get_model("SCNN", (28, 28, 1), 10)
arrays = models.pool_arrays(model, {"features", "features_sample", "mc_probabilities"}, x, np.arange(10),
                            np.arange(10, 30), n_mc=3)
print(json.dumps({"describe": backend.describe(), "scnn": model.count_params(),
                  "kcnn": models.get_model("KCNN", (32, 32, 3), 10).count_params(),
                  "shapes": [arrays.features.shape, arrays.features_sample.shape, arrays.mc_probabilities.shape],
                  "mc_sums": arrays.mc_probabilities.sum(axis=2).tolist(),
                  "mc_passes_differ": bool(np.abs(arrays.mc_probabilities[0] - arrays.mc_probabilities[1]).max() > 0)}))
"""


@pytest.mark.parametrize("name", backend.installed_backends())
def test_the_networks_and_their_queries_on_every_installed_backend(name):
    result = subprocess.run([sys.executable, "-c", NETWORKS_AND_QUERIES], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, KERAS_BACKEND=name), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.splitlines()[-1])
    assert seen["describe"].startswith(f"backend {name} ") and "devices " in seen["describe"]
    assert (seen["scnn"], seen["kcnn"]) == (1_199_882, 2_168_362)
    assert seen["shapes"] == [[10, 128], [20, 128], [3, 10, 10]]
    np.testing.assert_allclose(seen["mc_sums"], np.ones((3, 10)), atol=1e-5)  # a softmax per pass and sample
    assert seen["mc_passes_differ"]  # dropout is on in the MC passes


def test_an_unknown_backend_is_one_line_and_exit_2(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "theano")
    result = run_script("run_mnist.py", *TINY, "--data-dir", data_dir, "--out", tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: KERAS_BACKEND must be one of tensorflow, jax, torch, got 'theano'"


def test_a_thread_count_that_is_not_a_count_is_one_line_and_exit_2(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("LDMS_THREADS", "two")
    result = run_script("run_mnist.py", *TINY, "--data-dir", data_dir, "--out", tmp_path)
    assert result.returncode == 2 and not (tmp_path / "mnist_SCNN").exists()
    assert_one_error_line(result.stderr, "LDMS_THREADS must be a whole number of threads (0: the framework's "
                                         "default), got 'two'")


def test_jax_end_to_end_the_same_seed_gives_the_same_files_and_resuming_on_another_backend_is_refused(
        tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    flags = TINY + ["--nStep", "1", "--data-dir", data_dir]
    for out in ("a", "b"):
        result = run_script("run_mnist.py", *flags, "--out", tmp_path / out)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "backend jax " in result.stdout
    folders = [tmp_path / out / "mnist_SCNN" for out in "ab"]
    names = sorted(path.name for path in folders[0].iterdir()
                   if path.suffix not in (".lock", ".jsonl"))  # the lock names its pid, the step log its seconds
    assert names == ["settings.json", "state_001.npz", "test_accs_001.txt"]
    for name in names:  # byte-identical result files
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes(), name
    assert json.loads((folders[0] / "settings.json").read_text())["backend"] == "jax"
    accuracies = read_accuracies(folders[0] / "test_accs_001.txt")
    assert len(accuracies) == 2 and all(0 < a <= 1 for a in accuracies)

    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv("LDMS_THREADS", "1")  # another thread count splits sums otherwise: refused too
    other = run_script("run_mnist.py", *flags, "--nQuery", "12", "--out", tmp_path / "a")
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert "KERAS_BACKEND jax there, tensorflow here" in other.stderr and "--nQuery 10 there, 12 here" in other.stderr
    assert "LDMS_THREADS 0 there, 1 here" in other.stderr
