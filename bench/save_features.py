"""Train an S-CNN on MNIST and a K-CNN on CIFAR-10 for a few epochs and save what the LDM estimator
needs of them: pool and sampling-set penultimate features, last-layer kernel and bias.

    python3 bench/save_features.py --data-dir DIR        # writes results/features/{mnist,cifar10}.npz

bench/bench_ldms.py --real reads them, to measure the estimator on real features (far more
concentrated than the synthetic ones, possibly). The files are results, never committed.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import backend  # noqa: E402
import data  # noqa: E402
import models  # noqa: E402

SETUPS = {  # dataset: (network, labeled samples, epochs, batch size, pool, sampling set)
    "mnist": ("SCNN", 1_000, 3, 32, 2_000, 2_000),
    "cifar10": ("KCNN", 5_000, 5, 64, 4_000, 4_000),
}


def save_features(dataset, data_dir, out_dir, seed):
    """Train the dataset's network and write {out_dir}/{dataset}.npz; return the file's path."""
    backend.configure()  # a run's settings: deterministic ops, full float32
    network, n_labeled, epochs, batch_size, n_pool, n_sample = SETUPS[dataset]
    (x_train, y_train), _, n_classes = data.load_dataset(dataset, data_dir)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_train))
    labeled, pool = order[:n_labeled], order[n_labeled : n_labeled + n_pool]
    sample = rng.permutation(len(x_train))[:n_sample]  # like the protocol: drawn from the whole training set
    model = models.get_model(network, x_train.shape[1:], n_classes)
    started = time.perf_counter()
    model.fit(x_train[labeled], y_train[labeled], epochs=epochs, batch_size=batch_size, verbose=2)
    (features_pool, features_sample), kernel, bias = models.features_and_head(model, x_train[pool], x_train[sample])
    path = Path(out_dir) / f"{dataset}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, features_pool=features_pool, features_sample=features_sample, kernel=kernel, bias=bias)
    print(f"{dataset}: {network} on {n_labeled} labels, {epochs} epochs, {time.perf_counter() - started:.0f} s; "
          f"features {features_pool.shape} / {features_sample.shape} -> {path}", file=sys.stderr)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder with mnist.npz and cifar-10-python.tar.gz")
    parser.add_argument("--out", default=str(ROOT / "results" / "features"))
    parser.add_argument("--datasets", nargs="+", choices=list(SETUPS), default=list(SETUPS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for dataset in args.datasets:
        save_features(dataset, args.data_dir, args.out, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
