"""The paper's two networks (docs/algorithm.md section 4), the model queries that LDM needs, and ``query_ldms``: LDM-S
on any Keras classifier."""
import time

import backend  # noqa: F401  first: picks and configures the Keras backend before Keras loads
import keras
import numpy as np
from keras import layers

from errors import UserError
from ldm import select_ldms
from optimizers import original_optimizer
from strategies import PoolArrays

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


def _head(model):
    """Return the model's last layer with weights, which must be a Dense layer with bias."""
    head = [layer for layer in model.layers if layer.weights][-1]
    if not isinstance(head, layers.Dense) or not head.use_bias:
        raise ValueError(f"LDM needs the last weighted layer to be a Dense layer with bias, got {head.name}")
    return head


def _forward(model, arrays, batch_size):
    """Return ([penultimate features of each array], [softmax of each array]) from one batched pass."""
    extractor = keras.Model(model.inputs, [_head(model).input, model.outputs[0]])
    features, probabilities = extractor.predict(np.concatenate(arrays), batch_size=batch_size, verbose=0)
    bounds = np.cumsum([len(a) for a in arrays])[:-1]
    return np.split(features, bounds), np.split(probabilities, bounds)


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

    ``model`` is any Keras classifier whose last weighted layer is a Dense layer with bias. It is asked
    once for the penultimate features of pool and sampling set and for that layer's weights; everything
    after that is array maths (``ldm.select_ldms``, which takes ``xp``, ``timings`` and ``progress``).
    """
    timings = {} if timings is None else timings
    started = time.perf_counter()
    (features_pool, features_sample), kernel, bias = features_and_head(model, X_pool, X_sample)
    timings["features"] = timings.get("features", 0.0) + time.perf_counter() - started
    return select_ldms(features_pool, features_sample, kernel, bias, n_query, rng=rng, xp=xp, timings=timings,
                       progress=progress)
