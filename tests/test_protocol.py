"""The run loop computes the experiment of docs/algorithm.md section 1: a resumed run is the uninterrupted run,
each step queries from its own shuffled pool, the reported accuracy is that of the best validation epoch, a
diverged step writes nothing, and every step seeds its own model.

The runs are in this process on a tiny dense model (eager, so no graph is traced per step) and the real MNIST;
only the SIGKILL test starts a process.
"""
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

import experiment
import models
import strategies
from checkpoint import load_state, read_steps
from conftest import ROOT, TINY, assert_one_error_line, load_dataset_once
from data import initial_split

pytestmark = pytest.mark.slow  # every test here trains models

STATE_ARRAYS = ("labeled", "unlabeled", "valid", "sampling_set")
_uninterrupted = {}  # the reference run of the resume tests, made once


def tiny_model(network, input_shape, n_classes, optimizer="adam"):
    """Return a compiled Flatten - Dense 16 relu - Dense softmax model, run eagerly (no graph traced per step)."""
    model = keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu", kernel_initializer="he_normal"),
        keras.layers.Dense(n_classes, activation="softmax", kernel_initializer="he_normal"),
    ])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"], run_eagerly=True)
    return model


@pytest.fixture
def tiny(monkeypatch):
    """Runs in this test use the tiny model and the once-loaded data."""
    monkeypatch.setattr(models, "get_model", tiny_model)
    monkeypatch.setattr(experiment, "load_dataset", load_dataset_once)


def flags(data_dir, out, *more):
    """Return the run script's flags: TINY, then ``more``, reading ``data_dir`` and writing under ``out``."""
    return [*TINY, *more, "--data-dir", str(data_dir), "--out", str(out)]


def parse(argv):
    """Return the run_mnist.py arguments of ``argv``, for experiment.run."""
    return experiment.build_parser("mnist").parse_args(argv)


def snapshot(out, rep=1):
    """Return (results file bytes, loaded state) of repetition ``rep`` (1-based) of an mnist run under ``out``."""
    folder = out / "mnist_SCNN"
    return (folder / f"test_accs_{rep:03d}.txt").read_bytes(), load_state(folder / f"state_{rep:03d}.npz")


def assert_same_state(state, expected):
    """Check that two saved states hold the same index sets, accuracies and protocol generator."""
    for name in STATE_ARRAYS:
        np.testing.assert_array_equal(getattr(state, name), getattr(expected, name), err_msg=name)
    assert state.accuracies == expected.accuracies
    rng, expected_rng = state.protocol_rng.get_state(), expected.protocol_rng.get_state()
    np.testing.assert_array_equal(rng[1], expected_rng[1])  # the MT19937 key
    assert rng[2:] == expected_rng[2:]  # position, cached Gaussian


def uninterrupted(tmp_path_factory, data_dir):
    """Return (results bytes, state) of an uninterrupted TINY run (nStep 2) on the tiny model, made once."""
    if not _uninterrupted:
        out = tmp_path_factory.mktemp("uninterrupted")
        assert experiment.main("mnist", flags(data_dir, out)) == 0
        _uninterrupted["files"] = snapshot(out)
    return _uninterrupted["files"]


def run_killed_in_training(step, argv):
    """Run run_mnist.py's main(argv) on the tiny model, SIGKILLing this process at the first training batch of
    ``step`` (the run must start at step 0). Called in a child process by the SIGKILL test."""
    built = []

    def get_model(network, input_shape, n_classes):
        model = tiny_model(network, input_shape, n_classes)
        built.append(model)
        if len(built) == step + 1:
            model.train_step = lambda data: os.kill(os.getpid(), signal.SIGKILL)
        return model

    models.get_model = get_model
    return experiment.main("mnist", argv)


