"""Datasets (MNIST, CIFAR-10) scaled to [0, 1], and the protocol's initial split (docs/algorithm.md section 1)."""
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from errors import UserError

DATASETS = {  # name: (image shape, number of classes)
    "mnist": ((28, 28, 1), 10),
    "cifar10": ((32, 32, 3), 10),
}
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
KERAS_CACHE = {"mnist": ("mnist.npz",),  # what keras.datasets keeps in its cache folder
               "cifar10": ("cifar-10-batches-py-target_archive", "cifar-10-batches-py-target")}
OFFLINE_FILES = {"mnist": "DIR/mnist.npz", "cifar10": "DIR/cifar-10-python.tar.gz or DIR/cifar-10-batches-py/"}


def load_dataset(name, data_dir=None):
    """Return ((X_train, y_train), (X_test, y_test), n_classes).

    X is float32 of shape (n, height, width, channels) with pixels divided by 255; y is a flat int64
    vector. Without ``data_dir`` (or LDMS_DATA_DIR) the Keras loaders download and cache the data;
    with it, ``mnist.npz`` or ``cifar-10-batches-py/`` / ``cifar-10-python.tar.gz`` are read from there.
    """
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    data_dir = data_dir or os.environ.get("LDMS_DATA_DIR")
    if data_dir is None:
        (x_train, y_train), (x_test, y_test) = _download(name)
        source = f"keras.datasets.{name}"
    elif name == "mnist":
        (x_train, y_train), (x_test, y_test) = _read_mnist_npz(Path(data_dir) / "mnist.npz")
        source = str(Path(data_dir) / "mnist.npz")
    else:
        (x_train, y_train), (x_test, y_test), source = _read_cifar10(Path(data_dir))
    shape, n_classes = DATASETS[name]
    train = _scaled(x_train, y_train, shape, n_classes, source, "train")
    test = _scaled(x_test, y_test, shape, n_classes, source, "test")
    return train, test, n_classes


def _download(name):
    """Return Keras' ((x_train, y_train), (x_test, y_test)) of ``name``, downloaded once into the Keras cache;
    UserError naming what failed, a cached file that was there, and the way to run offline."""
    import keras

    cache = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"
    cached = [str(cache / entry) for entry in KERAS_CACHE[name] if (cache / entry).exists()]  # Keras may remove it
    try:
        return getattr(keras.datasets, name).load_data()
    except Exception as error:  # Keras raises a bare Exception for a failed download, others for a bad cached file
        cause = " ".join(str(error).split()) or type(error).__name__
        held = f"; the Keras cache held {' and '.join(cached)}, truncated or corrupt" if cached else ""
        raise UserError(f"could not fetch {name} with keras.datasets ({cause}){held}; to run without the download, "
                        f"pass --data-dir DIR (or set LDMS_DATA_DIR=DIR) with {OFFLINE_FILES[name]}") from None


