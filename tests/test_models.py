"""The paper's networks: layer order, shapes, parameter counts, optimizers, and the LDM head."""
import keras
import numpy as np
import pytest

from errors import UserError
from models import canonical_network, features_and_head, get_model

SCNN_LAYERS = ["Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dropout", "Dense"]
KCNN_LAYERS = ["Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Conv2D", "Conv2D", "MaxPooling2D", "Dropout",
               "Flatten", "Dense", "Dropout", "Dense"]


def layer_summary(model):
    return [type(layer).__name__ for layer in model.layers], [tuple(layer.output.shape) for layer in model.layers]


def test_scnn_layers_shapes_and_parameters():
    model = get_model("SCNN", (28, 28, 1), 10)
    names, shapes = layer_summary(model)
    assert names == SCNN_LAYERS
    assert shapes == [(None, 26, 26, 32), (None, 24, 24, 64), (None, 12, 12, 64), (None, 12, 12, 64),
                      (None, 9216), (None, 128), (None, 128), (None, 10)]
    assert model.count_params() == 1_199_882
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.25, 0.5]
    assert model.layers[-1].activation is keras.activations.softmax
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)


def test_kcnn_layers_shapes_and_parameters():
    model = get_model("KCNN", (32, 32, 3), 10)
    names, shapes = layer_summary(model)
    assert names == KCNN_LAYERS
    assert shapes == [(None, 32, 32, 32), (None, 32, 32, 32), (None, 16, 16, 32), (None, 16, 16, 32),
                      (None, 16, 16, 64), (None, 16, 16, 64), (None, 8, 8, 64), (None, 8, 8, 64),
                      (None, 4096), (None, 512), (None, 512), (None, 10)]
    assert model.count_params() == 2_168_362
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)


def test_every_weighted_layer_is_he_normal():
    for network, shape in (("SCNN", (28, 28, 1)), ("KCNN", (32, 32, 3))):
        for layer in get_model(network, shape, 10).layers:
            if layer.weights:
                assert type(layer.kernel_initializer).__name__ == "HeNormal"


@pytest.mark.parametrize("name, canonical", [("SCNN", "SCNN"), ("s-cnn", "SCNN"), ("S-CNN", "SCNN"),
                                             ("kcnn", "KCNN"), ("K-CNN", "KCNN"), ("Kcnn", "KCNN")])
def test_network_names_in_any_case(name, canonical):
    assert canonical_network(name) == canonical


def test_unknown_network_is_a_clear_error():
    with pytest.raises(UserError, match="unknown network 'resnet'.*SCNN.*KCNN"):
        get_model("resnet", (28, 28, 1), 10)


def test_features_and_head_are_the_last_dense_layer_and_its_input():
    model = get_model("SCNN", (28, 28, 1), 10)
    x = np.random.default_rng(0).uniform(size=(7, 28, 28, 1)).astype(np.float32)
    (features_a, features_b), kernel, bias = features_and_head(model, x[:3], x[3:])
    assert features_a.shape == (3, 128) and features_b.shape == (4, 128) and kernel.shape == (128, 10)
    assert np.all(features_a >= 0)  # after ReLU, in inference mode
    logits = np.concatenate([features_a, features_b]) @ kernel + bias
    probabilities = model.predict(x, verbose=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(logits)), probabilities, atol=1e-5)
