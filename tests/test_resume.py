"""Runs that survive: resume after SIGKILL, reproducible seeds, and clear errors for bad input."""
import signal
import subprocess
import time

import numpy as np
import pytest

from checkpoint import load_state, read_steps
from conftest import TINY, assert_one_error_line, read_accuracies, run_script, script_command

pytestmark = pytest.mark.slow  # every test here runs a script

RESUMABLE = TINY + ["--nStep", "4"]


def test_a_killed_run_resumes_where_it_stopped(tmp_path, data_dir):
    command = script_command("run_mnist.py", *RESUMABLE, "--data-dir", data_dir, "--out", tmp_path)
    results, log = tmp_path / "mnist_SCNN" / "test_accs_001.txt", tmp_path / "mnist_SCNN" / "steps_001.jsonl"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (results.exists() and len(results.read_text().splitlines()) >= 2):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # in the middle of step 2: training or querying
    process.wait()
    before = results.read_text().splitlines()
    saved = load_state(tmp_path / "mnist_SCNN" / "state_001.npz").accuracies  # written before the results
    assert 2 <= len(before) <= len(saved) < 5
    logged = [step["step"] for step in read_steps(log)]  # appended before the state: at most one step ahead
    assert logged == list(range(len(logged))) and len(saved) <= len(logged) <= len(saved) + 1

    resumed = run_script("run_mnist.py", *RESUMABLE, "--data-dir", data_dir, "--out", tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumes after step {len(saved) - 1}" in resumed.stdout
    after = results.read_text().splitlines()
    assert len(after) == 5 and after[: len(before)] == before
    assert [float(line) for line in after[: len(saved)]] == pytest.approx(saved, abs=5e-6)
    steps = read_steps(log)  # one line a step, none twice, whatever the kill cut
    assert [(step["step"], step["labeled"]) for step in steps] == [(0, 20), (1, 30), (2, 40), (3, 50), (4, 60)]
    assert [step["test_acc"] for step in steps] == pytest.approx([float(line) for line in after], abs=5e-6)
    state = load_state(tmp_path / "mnist_SCNN" / "state_001.npz")
    assert len(state.labeled) == 20 + 4 * 10 and len(np.unique(state.labeled)) == 60
    assert not set(state.labeled.tolist()) & set(state.unlabeled.tolist())

    finished, log_finished = results.stat(), log.stat()
    again = run_script("run_mnist.py", *RESUMABLE, "--data-dir", data_dir, "--out", tmp_path)
    assert again.returncode == 0 and "already finished" in again.stdout
    assert results.read_text().splitlines() == after
    assert (results.stat().st_ino, results.stat().st_mtime_ns) == (finished.st_ino, finished.st_mtime_ns)  # untouched
    assert (log.stat().st_ino, log.stat().st_mtime_ns) == (log_finished.st_ino, log_finished.st_mtime_ns)


def test_seeds_other_settings_a_corrupt_state_and_fresh(tmp_path, data_dir):
    flags = TINY + ["--nStep", "1", "--data-dir", data_dir, "--out", tmp_path]
    assert run_script("run_mnist.py", *flags).returncode == 0
    folder = tmp_path / "mnist_SCNN"
    results = (folder / "test_accs_001.txt").read_text()
    labeled = load_state(folder / "state_001.npz").labeled

    another_seed = run_script("run_mnist.py", *flags[:-1], tmp_path / "seed5", "--seed", "5")
    assert another_seed.returncode == 0, another_seed.stderr[-3000:]
    assert (tmp_path / "seed5" / "mnist_SCNN" / "test_accs_001.txt").read_text() != results
    assert not np.array_equal(load_state(tmp_path / "seed5" / "mnist_SCNN" / "state_001.npz").labeled, labeled)

    other = run_script("run_mnist.py", *flags, "--nQuery", "12", "--seed", "3")
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert "state_001.npz was made with other settings" in other.stderr
    assert "--nQuery 10 there, 12 here" in other.stderr and "--seed 0 there, 3 here" in other.stderr

    state_bytes = (folder / "state_001.npz").read_bytes()
    (folder / "state_001.npz").write_bytes(state_bytes[: len(state_bytes) // 2])
    corrupt = run_script("run_mnist.py", *flags)
    assert corrupt.returncode == 2 and "Traceback" not in corrupt.stderr
    assert f"{folder / 'state_001.npz'}: corrupt or truncated state file" in corrupt.stderr
    assert (folder / "state_001.npz").read_bytes() == state_bytes[: len(state_bytes) // 2]  # not overwritten

    fresh = run_script("run_mnist.py", *flags, "--fresh")
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert "resumes" not in fresh.stdout and "already finished" not in fresh.stdout
    assert (folder / "test_accs_001.txt").read_text() == results  # the same seed, the same run
    assert [step["step"] for step in read_steps(folder / "steps_001.jsonl")] == [0, 1]  # the old lines are gone
    np.testing.assert_array_equal(load_state(folder / "state_001.npz").labeled, labeled)
    assert load_state(folder / "state_001.npz").accuracies == pytest.approx(
        read_accuracies(folder / "test_accs_001.txt"), abs=5e-6)


@pytest.mark.parametrize("flags, message", [
    (["--nPool", "0"], "--nPool must be at least 1, got 0"),
    (["--nBatch", "-3"], "--nBatch must be at least 1, got -3"),
    (["--nRep", "0"], "--nRep must be at least 1, got 0"),
    (["--nStep", "-1"], "--nStep must be 0 or more, got -1"),
    (["--seed", "-1"], "--seed must be in 0.."),
    (["--nQuery", "200"], "--nQuery must be smaller than --nPool (200)"),
    (["--nSample", "70000"], "--nSample must be at most the training set size 60000"),
    (["--nStep", "6000"], "--nStep x --nQuery (60000) must be smaller than the 59880 unlabeled"),
    (["--network", "VGG"], "unknown network 'VGG'"),
    (["--nEpoch", "0"], "--nEpoch must be at least 1"),
    (["--dataset", "svhn"], "--dataset must be one of mnist, cifar10"),
    (["--nInit", "5"], "--nInit must be at least the number of classes (10)"),
    (["--nValid", "60000"], "--nInit + --nValid must be at most the training set size 60000"),
])
def test_each_user_mistake_is_one_line_and_exit_2(tmp_path, data_dir, flags, message, capsys):
    import experiment  # in this process: run_mnist.py is main("mnist"); the subprocess path is tested below

    assert experiment.main("mnist", [*TINY, "--data-dir", str(data_dir), "--out", str(tmp_path / "out"),
                                     *flags]) == 2
    assert_one_error_line(capsys.readouterr().err, message)
    assert not (tmp_path / "out").exists()  # nothing written


def test_an_unwritable_results_folder(tmp_path, data_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_script("run_mnist.py", *TINY, "--data-dir", data_dir, "--out", blocker / "results")
    assert result.returncode == 2 and "--out: cannot write results into" in result.stderr
    assert "Traceback" not in result.stderr
