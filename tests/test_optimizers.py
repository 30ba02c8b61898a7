"""The networks' optimizers move weights exactly as Keras 2.3.1's closed-form updates do, on every
installed Keras backend (each backend runs in its own process: Keras picks it once, at import)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from backend import installed_backends
from conftest import ROOT

pytestmark = pytest.mark.slow  # each backend runs in a subprocess
STEPS = 6
MAGNITUDES = np.logspace(-6, -2, 9)  # one weight per gradient scale, from 1e-6 to 1e-2

TRAJECTORIES = f"""
import json, sys
import numpy as np
import keras
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
import models
from test_optimizers import gradient

out = {{"backend": keras.backend.backend()}}
for network, shape in (("SCNN", (28, 28, 1)), ("KCNN", (32, 32, 3))):
    optimizer = models.get_model(network, shape, 10).optimizer
    weight = keras.Variable(np.zeros(9, dtype="float32"))
    path = []
    for step in range({STEPS}):
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient(step)), weight)])
        path.append(keras.ops.convert_to_numpy(weight).tolist())
    out[network] = path
# a K-CNN weight (its 4096 x 512 Dense kernel) under gradients of 1e-5, three steps
model = models.get_model("KCNN", (32, 32, 3), 10)
kernel = [layer for layer in model.layers if layer.name.startswith("dense")][0].kernel
start = keras.ops.convert_to_numpy(kernel)[:2, :2].copy()
for _ in range(3):
    model.optimizer.apply_gradients([(keras.ops.full(kernel.shape, 1e-5), kernel)])
out["kcnn_dense_moved"] = (start - keras.ops.convert_to_numpy(kernel)[:2, :2]).tolist()
print(json.dumps(out))
"""


def gradient(step):
    """The gradient the trajectory script applies at ``step`` (float32, signs and sizes varying)."""
    signs = np.where(np.arange(9) % 2, -1.0, 1.0)
    return (MAGNITUDES * signs * (1 + 0.25 * step) * (-1) ** (step // 3)).astype(np.float32)


def keras2_adam(gradients, lr=1e-3, beta_1=0.9, beta_2=0.999, eps=1e-7):
    """Keras 2.3.1's Adam in float32 from p = 0: the positions after each step."""
    f = np.float32
    p = m = v = np.zeros(len(gradients[0]), dtype=f)
    path = []
    for t, g in enumerate(gradients, start=1):
        lr_t = f(lr) * np.sqrt(f(1) - f(beta_2) ** t) / (f(1) - f(beta_1) ** t)
        m = f(beta_1) * m + f(1 - beta_1) * g
        v = f(beta_2) * v + f(1 - beta_2) * g * g
        p = p - lr_t * m / (np.sqrt(v) + f(eps))
        path.append(p)
    return np.array(path)


def rmsprop(gradients, eps_inside, lr=1e-4, rho=0.9, eps=1e-7):
    """RMSprop in float32 from p = 0: Keras 2.3.1's lr*g / (sqrt(a) + eps), or with ``eps_inside``
    Keras 3's lr*g / sqrt(a + eps). Returns the positions after each step."""
    f = np.float32
    p = a = np.zeros(len(gradients[0]), dtype=f)
    path = []
    for g in gradients:
        a = f(rho) * a + f(1 - rho) * g * g
        p = p - f(lr) * g / (np.sqrt(a + f(eps)) if eps_inside else np.sqrt(a) + f(eps))
        path.append(p)
    return np.array(path)


@pytest.fixture(scope="module", params=installed_backends())
def trajectories(request):
    """What the project's optimizers do on one backend (run in a fresh process)."""
    env = dict(os.environ, KERAS_BACKEND=request.param)
    result = subprocess.run([sys.executable, "-c", TRAJECTORIES], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["backend"] == request.param
    return out


def test_adam_is_keras2(trajectories):
    gradients = [gradient(step) for step in range(STEPS)]
    np.testing.assert_allclose(trajectories["SCNN"], keras2_adam(gradients), rtol=2e-5, atol=0)


def test_rmsprop_is_keras2_not_keras3(trajectories):
    gradients = [gradient(step) for step in range(STEPS)]
    keras2, keras3 = rmsprop(gradients, eps_inside=False), rmsprop(gradients, eps_inside=True)
    np.testing.assert_allclose(trajectories["KCNN"], keras2, rtol=2e-5, atol=0)
    # the check tells the two rules apart: at gradients of 1e-6 Keras 3's step is about 100 times smaller
    assert np.abs(keras2[:, 0]).min() > 50 * np.abs(keras3[:, 0]).max()


def test_kcnn_weight_under_small_gradients_moves_as_in_keras2(trajectories):
    moved = np.array(trajectories["kcnn_dense_moved"])
    keras2 = -rmsprop([np.full(1, 1e-5, np.float32)] * 3, eps_inside=False)[-1, 0]  # positive: moved down
    keras3 = -rmsprop([np.full(1, 1e-5, np.float32)] * 3, eps_inside=True)[-1, 0]
    assert keras2 > 30 * keras3  # about 7e-4 against 1e-5: the two rules are far apart here
    np.testing.assert_allclose(moved, np.full((2, 2), keras2), rtol=1e-4)
