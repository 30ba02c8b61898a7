"""Test accuracy of K-CNN on CIFAR-10 against training epochs, for one step at a given labeled count.

    python3 bench/cifar_epochs.py --data-dir DIR                # 2,200 labeled, up to 150 epochs
    python3 bench/cifar_epochs.py --epochs 15 30 50 150 --nValid 1000 --seeds 0 1
    python3 bench/cifar_epochs.py --subset .gpu/cifar_epochs.npz --seeds 0 1   # the copy bench/gpu_data.py made

One training run per seed up to the largest epoch count: the weights of the best validation accuracy so far
(strictly better replaces, as the experiment keeps them) are tested at each listed epoch count, which is
exactly what a run of that many epochs would report, since nothing in training depends on its length.
The labeled and validation sets are the protocol's class-balanced initial split (docs/algorithm.md section 1) with
nInit set to the labeled count (with --subset, the same sets saved by bench/gpu_data.py, and its
test images). Prints a Markdown table: epochs, test accuracy per seed, mean, minutes.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import backend  # noqa: E402
import keras  # noqa: E402
import models  # noqa: E402

from data import initial_split, load_dataset  # noqa: E402


class TestAtEpochs(keras.callbacks.Callback):
    """Keeps the weights of the best validation accuracy and tests them at the listed epoch counts."""

    def __init__(self, epochs, test):
        super().__init__()
        self.epochs, self.test = set(epochs), test
        self.best, self.best_weights, self.results, self.started = -np.inf, None, {}, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs["val_accuracy"] > self.best:
            self.best, self.best_weights = logs["val_accuracy"], self.model.get_weights()
        if epoch + 1 in self.epochs:
            current = self.model.get_weights()
            self.model.set_weights(self.best_weights)
            _, accuracy = self.model.evaluate(*self.test, batch_size=models.FEATURE_BATCH, verbose=0)
            self.model.set_weights(current)
            self.results[epoch + 1] = (float(accuracy), (time.perf_counter() - self.started) / 60)
            print(f"epoch {epoch + 1}: test accuracy {accuracy:.4f} (best validation {self.best:.4f}), "
                  f"{self.results[epoch + 1][1]:.1f} min", flush=True)


def dataset_sets(args):
    """Return (test set, split) where split(seed) gives the labeled and validation sets of the full CIFAR-10."""
    (X, y), test, n_classes = load_dataset("cifar10", args.data_dir)

    def split(seed):
        labeled, _, valid, _ = initial_split(y, args.nLabeled, args.nValid, 1, n_classes, np.random.RandomState(seed))
        return (X[labeled], y[labeled]), (X[valid], y[valid])
    return test, split


def subset_sets(args):
    """Return (test set, split) read from the npz of bench/gpu_data.py (pixels scaled to [0, 1])."""
    arrays = np.load(args.subset)

    def images(name):
        return arrays[f"x_{name}"].astype(np.float32) / 255.0, arrays[f"y_{name}"]
    return images("test"), lambda seed: (images(f"labeled_{seed}"), images(f"valid_{seed}"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, nargs="+", default=[15, 30, 50, 150])
    parser.add_argument("--nLabeled", type=int, default=2200)
    parser.add_argument("--nValid", type=int, default=1000)
    parser.add_argument("--nBatch", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--subset", help="read the sets from this npz (bench/gpu_data.py) instead")
    backend.configure()  # a run's settings: deterministic ops, full float32
    args = parser.parse_args()
    sets = subset_sets if args.subset else dataset_sets
    test, split = sets(args)
    table = {}
    for seed in args.seeds:
        (X_labeled, y_labeled), valid = split(seed)
        keras.utils.set_random_seed(seed)
        model = models.get_model("KCNN", X_labeled.shape[1:], 10)
        tester = TestAtEpochs(args.epochs, test)
        model.fit(X_labeled, y_labeled, batch_size=args.nBatch, epochs=max(args.epochs), verbose=0,
                  validation_data=valid, validation_batch_size=models.FEATURE_BATCH, callbacks=[tester])
        table[seed] = tester.results
    print(f"\nK-CNN, {len(X_labeled)} labeled, {len(valid[0])} validation, {len(test[0])} test images, batch "
          f"{args.nBatch}, Keras backend {keras.backend.backend()}\n")
    print("| epochs | " + " | ".join(f"test accuracy, seed {s}" for s in args.seeds) + " | mean | minutes (seed "
          f"{args.seeds[0]}) |")
    print("|---" * (len(args.seeds) + 3) + "|")
    for epochs in sorted(args.epochs):
        accuracies = [table[s][epochs][0] for s in args.seeds]
        print(f"| {epochs} | " + " | ".join(f"{a:.4f}" for a in accuracies)
              + f" | {np.mean(accuracies):.4f} | {table[args.seeds[0]][epochs][1]:.1f} |")


if __name__ == "__main__":
    main()
