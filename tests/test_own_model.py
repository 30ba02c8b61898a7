"""LDM-S on a user's own classifier: Sequential, functional (two inputs, or the head inside a nested model) and
subclassed models give the features and last-layer weights taken out by hand; a model LDM cannot use gets one
clear error."""
import keras
import numpy as np
import pytest

from ldm import select_ldms
from models import features_and_head, query_ldms

RNG = np.random.default_rng(7)
X_POOL = RNG.normal(size=(60, 5)).astype("float32")
X_SAMPLE = RNG.normal(size=(40, 5)).astype("float32")


def relu_dense(x, layer):
    """What a Dense relu layer computes, by hand."""
    kernel, bias = layer.get_weights()
    return np.maximum(x @ kernel + bias, 0)


def sequential():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    return model, lambda x: relu_dense(x, model.layers[0])


def functional_with_two_inputs():
    keras.utils.set_random_seed(2)
    left, right = keras.Input((2,)), keras.Input((3,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(keras.layers.Concatenate()([left, right]))
    model = keras.Model([left, right], keras.layers.Dense(3, activation="softmax")(hidden))
    return model, lambda x: relu_dense(np.concatenate(x, axis=1), model.get_layer("hidden"))


def head_in_a_nested_model():
    keras.utils.set_random_seed(3)
    head = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")], name="head")
    inputs = keras.Input((5,))
    model = keras.Model(inputs, head(keras.layers.Dense(8, activation="relu", name="hidden")(inputs)))
    return model, lambda x: relu_dense(x, model.get_layer("hidden"))


class Subclassed(keras.Model):
    """A classifier written as a subclass: no graph to cut, the output layer last among its layers."""

    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.out = keras.layers.Dense(3, activation="softmax")

    def call(self, x, training=False):
        return self.out(self.hidden(x) * 2.0)  # the head sees twice the hidden layer's output


def subclassed():
    keras.utils.set_random_seed(4)
    model = Subclassed()
    model(X_POOL[:1])  # builds it
    return model, lambda x: 2.0 * relu_dense(x, model.hidden)


def split_inputs(x, model):
    """The model's inputs for the rows of ``x``: two arrays for the two-input model."""
    return [x[:, :2], x[:, 2:]] if len(getattr(model, "inputs", None) or []) == 2 else x


@pytest.mark.parametrize("build", [sequential, functional_with_two_inputs, head_in_a_nested_model, subclassed])
def test_features_and_head_weights_are_those_taken_out_by_hand(build):
    model, hidden_by_hand = build()
    pool, sample = split_inputs(X_POOL, model), split_inputs(X_SAMPLE, model)
    (features_pool, features_sample), kernel, bias = features_and_head(model, pool, sample, batch_size=16)
    np.testing.assert_allclose(features_pool, hidden_by_hand(pool), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(features_sample, hidden_by_hand(sample), rtol=1e-5, atol=1e-6)
    last = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dense)][-1]
    assert kernel.shape == (8, 3) and bias.shape == (3,)
    np.testing.assert_array_equal(kernel, last.get_weights()[0])
    np.testing.assert_array_equal(bias, last.get_weights()[1])
    # the whole query is LDM-S on those features: the same picks as the array maths on the hand-made features
    picked = query_ldms(model, pool, sample, 5, rng=np.random.default_rng(0))
    by_hand = select_ldms(hidden_by_hand(pool), hidden_by_hand(sample), kernel, bias, 5, rng=np.random.default_rng(0))
    assert len(set(picked.tolist())) == 5 and sorted(picked.tolist()) == sorted(np.asarray(by_hand).tolist())
    assert "call" not in vars(last)  # the head's own call is back


@pytest.mark.parametrize("layers_, message", [
    ([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, use_bias=False)], "Dense layer with bias"),
    ([keras.layers.Reshape((5, 1)), keras.layers.Conv1D(3, 5), keras.layers.Flatten()], "got conv1d"),
])
def test_a_model_ldm_cannot_use_gets_one_clear_error(layers_, message):
    model = keras.Sequential([keras.Input((5,)), *layers_])
    with pytest.raises(ValueError, match=message):
        query_ldms(model, X_POOL, X_SAMPLE, 5, rng=np.random.default_rng(0))


def test_an_unbuilt_model_is_asked_to_be_built_first():
    model = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="build or train it first"):
        query_ldms(model, X_POOL, X_SAMPLE, 5, rng=np.random.default_rng(0))
