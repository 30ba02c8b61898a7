"""bench/grid_throughput.py compares the results files its jobs write: each job a folder (seed0, seed1, ...)
holding the run's results folders, as `run_mnist.py --out JOB` lays them out."""
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import grid_throughput  # noqa: E402


def write(path, text):
    """Write ``text`` at ``path``, making its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_every_jobs_results_file_is_read_and_nothing_else(tmp_path):
    write(tmp_path / "seed0" / "mnist_SCNN" / "test_accs_001.txt", "0.50610\n0.80710\n")
    write(tmp_path / "seed0" / "mnist_SCNN" / "steps_001.jsonl", "{}\n")
    write(tmp_path / "seed1" / "mnist_SCNN_random" / "test_accs_002.txt", "0.49000\n")
    write(tmp_path / "seed1" / "mnist_SCNN_random" / "settings.json", "{}")
    assert grid_throughput.result_files(tmp_path) == {
        "seed0/mnist_SCNN/test_accs_001.txt": b"0.50610\n0.80710\n",
        "seed1/mnist_SCNN_random/test_accs_002.txt": b"0.49000\n"}


def test_one_changed_digit_makes_two_grids_differ(tmp_path):
    for grid, last in (("a", "0.80710"), ("b", "0.80820")):
        write(tmp_path / grid / "seed0" / "mnist_SCNN" / "test_accs_001.txt", f"0.50610\n{last}\n")
    assert grid_throughput.result_files(tmp_path / "a") != grid_throughput.result_files(tmp_path / "b")


def test_a_job_without_results_is_an_error_not_an_empty_match(tmp_path):
    write(tmp_path / "seed0" / "mnist_SCNN" / "test_accs_001.txt", "0.50610\n")
    (tmp_path / "seed1" / "mnist_SCNN").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="seed1"):
        grid_throughput.result_files(tmp_path)
