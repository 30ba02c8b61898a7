"""S-CNN and K-CNN layer by layer, and their optimizers option by option, as the original set them: what it
named, and Keras 2.3.1's defaults where it left a setting to Keras. Then a few optimizer steps in this process
against the closed-form Keras 2.3.1 updates (tests/test_optimizers.py), on gradients that tell apart the variants a
constructor argument switches on: amsgrad, clipping, weight decay, another epsilon."""
import keras
import numpy as np
import pytest

from models import get_model
from optimizers import original_optimizer
from test_optimizers import keras2_adam, rmsprop

WEIGHTED = {"use_bias": True, "kernel_initializer": "HeNormal", "bias_initializer": "Zeros",
            "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None}


def conv(filters, padding):
    return "Conv2D", {"filters": filters, "kernel_size": (3, 3), "strides": (1, 1), "padding": padding,
                      "dilation_rate": (1, 1), "groups": 1, "activation": "relu", "data_format": "channels_last",
                      "activity_regularizer": None, **WEIGHTED}


def dense(units, activation):
    return "Dense", {"units": units, "activation": activation, **WEIGHTED}


def dropout(rate):
    return "Dropout", {"rate": rate, "noise_shape": None, "seed": None}


POOL = "MaxPooling2D", {"pool_size": (2, 2), "strides": (2, 2), "padding": "valid", "data_format": "channels_last"}
FLATTEN = "Flatten", {"data_format": "channels_last"}
SCNN = [conv(32, "valid"), conv(64, "valid"), POOL, dropout(0.25),
        FLATTEN, dense(128, "relu"), dropout(0.5), dense(10, "softmax")]
KCNN = [conv(32, "same"), conv(32, "same"), POOL, dropout(0.25),
        conv(64, "same"), conv(64, "same"), POOL, dropout(0.25),
        FLATTEN, dense(512, "relu"), dropout(0.5), dense(10, "softmax")]
# what Keras 2.3.1's optimizers did not have, or had off: none of it may be on
NOTHING_ADDED = {"weight_decay": None, "clipnorm": None, "clipvalue": None, "global_clipnorm": None, "use_ema": False,
                 "loss_scale_factor": None, "gradient_accumulation_steps": None}


def settings(layer, names):
    """Return (the layer's type, {name: its setting}), an initialiser by its class name."""
    config = layer.get_config()
    return type(layer).__name__, {name: config[name]["class_name"] if isinstance(config[name], dict) else config[name]
                                  for name in names}


@pytest.fixture(scope="module")
def networks():
    return {"SCNN": get_model("SCNN", (28, 28, 1), 10), "KCNN": get_model("KCNN", (32, 32, 3), 10)}


@pytest.mark.parametrize("network, expected", [("SCNN", SCNN), ("KCNN", KCNN)])
def test_every_layer_has_the_original_settings(networks, network, expected):
    layers = networks[network].layers
    assert [settings(layer, names) for layer, (_, names) in zip(layers, expected)] == expected
    assert len(layers) == len(expected)


def test_adam_has_keras2_defaults_and_learning_rate_1e_3(networks):
    config = networks["SCNN"].optimizer.get_config()
    assert config.pop("learning_rate") == pytest.approx(1e-3, rel=1e-7)
    expected = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False, **NOTHING_ADDED}
    assert {name: config[name] for name in expected} == expected
    assert type(networks["SCNN"].optimizer) is keras.optimizers.Adam


def test_rmsprop_has_keras2_defaults_and_learning_rate_1e_4(networks):
    optimizer = networks["KCNN"].optimizer
    config = optimizer.get_config()
    assert config.pop("learning_rate") == pytest.approx(1e-4, rel=1e-7)
    expected = {"rho": 0.9, "epsilon": 1e-7, **NOTHING_ADDED}
    assert {name: config[name] for name in expected} == expected
    assert (optimizer.momentum, optimizer.centered) == (0.0, False)


# one weight per column: 3, -4 and 0.5 (above and below any clipping at 1) and 2e-7 (where epsilon counts), scaled
# down (the second moment shrinks: amsgrad, which keeps its largest, would be 4e-4 off, 20 times the tolerance) and
# up (norms of 25 and 250: clipping at 1 would change the path by 30%)
GRADIENTS = [np.float32([3, -4, 0.5, 2e-7]) * np.float32(scale) for scale in (1, 0.1, 0.01, 5, 50, *[0.001] * 4)]


def steps(optimizer, gradients, start=0.0):
    """Return the positions of a 4-weight variable from ``start`` after each of ``gradients``."""
    weight = keras.Variable(np.full(4, start, np.float32))
    positions = []
    for gradient in gradients:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), weight)])
        positions.append(np.array(weight.numpy()))
    return np.array(positions)


def test_adam_steps_are_keras2_s_closed_form():
    np.testing.assert_allclose(steps(original_optimizer("SCNN"), GRADIENTS), keras2_adam(GRADIENTS), rtol=2e-5,
                               atol=0)


def test_rmsprop_steps_are_keras2_s_closed_form():
    np.testing.assert_allclose(steps(original_optimizer("KCNN"), GRADIENTS), rmsprop(GRADIENTS, eps_inside=False),
                               rtol=2e-5, atol=0)


@pytest.mark.parametrize("network", ["SCNN", "KCNN"])
def test_a_weight_whose_gradient_is_zero_does_not_move(network):  # no weight decay
    start = np.float32([1000, -300, 7, 0.5])
    positions = steps(original_optimizer(network), [np.zeros(4, np.float32)] * 3, start=start)
    np.testing.assert_array_equal(positions, [start] * 3)
