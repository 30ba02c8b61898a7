"""End to end through the run scripts, on the real datasets with tiny settings."""
import json

import pytest

from checkpoint import load_state, read_steps
from conftest import TINY, read_accuracies, run_script

pytestmark = pytest.mark.slow  # every test here runs a script or trains a model


def test_mnist_end_to_end(tmp_path, data_dir):
    result = run_script("run_mnist.py", *TINY, "--data-dir", data_dir, "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    accuracies = read_accuracies(tmp_path / "mnist_SCNN" / "test_accs_001.txt")
    assert len(accuracies) == 3 and all(0 < a <= 1 for a in accuracies)
    logged = [line for line in result.stdout.splitlines() if line.startswith("rep 1/1 step")]
    assert [int(line.split("| labeled ")[1].split()[0]) for line in logged] == [20, 30, 40]
    assert "--nQuery=10" in result.stdout and "array module numpy" in result.stdout  # settings are printed
    folder = tmp_path / "mnist_SCNN"
    assert sorted(p.name for p in folder.iterdir()) == ["settings.json", "state_001.lock", "state_001.npz",
                                                        "steps_001.jsonl", "test_accs_001.txt"]
    assert result.stderr == ""  # no progress bars when the output is not a terminal, no framework notices
    project_lines = ("LDM-S mnist: ", "train 60000 / test 10000 images; ", "LDM: 51 sigmas ", "python 3.", "rep 1/1 ",
                     "results in ")
    assert all(line.startswith(project_lines) for line in result.stdout.splitlines()), result.stdout
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["nQuery"] == 10 and settings["nInit"] == 20 and settings["strategy"] == "ldms"
    assert settings["backend"] == "tensorflow" and settings["threads"] == 0  # LDMS_THREADS unset: the default
    state = load_state(folder / "state_001.npz")  # the labeled set grew by nQuery a step, without repeats
    labeled = state.labeled.tolist()
    assert len(labeled) == 20 + 2 * 10 and len(set(labeled)) == len(labeled)
    assert not set(labeled) & set(state.valid.tolist()) and not set(labeled) & set(state.unlabeled.tolist())
    assert state.accuracies == pytest.approx(accuracies, abs=5e-6)

    steps = read_steps(folder / "steps_001.jsonl")  # a line per step, as docs/results.md describes it
    assert [{name: value for name, value in step.items() if name not in ("test_acc", "seconds")} for step in steps] == [
        {"rep": 1, "step": step, "labeled": labeled, "dataset": "mnist", "network": "SCNN", "strategy": "ldms",
         "backend": "tensorflow"} for step, labeled in ((0, 20), (1, 30), (2, 40))]
    assert [step["test_acc"] for step in steps] == pytest.approx(accuracies, abs=5e-6)
    parts = {"training", "validation", "test", "features", "estimation", "seeding", "query"}
    assert [set(step["seconds"]) for step in steps] == [parts, parts, {"training", "validation", "test"}]
    assert all(seconds > 0 for step in steps for part, seconds in step["seconds"].items() if part != "seeding")
    table = run_script("bench/step_times.py", folder)
    assert table.returncode == 0, table.stderr
    assert [line.split(" | ")[:2] for line in table.stdout.splitlines() if line.startswith("| ") and
            line[2].isdigit()] == [["| 20", "1"], ["| 30", "1"], ["| 40", "1"]]


def test_cifar10_kcnn_step_end_to_end(tmp_path, data_dir):
    result = run_script("run_cifar10.py", "--nEpoch", "1", "--nStep", "1", "--nInit", "50", "--nValid", "100",
                        "--nPool", "300", "--nSample", "300", "--nQuery", "40", "--nRep", "1",
                        "--data-dir", data_dir, "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    accuracies = read_accuracies(tmp_path / "cifar10_KCNN" / "test_accs_001.txt")
    assert len(accuracies) == 2 and all(0 < a <= 1 for a in accuracies)
    assert "labeled 90 " in result.stdout


def test_a_bad_data_dir_exits_2_naming_the_file(tmp_path):
    result = run_script("run_mnist.py", *TINY, "--data-dir", tmp_path, "--out", tmp_path / "out")
    assert result.returncode == 2
    assert f"error: {tmp_path / 'mnist.npz'}: file not found" in result.stderr
    assert "Traceback" not in result.stderr
