"""Small copies of the datasets for the GPU machine, which gets at most 64 MiB of files and no datasets of its own.

    python3 bench/gpu_data.py --data-dir DIR --out .gpu

Writes into --out:
- ``mnist.npz`` in Keras' format: the first 20,000 training images and the full test set (about 6 MB),
  enough for the S-CNN step timings (up to 1,000 labeled + 5,000 validation) and a tiny end-to-end run;
- ``cifar_epochs.npz``: for each seed, the protocol's class-balanced split with 2,200 labeled and 1,000
  validation images (bench/cifar_epochs.py --subset), and the first 5,000 test images (about 35 MB).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from data import initial_split, load_dataset  # noqa: E402


def to_uint8(images):
    """Return [0, 1] float images as the uint8 pixels they were scaled from."""
    return np.round(images * 255).astype(np.uint8)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", default=".gpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--nLabeled", type=int, default=2200)
    parser.add_argument("--nValid", type=int, default=1000)
    parser.add_argument("--nTest", type=int, default=5000)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with np.load(Path(args.data_dir) / "mnist.npz") as mnist:
        np.savez_compressed(out / "mnist.npz", x_train=mnist["x_train"][:20000], y_train=mnist["y_train"][:20000],
                            x_test=mnist["x_test"], y_test=mnist["y_test"])
    (X, y), (X_test, y_test), n_classes = load_dataset("cifar10", args.data_dir)
    arrays = {"x_test": to_uint8(X_test[: args.nTest]), "y_test": y_test[: args.nTest]}
    for seed in args.seeds:
        labeled, _, valid, _ = initial_split(y, args.nLabeled, args.nValid, 1, n_classes, np.random.RandomState(seed))
        arrays.update({f"x_labeled_{seed}": to_uint8(X[labeled]), f"y_labeled_{seed}": y[labeled],
                       f"x_valid_{seed}": to_uint8(X[valid]), f"y_valid_{seed}": y[valid]})
    np.savez_compressed(out / "cifar_epochs.npz", **arrays)
    for file in sorted(out.iterdir()):
        print(f"{file}: {file.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
