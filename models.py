"""The paper's two networks (docs/algorithm.md section 4), the model queries that LDM needs, and ``query_ldms``: LDM-S
on any Keras classifier."""

import keras
import numpy as np
from keras import layers

from errors import UserError
from ldm import select_ldms
from optimizers import original_optimizer
from strategies import PoolArrays
from utils import timed

NETWORKS = ("SCNN", "KCNN")
FEATURE_BATCH = 1024  # batch size for inference (features, validation, test): large, since no gradient is kept


def canonical_network(name):
    """Return 'SCNN' or 'KCNN' for any spelling such as 's-cnn' or 'KCNN'; UserError otherwise."""
    key = str(name).upper().replace("-", "").replace("_", "")
    if key not in NETWORKS:
        raise UserError(f"unknown network {name!r}: choose one of SCNN (S-CNN) or KCNN (K-CNN)")
    return key


def _dense_head(units, n_classes):
    """Return the classifier head both networks share: Flatten, Dense relu, Dropout 0.5, Dense softmax."""
    return [
        layers.Flatten(),
        layers.Dense(units, activation="relu", kernel_initializer="he_normal"),
        layers.Dropout(0.5),
        layers.Dense(n_classes, activation="softmax", kernel_initializer="he_normal"),
    ]


def scnn(input_shape, n_classes):
    """Return the uncompiled S-CNN of the MNIST experiments (1,199,882 parameters for 28x28x1, 10 classes)."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, 3, activation="relu", kernel_initializer="he_normal"),
            layers.Conv2D(64, 3, activation="relu", kernel_initializer="he_normal"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.25),
            *_dense_head(128, n_classes),
        ],
        name="SCNN",
    )


def kcnn(input_shape, n_classes):
    """Return the uncompiled K-CNN of the CIFAR-10 experiments (2,168,362 parameters for 32x32x3, 10 classes)."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer="he_normal"),
            layers.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer="he_normal"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.25),
            layers.Conv2D(64, 3, padding="same", activation="relu", kernel_initializer="he_normal"),
            layers.Conv2D(64, 3, padding="same", activation="relu", kernel_initializer="he_normal"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.25),
            *_dense_head(512, n_classes),
        ],
        name="KCNN",
    )


def get_model(network, input_shape, n_classes):
    """Return a freshly initialised S-CNN (Adam 1e-3) or K-CNN (RMSprop 1e-4, Keras 2.3.1's update rule),
    compiled with sparse categorical cross-entropy and accuracy."""
    network = canonical_network(network)
    model = (scnn if network == "SCNN" else kcnn)(input_shape, n_classes)
    model.compile(optimizer=original_optimizer(network), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _leaf_layers(model):
    """Return the layers of ``model`` in order, a nested model's layers in its place."""
    return [leaf for layer in model.layers
            for leaf in (_leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])]


def _head(model):
    """Return the model's last layer with weights (nested models searched), which must be a Dense layer with bias;
    ValueError saying what LDM needs otherwise."""
    weighted = [layer for layer in _leaf_layers(model) if layer.weights]
    if not weighted:
        raise ValueError(f"LDM needs a built model whose last layer with weights is a Dense layer with bias; "
                         f"{model.name} has no weights yet: build or train it first")
    head = weighted[-1]
    if not isinstance(head, layers.Dense) or not head.use_bias:
        raise ValueError(f"LDM needs the last layer with weights to be a Dense layer with bias (the classifier's "
                         f"output layer), got {head.name} ({type(head).__name__}) in {model.name}")
    return head


def _forward(model, arrays, batch_size):
    """Return ([penultimate features of each array], [model output of each array]) from one batched pass in
    inference mode; an array may be a list or dict of arrays for a model with several inputs."""
    head = _head(model)
    joined = keras.tree.map_structure(lambda *parts: np.concatenate(parts), *arrays)
    if head in model.layers and getattr(model, "inputs", None):  # a graph to cut at the head: one compiled pass
        extractor = keras.Model(model.inputs, [head.input, model.outputs[0]])
        features, outputs = extractor.predict(joined, batch_size=batch_size, verbose=0)
    else:  # subclassed, or the head inside a nested model: record the head's input on eager batches
        features, outputs = _recorded_forward(model, head, joined, batch_size)
    bounds = np.cumsum([len(keras.tree.flatten(a)[0]) for a in arrays])[:-1]
    return np.split(features, bounds), np.split(outputs, bounds)


