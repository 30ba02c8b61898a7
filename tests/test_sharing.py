"""Runs that share a results folder and runs that go further: the same command started twice splits the
repetitions, and a larger --nStep extends a repetition; both write what one uninterrupted run writes."""
import subprocess

import numpy as np
import pytest

from checkpoint import load_state, read_steps
import experiment
from conftest import TINY, assert_one_error_line, run_script, script_command

pytestmark = pytest.mark.slow  # every test here runs the script

SHORT = [*TINY, "--nStep", "1"]
STATE_ARRAYS = ("labeled", "unlabeled", "valid", "sampling_set", "accuracies")


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, found_datasets):
    """The folder of one process that ran both repetitions with nStep 1 from the start."""
    out = tmp_path_factory.mktemp("one_process")
    result = run_script("run_mnist.py", *SHORT, "--nRep", "2", "--data-dir", found_datasets[0], "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "mnist_SCNN"


def assert_same_repetition(folder, reference, rep):
    name = f"{rep:03d}"
    assert (folder / f"test_accs_{name}.txt").read_bytes() == (reference / f"test_accs_{name}.txt").read_bytes()
    ours, theirs = load_state(folder / f"state_{name}.npz"), load_state(reference / f"state_{name}.npz")
    for array in STATE_ARRAYS:
        np.testing.assert_array_equal(getattr(ours, array), getattr(theirs, array), err_msg=array)
    ours, theirs = ours.protocol_rng.get_state(), theirs.protocol_rng.get_state()  # the pools to come
    np.testing.assert_array_equal(ours[1], theirs[1])
    assert ours[2:] == theirs[2:]


def test_two_runs_of_one_command_share_its_repetitions(tmp_path, data_dir, one_process):
    command = script_command("run_mnist.py", *SHORT, "--nRep", "2", "--data-dir", data_dir, "--out", tmp_path)
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    stdout = "".join(out for out, _ in outputs)
    for rep in (1, 2):  # each repetition trained by exactly one of the two: two steps logged in all
        assert sum(line.startswith(f"rep {rep}/2 step ") for line in stdout.splitlines()) == 2
        assert_same_repetition(tmp_path / "mnist_SCNN", one_process, rep)


def test_a_larger_nstep_extends_a_finished_run_to_what_a_longer_run_writes(tmp_path, data_dir, one_process,
                                                                          capsys):
    flags = [*TINY, "--data-dir", str(data_dir), "--out", str(tmp_path)]  # in process: no framework start-up
    log = tmp_path / "mnist_SCNN" / "steps_001.jsonl"
    assert experiment.main("mnist", [*flags, "--nStep", "0"]) == 0
    assert [(step["step"], "query" in step["seconds"]) for step in read_steps(log)] == [(0, False)]  # the last step
    capsys.readouterr()
    assert experiment.main("mnist", [*flags, "--nStep", "1"]) == 0
    extended = capsys.readouterr()
    assert "rep 1/1 goes on to --nStep 1: step 0 is trained again" in extended.out
    assert "warning" not in extended.err  # the retrained step gives the accuracy on file
    assert_same_repetition(tmp_path / "mnist_SCNN", one_process, 1)
    # step 0's line is replaced by that of its retraining, which made the query: one line a step, as in one run
    assert [(step["step"], "query" in step["seconds"]) for step in read_steps(log)] == [(0, True), (1, False)]
    assert [(step["labeled"], step["test_acc"]) for step in read_steps(log)] == [
        (step["labeled"], step["test_acc"]) for step in read_steps(one_process / "steps_001.jsonl")]

    assert experiment.main("mnist", [*flags, "--nStep", "0"]) == 2
    assert_one_error_line(capsys.readouterr().err, "--nStep 0 is smaller than the 1 steps")
