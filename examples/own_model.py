"""LDM-S on your own Keras model: scikit-learn's handwritten digits (8x8 images, shipped with scikit-learn, no
download), a small classifier of your own, and a few active learning rounds of LDM-S against random sampling.

    python3 examples/own_model.py                  # 5 rounds of 20 queries, under 2 minutes of CPU time
    python3 examples/own_model.py --rounds 1 --epochs 5

Everything LDM-S needs from the model is one call, ``query_ldms(model, X_pool, X_sample, n_query, rng=...)``.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project's modules, from any folder

import quiet  # noqa: E402

quiet.filter_stderr()  # optional: drops the frameworks' start-up notices before Keras loads
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import backend  # noqa: E402
import keras  # noqa: E402
from models import query_ldms  # noqa: E402


def my_model(n_features, n_classes):
    """Return your own compiled classifier: any Keras model whose last layer with weights is a Dense with bias."""
    model = keras.Sequential([
        keras.Input(shape=(n_features,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(n_classes, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def train_and_test(X, y, labeled, test, epochs, seed):
    """Return (a model trained from scratch on X[labeled], its accuracy on the test set)."""
    keras.backend.clear_session()  # free the previous models
    keras.utils.set_random_seed(seed)  # both strategies train their models from the same initial weights
    model = my_model(X.shape[1], 10)
    model.fit(X[labeled], y[labeled], epochs=epochs, batch_size=16, verbose=0)
    _, accuracy = model.evaluate(*test, verbose=0)
    return model, accuracy


def main(argv=None):
    """Run the rounds and print the test accuracy of LDM-S and random after each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="query rounds")
    parser.add_argument("--epochs", type=int, default=60, help="training epochs of every model")
    parser.add_argument("--initial", type=int, default=20, help="initial labeled samples, drawn at random")
    parser.add_argument("--query", type=int, default=20, help="samples queried per round")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    backend.configure()  # optional: deterministic ops and full float32, as the project's runs have them

    digits = load_digits()
    X, y = (digits.data / 16).astype(np.float32), digits.target
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=args.seed)
    rng = np.random.default_rng(args.seed)
    initial = rng.choice(len(X_train), args.initial, replace=False)
    labeled = {"LDM-S": initial, "random": initial}
    print(f"digits: {len(X_train)} training images (the pool), {len(X_test)} test images; "
          f"{args.initial} labeled at first, {args.query} queried per round")
    for round_ in range(args.rounds + 1):
        accuracies = {}
        for name, chosen in labeled.items():
            model, accuracies[name] = train_and_test(X_train, y_train, chosen, (X_test, y_test), args.epochs,
                                                     args.seed + round_)
            if round_ == args.rounds:
                continue
            unlabeled = np.setdiff1d(np.arange(len(X_train)), chosen)
            if name == "LDM-S":
                sample = rng.choice(len(X_train), 500, replace=False)  # the sampling set: any data, no labels needed
                picked = unlabeled[query_ldms(model, X_train[unlabeled], X_train[sample], args.query, rng=rng,
                                              progress=False)]
            else:
                picked = rng.choice(unlabeled, args.query, replace=False)
            labeled[name] = np.concatenate([chosen, picked])
        print(f"round {round_}: {args.initial + round_ * args.query} labeled | test accuracy "
              + " | ".join(f"{name} {accuracy:.3f}" for name, accuracy in accuracies.items()), flush=True)


if __name__ == "__main__":
    main()