def test_a_run_killed_in_training_resumes_to_the_uninterrupted_files(tmp_path, tmp_path_factory, data_dir, tiny,
                                                                    capsys):
    argv = flags(data_dir, tmp_path)
    child = (f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]; import test_protocol; "
             f"sys.exit(test_protocol.run_killed_in_training(1, {argv!r}))")
    killed = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    results, state = snapshot(tmp_path)
    assert results.decode().count("\n") == 1 and len(state.accuracies) == 1  # step 0 done, step 1 was training
    assert [step["step"] for step in read_steps(tmp_path / "mnist_SCNN" / "steps_001.jsonl")] == [0]

    assert experiment.main("mnist", argv) == 0
    assert "resumes after step 0" in capsys.readouterr().out
    results, state = snapshot(tmp_path)
    expected_results, expected_state = uninterrupted(tmp_path_factory, data_dir)
    assert results == expected_results
    assert_same_state(state, expected_state)
    assert [step["step"] for step in read_steps(tmp_path / "mnist_SCNN" / "steps_001.jsonl")] == [0, 1, 2]


class Killed(BaseException):
    """Stands for a kill: nothing in the run catches it."""


def test_a_run_killed_between_the_last_state_and_its_results_resumes_to_the_uninterrupted_files(
        tmp_path, tmp_path_factory, data_dir, tiny, monkeypatch):
    expected_results, expected_state = uninterrupted(tmp_path_factory, data_dir)
    write_accuracies = experiment.write_accuracies

    def killed_at_the_last_step(path, accuracies):
        if len(accuracies) == 3:
            raise Killed
        write_accuracies(path, accuracies)

    monkeypatch.setattr(experiment, "write_accuracies", killed_at_the_last_step)
    with pytest.raises(Killed):
        experiment.main("mnist", flags(data_dir, tmp_path))
    results, state = snapshot(tmp_path)
    assert results.decode().count("\n") == 2 and len(state.accuracies) == 3  # the state is saved first

    monkeypatch.setattr(experiment, "write_accuracies", write_accuracies)
    assert experiment.main("mnist", flags(data_dir, tmp_path)) == 0
    results, state = snapshot(tmp_path)
    assert results == expected_results
    assert_same_state(state, expected_state)
    assert [step["step"] for step in read_steps(tmp_path / "mnist_SCNN" / "steps_001.jsonl")] == [0, 1, 2]


def test_a_run_killed_between_a_step_log_line_and_the_state_resumes_to_one_line_a_step(
        tmp_path, tmp_path_factory, data_dir, tiny, monkeypatch):
    expected_results, expected_state = uninterrupted(tmp_path_factory, data_dir)
    save_state, log = experiment.save_state, tmp_path / "mnist_SCNN" / "steps_001.jsonl"

    def killed_at_the_last_step(path, state):
        if len(state.accuracies) == 3:
            raise Killed
        save_state(path, state)

    monkeypatch.setattr(experiment, "save_state", killed_at_the_last_step)
    with pytest.raises(Killed):
        experiment.main("mnist", flags(data_dir, tmp_path))
    assert [step["step"] for step in read_steps(log)] == [0, 1, 2]  # step 2's line, which the state lacks
    with open(log, "a") as file:
        file.write('{"rep": 1, "step": 3, "lab')  # and, as a crash in an append leaves it, a torn line

    monkeypatch.setattr(experiment, "save_state", save_state)
    assert experiment.main("mnist", flags(data_dir, tmp_path)) == 0
    results, state = snapshot(tmp_path)
    assert results == expected_results
    assert_same_state(state, expected_state)
    steps = read_steps(log)
    assert [(step["step"], step["labeled"]) for step in steps] == [(0, 20), (1, 30), (2, 40)]
    assert [step["test_acc"] for step in steps] == pytest.approx(expected_state.accuracies, abs=1e-12)
    assert log.read_text().count("\n") == 3 and log.read_text().endswith("}\n")  # the torn line is gone


