"""Loading the datasets (the real files and bad files) and the protocol's initial split."""
import os
import pickle
import tarfile

import numpy as np
import pytest

from conftest import load_dataset_once, run_script
from data import initial_split, load_dataset
from errors import UserError

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture
def mnist(data_dir):
    return load_dataset_once("mnist", data_dir)


def test_mnist_from_its_npz(mnist):
    (x_train, y_train), (x_test, y_test), n_classes = mnist
    assert n_classes == 10
    assert x_train.shape == (60000, 28, 28, 1) and x_test.shape == (10000, 28, 28, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64 and y_train.shape == (60000,)
    assert x_train.min() == 0 and x_train.max() == 1
    assert x_train.mean() * 255 == pytest.approx(33.318, abs=1e-3)
    assert np.bincount(y_train).tolist() == MNIST_TRAIN_COUNTS
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]


def test_cifar10_from_the_data_folder(data_dir):
    (x_train, y_train), (x_test, y_test), n_classes = load_dataset("cifar10", data_dir)
    assert n_classes == 10
    assert x_train.shape == (50000, 32, 32, 3) and x_test.shape == (10000, 32, 32, 3)
    assert x_train.dtype == np.float32 and 0 <= x_train.min() and x_train.max() <= 1
    assert np.bincount(y_train).tolist() == [5000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    np.testing.assert_allclose(x_train.mean(axis=(0, 1, 2)) * 255, [125.307, 122.950, 113.865], atol=2e-3)


def write_cifar_folder(folder, n_per_batch=4, data_width=3072):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, size=(n_per_batch, data_width), dtype=np.uint8),
                 "labels": list(range(n_per_batch))}
        with open(folder / name, "wb") as file:
            pickle.dump(batch, file)


def test_cifar10_from_an_extracted_folder(tmp_path):
    write_cifar_folder(tmp_path / "cifar-10-batches-py")
    (x_train, y_train), (x_test, _), _ = load_dataset("cifar10", tmp_path)
    assert x_train.shape == (20, 32, 32, 3) and x_test.shape == (4, 32, 32, 3)
    assert y_train.tolist() == [0, 1, 2, 3] * 5
    raw = pickle.load(open(tmp_path / "cifar-10-batches-py" / "test_batch", "rb"))["data"]
    assert x_test[1, 0, 2, 1] == np.float32(raw[1, 1024 + 2]) / 255  # channel-first rows, as the official layout


def expect_user_error(data_dir, name, *fragments):
    with pytest.raises(UserError) as error:
        load_dataset(name, data_dir)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_missing_mnist_file(tmp_path):
    expect_user_error(tmp_path, "mnist", str(tmp_path / "mnist.npz"), "not found")


def test_truncated_mnist_file(tmp_path, data_dir):
    (tmp_path / "mnist.npz").write_bytes((data_dir / "mnist.npz").read_bytes()[:100_000])
    expect_user_error(tmp_path, "mnist", str(tmp_path / "mnist.npz"), "npz")


def test_mnist_with_wrong_shapes_or_missing_arrays(tmp_path):
    images = np.zeros((10, 28, 27), dtype=np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=images, y_train=np.zeros(10), x_test=images, y_test=np.zeros(10))
    expect_user_error(tmp_path, "mnist", "mnist.npz", "(n, 28, 28, 1)", "(10, 28, 27)")
    np.savez(tmp_path / "mnist.npz", x_train=images)
    expect_user_error(tmp_path, "mnist", "mnist.npz", "missing arrays", "y_train")


