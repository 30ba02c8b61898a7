"""A tiny dataset whose images carry their own index, and a one-layer model to run the experiment on it.

Pixel 0 of training image i is (i + 1) / 1024 and of test image j is (n_train + j + 1) / 1024 (exact in float32),
so any array of these images, or of the features a Flatten layer makes of them, says which images it holds.
"""
import keras
import numpy as np

SCALE = 1024


def coded_dataset(n_train, n_test, n_classes):
    """Return ((X, y), (X_test, y_test), n_classes) as data.load_dataset does: 2x2x1 images whose pixel 0 codes
    the index (test images after the training ones), the other pixels noise; label i % n_classes."""
    codes = np.arange(1, n_train + n_test + 1) / SCALE
    images = np.random.default_rng(0).uniform(size=(len(codes), 2, 2, 1))
    images[:, 0, 0, 0] = codes
    images = images.astype(np.float32)
    labels = np.arange(n_train + n_test) % n_classes
    return (images[:n_train], labels[:n_train]), (images[n_train:], labels[n_train:]), n_classes


def image_indices(images):
    """Return the indices coded in ``images`` (or in their flattened features): test image j is n_train + j."""
    return np.rint(np.asarray(images).reshape(len(images), -1)[:, 0] * SCALE).astype(np.int64) - 1


def one_layer_model(network, input_shape, n_classes):
    """Return a compiled Flatten - Dense softmax model (its features are the images' pixels), run eagerly."""
    model = keras.Sequential([keras.Input(shape=input_shape), keras.layers.Flatten(),
                              keras.layers.Dense(n_classes, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  run_eagerly=True)
    return model


def run_experiment(monkeypatch, dataset, get_model, out, *flags):
    """Run repetition 1 of run_mnist.py's experiment (seed 0) in this process on ``dataset`` with the models of
    ``get_model`` and ``flags``; return its saved state (checkpoint.load_state)."""
    import experiment
    import models
    from checkpoint import load_state

    monkeypatch.setattr(experiment, "load_dataset", lambda name, data_dir=None: dataset)
    monkeypatch.setattr(models, "get_model", get_model)
    experiment.run(experiment.build_parser("mnist").parse_args(["--nRep", "1", "--out", str(out), *flags]))
    (folder,) = out.iterdir()
    return load_state(folder / "state_001.npz")
