"""Training speed per Keras backend, with the experiment's own training and query code.

For each installed backend (one subprocess each, KERAS_BACKEND set), it times a faithful MNIST step
(S-CNN, 50 epochs each with the 5,000-image validation pass, then the 10,000-image test set and the ldms
query of a 2,000-image pool, sampling set 2,000) at 20 and at 1,000 labeled samples, and a K-CNN CIFAR-10
step at 2,200 labeled samples with one epoch (its 5,000-image validation pass, test set, ldms query of a
4,000-image pool). Each step is timed whole and per part, as the step log does: the MNIST steps with the
paper's 50 epochs, the K-CNN step with one epoch of a fresh model (building and compiling it included).
Prints a Markdown table.

    python3 bench/bench_training.py --data-dir DIR [--backends tensorflow jax torch]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = (("mnist", 20, 50), ("mnist", 1000, 50), ("cifar10", 2200, 1))  # dataset, labeled, epochs timed
PARTS = ("training", "validation", "test", "query")


def time_step(dataset, n_labeled, n_epoch, loaded, with_query):
    """Return the seconds per part of one step of repetition 0 (seed 0) with ``n_labeled`` class-balanced
    labeled samples and ``n_epoch`` epochs, at the dataset's defaults otherwise, and its test accuracy."""
    import keras
    import numpy as np

    import experiment
    from data import initial_split

    train, test, n_classes = loaded[dataset]
    args = experiment.build_parser(dataset).parse_args(["--nInit", str(n_labeled), "--nEpoch", str(n_epoch)])
    args.network = experiment.models.canonical_network(args.network)
    protocol_rng = np.random.RandomState(0)
    labeled, unlabeled, valid, sampling_set = initial_split(train[1], args.nInit, args.nValid, args.nSample,
                                                            n_classes, protocol_rng)
    keras.utils.set_random_seed(experiment.step_seed(0, 0))
    timings = {}
    model, accuracy = experiment.train_and_test(args, train, test, labeled, valid, n_classes, timings,
                                                np.random.default_rng([0, 0, 1]))
    if with_query:
        protocol_rng.shuffle(unlabeled)
        experiment.query(args, model, train[0], unlabeled[: args.nPool], sampling_set, labeled, 0, 0, timings)
    keras.backend.clear_session(free_memory=True)
    return dict(timings, accuracy=accuracy)


def measure(data_dir):
    """Time every step of STEPS on the backend of this process; return {backend, step name: {part: seconds}}."""
    import backend
    from data import load_dataset

    backend.configure()
    loaded = {name: load_dataset(name, data_dir) for name in ("mnist", "cifar10")}
    result = {"backend": f"{backend.NAME} {backend.framework().__version__}"}
    for dataset, n_labeled, n_epoch in STEPS:
        started = time.perf_counter()
        row = time_step(dataset, n_labeled, n_epoch, loaded, with_query=True)
        result[f"{dataset} {n_labeled}"] = dict(row, step=time.perf_counter() - started)
    return result


def table(results):
    """Return the Markdown table of the measured results, one block of rows per step."""
    lines = ["| step | backend | training | validation | test | query | whole step | per epoch (training + "
             "validation) | test acc |", "|---|---|---|---|---|---|---|---|---|"]
    for dataset, n_labeled, n_epoch in STEPS:
        network = "S-CNN" if dataset == "mnist" else "K-CNN"
        for result in results:
            row = result[f"{dataset} {n_labeled}"]
            seconds = [row["training"], row["validation"], row["test"], row["query"], row["step"]]
            lines.append(f"| {dataset.upper().replace('CIFAR10', 'CIFAR-10')} {network}, {n_labeled:,} labeled, "
                         f"{n_epoch} epoch{'s' * (n_epoch > 1)} | {result['backend']} | "
                         + " | ".join(f"{s:.1f} s" for s in seconds)
                         + f" | {(row['training'] + row['validation']) / n_epoch:.2f} s | {row['accuracy']:.4f} |")
    return "\n".join(lines)


def main(argv=None):
    """Measure every backend asked for in its own process and print the table."""
    import backend

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("LDMS_DATA_DIR"), help="folder with the datasets")
    parser.add_argument("--backends", nargs="+", default=backend.installed_backends(), help="backends to time")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # a subprocess's own backend
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.data_dir)))
        return 0
    results = []
    for name in args.backends:
        started = time.perf_counter()
        data_dir = ["--data-dir", args.data_dir] if args.data_dir else []
        process = subprocess.run([sys.executable, __file__, "--measure", *data_dir],
                                 env=dict(os.environ, KERAS_BACKEND=name), capture_output=True, text=True)
        if process.returncode != 0:
            print(f"{name} failed:\n{process.stderr[-3000:]}", file=sys.stderr)
            return 1
        results.append(json.loads(process.stdout.splitlines()[-1]))
        print(f"{name}: measured in {time.perf_counter() - started:.0f} s: {process.stdout.splitlines()[-1]}",
              file=sys.stderr, flush=True)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