def test_missing_cifar10_files(tmp_path):
    expect_user_error(tmp_path, "cifar10", str(tmp_path), "cifar-10-python.tar.gz")
    write_cifar_folder(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    expect_user_error(tmp_path, "cifar10", "data_batch_3", "not found")


def test_cifar10_batch_with_wrong_size(tmp_path):
    write_cifar_folder(tmp_path / "cifar-10-batches-py", data_width=3000)
    expect_user_error(tmp_path, "cifar10", "data_batch_1", "3072")


def test_truncated_cifar10_archive(tmp_path):
    write_cifar_folder(tmp_path / "made" / "cifar-10-batches-py", n_per_batch=200)
    with tarfile.open(tmp_path / "whole.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "made" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    whole = (tmp_path / "whole.tar.gz").read_bytes()
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(whole[: len(whole) // 2])
    expect_user_error(tmp_path, "cifar10", "cifar-10-python.tar.gz")


def test_cifar10_archive_without_the_batches(tmp_path):
    (tmp_path / "readme.txt").write_text("not cifar")
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "readme.txt", arcname="readme.txt")
    expect_user_error(tmp_path, "cifar10", "cifar-10-python.tar.gz", "data_batch_1")


def test_unknown_dataset():
    expect_user_error(None, "svhn", "svhn", "mnist")


def test_split_is_class_balanced_and_disjoint(mnist):
    (_, y_train), _, _ = mnist
    labeled, unlabeled, valid, sampling = initial_split(y_train, 20, 5000, 2000, 10, np.random.RandomState(0))
    assert np.bincount(y_train[labeled], minlength=10).tolist() == [2] * 10
    assert np.bincount(y_train[valid], minlength=10).tolist() == [500] * 10
    assert len(unlabeled) == 60000 - 5020
    everything = np.concatenate([labeled, valid, unlabeled])
    assert len(np.unique(everything)) == 60000  # disjoint, and together the whole training set
    assert len(sampling) == 2000 and len(np.unique(sampling)) == 2000


def test_split_replays_the_original_draws_on_the_global_generator(mnist):
    (_, y_train), _, _ = mnist
    np.random.seed(3)  # the original: NumPy's global generator, in the algorithm's order of draws
    perm = np.random.permutation(60000)
    picked = [perm[y_train[perm] == i % 10][i // 10] for i in range(20 + 100)]
    labeled, valid = np.array(picked[:20]), np.array(picked[20:])
    unlabeled = np.array(sorted(set(range(60000)) - set(picked)))
    for part in (labeled, unlabeled, valid):
        np.random.shuffle(part)
    sampling = np.random.permutation(60000)[:300]
    for ours, original in zip(initial_split(y_train, 20, 100, 300, 10, np.random.RandomState(3)),
                              (labeled, unlabeled, valid, sampling)):
        np.testing.assert_array_equal(ours, original)


def test_same_split_for_the_same_repetition_and_another_for_another(mnist):
    (_, y_train), _, _ = mnist
    first = initial_split(y_train, 20, 100, 300, 10, np.random.RandomState(1))
    again = initial_split(y_train, 20, 100, 300, 10, np.random.RandomState(1))
    other = initial_split(y_train, 20, 100, 300, 10, np.random.RandomState(2))
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_split_with_too_few_samples_of_a_class():
    y = np.array([0, 1, 1, 1, 1, 1])
    with pytest.raises(UserError, match="class 0 has only 1"):
        initial_split(y, 4, 0, 2, 2, np.random.RandomState(0))


@pytest.mark.slow
@pytest.mark.parametrize("cached", [False, True])
def test_a_failed_download_is_one_line_naming_the_cause_and_the_way_out(tmp_path, cached):
    keras_home = tmp_path / "keras"
    (keras_home / "datasets").mkdir(parents=True)
    if cached:  # a download that broke off, left in the cache
        (keras_home / "datasets" / "mnist.npz").write_bytes(b"PK\x03\x04" + b"\0" * 1000)
    env = {name: value for name, value in os.environ.items() if name.lower() not in ("no_proxy", "ldms_data_dir")}
    unreachable = "http://127.0.0.1:9"  # the discard port: every connection through this proxy is refused
    env.update(KERAS_HOME=str(keras_home), http_proxy=unreachable, https_proxy=unreachable,
               HTTP_PROXY=unreachable, HTTPS_PROXY=unreachable)
    result = run_script("run_mnist.py", "--out", tmp_path / "out", env=env, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: could not fetch mnist with keras.datasets (URL fetch failure on "
                           "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz")
    assert "Connection refused" in line
    assert line.endswith("to run without the download, pass --data-dir DIR (or set LDMS_DATA_DIR=DIR) with "
                         "DIR/mnist.npz")
    assert (f"the Keras cache held {keras_home / 'datasets' / 'mnist.npz'}, truncated or corrupt" in line) == cached
    assert not (tmp_path / "out").exists()