def _recorded_forward(model, head, inputs, batch_size):
    """Return (the inputs ``head`` received, the model's outputs) for ``inputs`` in batches, the model called in
    inference mode with the head's ``call`` wrapped to keep what it is given."""
    received, outputs = [], []
    head_call = head.call

    def recording_call(features, *args, **kwargs):
        received.append(keras.ops.convert_to_numpy(features))
        return head_call(features, *args, **kwargs)

    head.call = recording_call
    try:
        n_samples = len(keras.tree.flatten(inputs)[0])
        for start in range(0, n_samples, batch_size):
            batch = keras.tree.map_structure(lambda array: array[start : start + batch_size], inputs)
            outputs.append(keras.ops.convert_to_numpy(model(batch, training=False)))
    finally:
        del head.call  # the class's own call again
    if len(received) != len(outputs):
        raise ValueError(f"LDM needs the last Dense layer {head.name} to be called once per forward pass of "
                         f"{model.name}, it was called {len(received)} times in {len(outputs)} passes")
    return np.concatenate(received), np.concatenate(outputs)


def features_and_head(model, *arrays, batch_size=FEATURE_BATCH):
    """Return ([penultimate features of each array], kernel, bias) of the model's last Dense layer.

    The features are that layer's input in inference mode (dropout off), computed in one batched
    forward pass over all arrays together.
    """
    features, _ = _forward(model, arrays, batch_size)
    kernel, bias = _head(model).get_weights()
    return features, kernel, bias


def pool_arrays(model, needs, X, pool, sample=(), labeled=(), n_mc=20, batch_size=FEATURE_BATCH):
    """Return a strategies.PoolArrays with the fields in ``needs``, for the images X[pool] (and X[sample],
    X[labeled] where needed: only those are gathered), asking the model once: one batched inference pass,
    and ``n_mc`` passes over the pool with dropout on for 'mc_probabilities'."""
    X_pool = X[pool]
    arrays = PoolArrays(n_pool=len(X_pool))
    inputs = [X_pool] + [X[indices] for indices, field in ((sample, "features_sample"), (labeled, "features_labeled"))
                         if field in needs]
    if needs - {"mc_probabilities"}:
        features, probabilities = _forward(model, inputs, batch_size)
        arrays.features, arrays.probabilities = features[0], probabilities[0]
        rest = iter(features[1:])
        arrays.features_sample = next(rest) if "features_sample" in needs else None
        arrays.features_labeled = next(rest) if "features_labeled" in needs else None
        arrays.kernel, arrays.bias = _head(model).get_weights()
    if "mc_probabilities" in needs:
        arrays.mc_probabilities = np.stack([
            np.concatenate([keras.ops.convert_to_numpy(model(X_pool[start : start + batch_size], training=True))
                            for start in range(0, len(X_pool), batch_size)])
            for _ in range(n_mc)])
    return arrays


def query_ldms(model, X_pool, X_sample, n_query, *, rng, xp=None, timings=None, progress=None):
    """Return the positions into ``X_pool`` (NumPy int64 array) of the ``n_query`` samples LDM-S picks.

    ``model`` is any built Keras classifier (Sequential, functional or subclassed) whose last layer with
    weights is a Dense layer with bias, its output layer; it may sit inside a nested model. ``X_pool`` and
    ``X_sample`` are what the model takes as input (an array, or a list or dict of arrays for several inputs).
    The model is asked once for the penultimate features of pool and sampling set and for that layer's weights;
    everything after that is array maths (``ldm.select_ldms``, which takes ``xp``, ``timings`` and
    ``progress``). ValueError saying what is needed for a model without such a layer.
    """
    timings = {} if timings is None else timings
    with timed(timings, "features"):
        (features_pool, features_sample), kernel, bias = features_and_head(model, X_pool, X_sample)
    return select_ldms(features_pool, features_sample, kernel, bias, n_query, rng=rng, xp=xp, timings=timings,
                       progress=progress)