def untrained(args, train, test, labeled, valid, n_classes, timings, batch_rng):
    """Stands for train_and_test where only the indices matter: no model, accuracy 0.5."""
    timings.update(training=0.0, validation=0.0, test=0.0)
    return None, 0.5


def test_each_step_queries_from_the_first_n_pool_of_the_reshuffled_unlabeled_set(tmp_path, data_dir, tiny,
                                                                                monkeypatch):
    seen, first_draws, pool_arrays = [], [], models.pool_arrays

    def recording_pool_arrays(model, needs, X, pool, sample=(), labeled=(), **kwargs):
        seen.append({"pool": pool.copy(), "sample": np.copy(sample), "labeled": np.copy(labeled)})
        return pool_arrays(model, needs, X, pool, sample, labeled, **kwargs)

    def every_third_backwards(arrays, n_query, rng):  # positions no other rule would give
        first_draws.append(rng.random())
        return np.arange(arrays.n_pool - 1, -1, -3)[:n_query]

    monkeypatch.setattr(experiment, "train_and_test", untrained)
    monkeypatch.setattr(models, "pool_arrays", recording_pool_arrays)
    monkeypatch.setitem(strategies.STRATEGIES, "recorder", every_third_backwards)
    monkeypatch.setitem(strategies.NEEDS, "recorder", set())
    n_step, n_pool, n_query = 4, 200, 10
    args = parse(flags(data_dir, tmp_path, "--strategy", "recorder", "--nStep", str(n_step), "--seed", "3",
                       "--nRep", "2"))
    experiment.run(args, reps=[1])  # repetition 1: generator seeded with 3 + 1

    y = load_dataset_once("mnist", data_dir)[0][1]
    rng = np.random.RandomState(4)
    labeled, unlabeled, valid, sampling_set = initial_split(y, 20, 100, 200, 10, rng)
    assert len(seen) == n_step
    assert len(set(first_draws)) == n_step  # each step's query has a generator of its own
    for step in range(n_step):
        rng.shuffle(unlabeled)
        pool = unlabeled[:n_pool]
        np.testing.assert_array_equal(seen[step]["pool"], pool)
        np.testing.assert_array_equal(seen[step]["labeled"], labeled)
        np.testing.assert_array_equal(seen[step]["sample"], sampling_set)
        labeled = np.concatenate([labeled, pool[np.arange(n_pool - 1, -1, -3)[:n_query]]])
        unlabeled = np.setdiff1d(unlabeled, labeled)
    state = load_state(tmp_path / "mnist_SCNN_recorder" / "state_002.npz")
    for name, expected in zip(STATE_ARRAYS, (labeled, unlabeled, valid, sampling_set)):
        np.testing.assert_array_equal(getattr(state, name), expected, err_msg=name)
    assert len(state.labeled) == 20 + n_step * n_query
    every_index = np.concatenate([state.labeled, state.unlabeled, state.valid])
    np.testing.assert_array_equal(np.sort(every_index), np.arange(len(y)))  # a partition of the training set


def scripted_model(schedule):
    """Return a get_model whose model holds, through epoch e, the Dense weights ``schedule[e]`` (learning rate 0:
    training moves nothing), so each epoch's validation and test accuracy are known in advance."""
    class HoldScheduledWeights(keras.callbacks.Callback):
        epochs_begun = 0  # over all of a step's fit calls

        def on_epoch_begin(self, epoch, logs=None):
            self.model.layers[-1].set_weights(schedule[self.epochs_begun])
            self.epochs_begun += 1

    def get_model(network, input_shape, n_classes):
        model = keras.Sequential([keras.Input(shape=input_shape), keras.layers.Flatten(),
                                  keras.layers.Dense(n_classes, activation="softmax")])
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], run_eagerly=True)
        fit, hold = model.fit, HoldScheduledWeights()
        model.fit = lambda *args, callbacks=(), **kwargs: fit(*args, callbacks=[*callbacks, hold], **kwargs)
        return model

    return get_model