def _scaled(x, y, shape, n_classes, source, part):
    x, y = np.asarray(x), np.asarray(y)
    found = f"got images {x.shape} and labels {y.shape}"
    y = y.reshape(-1)
    if x.ndim == len(shape):
        x = x[..., None]  # MNIST comes without a channel axis
    if x.shape[1:] != shape or len(x) != len(y) or len(x) == 0:
        raise UserError(f"{source}: expected {part} images of shape (n, {', '.join(map(str, shape))}) "
                        f"or (n, {', '.join(map(str, shape[:2]))}) with n labels, {found}")
    if y.min() < 0 or y.max() >= n_classes:
        raise UserError(f"{source}: {part} labels must be 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    return (x.astype(np.float32) / 255.0, y.astype(np.int64))


def _read_mnist_npz(path):
    if not path.is_file():
        raise UserError(f"{path}: file not found (expected Keras' mnist.npz with x_train, y_train, x_test, y_test)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(npz.files)
            if missing:
                raise UserError(f"{path}: missing arrays {', '.join(sorted(missing))} "
                                "(expected x_train, y_train, x_test, y_test)")
            return (npz["x_train"], npz["y_train"]), (npz["x_test"], npz["y_test"])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise UserError(f"{path}: not a readable npz file ({error}); expected Keras' mnist.npz") from None


class _ArraysOnly(pickle.Unpickler):
    """Unpickles the CIFAR-10 batches (dicts, lists and NumPy arrays) and refuses anything else."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(file, source):
    try:
        batch = _ArraysOnly(file, encoding="latin1").load()
        images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return images, np.asarray(batch["labels"], dtype=np.int64)
    except Exception as error:  # truncated, not a pickle, wrong keys or sizes: all are a bad file
        raise UserError(f"{source}: not a CIFAR-10 python batch ({type(error).__name__}: {error}); "
                        "expected a pickled dict with 'data' (n x 3072 uint8) and 'labels'") from None


def _read_cifar10(data_dir):
    folder, archive = data_dir / CIFAR_FOLDER, data_dir / "cifar-10-python.tar.gz"
    names = CIFAR_TRAIN_BATCHES + (CIFAR_TEST_BATCH,)
    if folder.is_dir():
        batches = {}
        for name in names:
            if not (folder / name).is_file():
                raise UserError(f"{folder / name}: file not found (expected the official CIFAR-10 python batches)")
            with open(folder / name, "rb") as file:
                batches[name] = _read_cifar_batch(file, folder / name)
        source = str(folder)
    elif archive.is_file():
        batches = {}
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for name in names:
                    try:
                        file = tar.extractfile(f"{CIFAR_FOLDER}/{name}")
                    except KeyError:
                        file = None
                    if file is None:
                        raise UserError(f"{archive}: has no {CIFAR_FOLDER}/{name} (expected the official archive)")
                    batches[name] = _read_cifar_batch(file, f"{archive}:{CIFAR_FOLDER}/{name}")
        except (tarfile.TarError, OSError, EOFError) as error:
            raise UserError(f"{archive}: not a readable tar.gz archive ({error})") from None
        source = str(archive)
    else:
        raise UserError(f"{data_dir}: found neither {CIFAR_FOLDER}/ nor cifar-10-python.tar.gz for CIFAR-10")
    x_train = np.concatenate([batches[name][0] for name in CIFAR_TRAIN_BATCHES])
    y_train = np.concatenate([batches[name][1] for name in CIFAR_TRAIN_BATCHES])
    return (x_train, y_train), batches[CIFAR_TEST_BATCH], source


def initial_split(y_train, n_init, n_valid, n_sample, n_classes, rng):
    """Return (labeled, unlabeled, valid, sampling_set) index arrays for one repetition (docs/algorithm.md section 1.2).

    ``rng`` is a ``numpy.random.RandomState`` seeded with the repetition: it replays the original
    code's draws on NumPy's global generator (permutation, class-balanced picks, three shuffles,
    then the sampling set), without touching the global state. It is advanced as a side effect
    and goes on to shuffle the pool at each step.
    """
    n_train = len(y_train)
    perm = rng.permutation(n_train)
    by_class = [perm[y_train[perm] == c] for c in range(n_classes)]
    picked = []
    for i in range(n_init + n_valid):
        members = by_class[i % n_classes]
        if i // n_classes >= len(members):
            raise UserError(f"class {i % n_classes} has only {len(members)} training samples: too few "
                            f"for nInit + nValid = {n_init + n_valid} drawn class by class")
        picked.append(members[i // n_classes])
    labeled = np.asarray(picked[:n_init], dtype=np.int64)
    valid = np.asarray(picked[n_init:], dtype=np.int64)
    unlabeled = np.setdiff1d(np.arange(n_train), picked)
    rng.shuffle(labeled)
    rng.shuffle(unlabeled)
    rng.shuffle(valid)
    sampling_set = rng.permutation(n_train)[:n_sample]
    return labeled, unlabeled, valid, sampling_set
