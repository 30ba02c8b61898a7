"""Time one faithful experiment step per part, as the step log does: S-CNN on MNIST at 20 and 1,000 labeled
(50 epochs) and K-CNN on CIFAR-10 at 200 and 2,200 labeled (150 epochs), each with the 5,000-image
validation pass, the test set and the LDM-S query (features, estimation, seeding) of the run scripts.

    python3 bench/gpu_train.py --data-dir DIR
    python3 bench/gpu_train.py --data-dir .gpu --mnist-epochs 1 --cifar-epochs 1      # a quick smoke test

The K-CNN steps train on random arrays of CIFAR-10's shape and dtype (the time does not depend on the
pixels; the GPU machine gets too little room for the real training set); MNIST is read from --data-dir.
Prints a Markdown table of seconds, one row per step, as each finishes.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
import backend  # noqa: E402
import keras  # noqa: E402

from bench_training import time_step  # noqa: E402
from data import load_dataset  # noqa: E402

PARTS = ("training", "validation", "test", "features", "estimation", "seeding")


def cifar_shaped(n_train, n_test, seed=0):
    """Return ((X, y), (X_test, y_test)) of random images scaled like CIFAR-10's, and labels 0..9."""
    rng = np.random.default_rng(seed)

    def images(n):
        return (rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8).astype(np.float32) / 255.0,
                rng.integers(0, 10, size=n))
    return images(n_train), images(n_test)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder with mnist.npz")
    parser.add_argument("--mnist-epochs", type=int, default=50)
    parser.add_argument("--cifar-epochs", type=int, default=150)
    args = parser.parse_args()
    backend.configure()  # a run's settings: deterministic ops, full float32
    print(f"Keras {keras.__version__}, backend {keras.backend.backend()}\n")
    print("| step | epochs | " + " | ".join(PARTS) + " | total s | test accuracy |")
    print("|---" * (len(PARTS) + 4) + "|")
    loaded = {"mnist": load_dataset("mnist", args.data_dir),
              "cifar10": (*cifar_shaped(2200 + 5000 + 4000 + 4000, 10000), 10)}
    for dataset, network, n_labeled, epochs in (("mnist", "S-CNN", 20, args.mnist_epochs),
                                                ("mnist", "S-CNN", 1000, args.mnist_epochs),
                                                ("cifar10", "K-CNN", 200, args.cifar_epochs),
                                                ("cifar10", "K-CNN", 2200, args.cifar_epochs)):
        started = time.perf_counter()
        timings = time_step(dataset, n_labeled, epochs, loaded, with_query=True)
        total = time.perf_counter() - started
        print(f"| {network}, {n_labeled} labeled | {epochs} | "
              + " | ".join(f"{timings.get(part, 0.0):.1f}" for part in PARTS) + f" | {total:.1f} | {timings['accuracy']:.4f} |",
              flush=True)


if __name__ == "__main__":
    main()