def always(label):
    """Dense weights that predict ``label`` for every image: 10 of the 100 class-balanced validation samples."""
    return [np.zeros((784, 10), np.float32), np.eye(10, dtype=np.float32)[label]]


def nearest_mean(X, y):
    """Dense weights of the nearest-class-mean classifier on flattened images (about 80% on MNIST)."""
    means = np.stack([X[y == c].reshape(-1, 784).mean(axis=0) for c in range(10)])
    return [means.T.astype(np.float32), (-(means**2).sum(axis=1) / 2).astype(np.float32)]


@pytest.mark.parametrize("case", ["early", "late", "tied"])
def test_the_reported_accuracy_is_that_of_the_first_best_validation_epoch(tmp_path, data_dir, tiny, monkeypatch,
                                                                           case):
    (X, y), (X_test, y_test), _ = load_dataset_once("mnist", data_dir)
    means = nearest_mean(X, y)
    schedule, kept = {"early": ([means, always(1), always(2)], means),  # 0.8 > 0.1 = 0.1
                      "late": ([always(1), always(2), means], means),  # 0.1 = 0.1 < 0.8
                      "tied": ([always(1), always(2), always(3)], always(1))}[case]  # 0.1 = 0.1 = 0.1
    monkeypatch.setattr(models, "get_model", scripted_model(schedule))
    experiment.run(parse(flags(data_dir, tmp_path, "--nEpoch", "3", "--nStep", "0")))

    predicted = np.argmax(X_test.reshape(-1, 784) @ kept[0] + kept[1], axis=1)
    reported = float((tmp_path / "mnist_SCNN" / "test_accs_001.txt").read_text())
    assert reported == pytest.approx(np.mean(predicted == y_test), abs=2e-4)  # the epochs differ by 0.01 or more


def test_a_diverged_step_exits_1_and_leaves_the_last_good_step_intact(tmp_path, data_dir, tiny, monkeypatch, capsys):
    folder, built, before = tmp_path / "mnist_SCNN", [], {}

    def diverging_at_step_1(network, input_shape, n_classes):
        built.append(network)
        if len(built) == 1:
            return tiny_model(network, input_shape, n_classes)
        before.update({path.name: path.read_bytes() for path in folder.iterdir()})  # as step 0 left them
        return tiny_model(network, input_shape, n_classes, keras.optimizers.SGD(1e38))

    monkeypatch.setattr(models, "get_model", diverging_at_step_1)
    assert experiment.main("mnist", flags(data_dir, tmp_path, "--nStep", "1", "--nBatch", "4")) == 1
    assert_one_error_line(capsys.readouterr().err, "training diverged")
    assert len(load_state(folder / "state_001.npz").accuracies) == 1
    for name in ("state_001.npz", "test_accs_001.txt", "steps_001.jsonl"):
        assert (folder / name).read_bytes() == before[name], name
    assert (folder / "test_accs_001.txt").read_text().count("\n") == 1
    assert not list(folder.glob("*.tmp"))


def test_each_step_initialises_its_own_model_the_same_in_every_run(tmp_path, data_dir, tiny, monkeypatch):
    initial = []

    def recording_tiny_model(*args):
        model = tiny_model(*args)
        initial.append(model.get_weights())
        return model

    monkeypatch.setattr(models, "get_model", recording_tiny_model)
    monkeypatch.setitem(strategies.STRATEGIES, "first", lambda arrays, n_query, rng: np.arange(n_query))
    monkeypatch.setitem(strategies.NEEDS, "first", set())
    experiment.run(parse(flags(data_dir, tmp_path, "--strategy", "first", "--seed", "7", "--nStep", "1")))
    assert len(initial) == 2
    for step, weights in enumerate(initial):
        keras.utils.set_random_seed(experiment.step_seed(7, step))  # what a run of the same command sets
        for got, expected in zip(weights, tiny_model("SCNN", (28, 28, 1), 10).get_weights()):
            np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(initial[0][0], initial[1][0])
