"""The Ray sweep on a local instance with this machine's CPUs, tiny settings."""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import TINY, assert_one_error_line, run_script, script_command

pytestmark = pytest.mark.slow  # every test here starts the sweep script, most of them Ray

GRID_FLAGS = ["--nEpoch", "1", "--nStep", "1", "--nValid", "100", "--nPool", "200", "--nSample", "200",
              "--nQuery", "10"]


def run_sweep(*args, timeout=600):
    return run_script("sweep.py", *args, timeout=timeout)


def command_line(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # gone meanwhile
        return ""


def descendants(root):
    """Return the pids of every process below ``root``: this sweep's Ray workers, not another sweep's."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, stack = [], [root]
    while stack:
        below = children.get(stack.pop(), [])
        found += below
        stack += below
    return found


def test_a_grid_writes_what_the_run_script_writes(tmp_path, data_dir):
    result = run_sweep("--dataset", "mnist", "--strategy", "entropy", "--nRep", "2", *GRID_FLAGS,
                       "--data-dir", data_dir, "--out", tmp_path / "sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "figures and tables in" in result.stdout and "| entropy" in result.stdout  # the summary table
    script = run_script("run_mnist.py", *GRID_FLAGS, "--nRep", "2", "--strategy", "entropy",
                        "--data-dir", data_dir, "--out", tmp_path / "script")
    assert script.returncode == 0, script.stderr[-3000:]
    for rep in ("001", "002"):  # each repetition a job of its own, seeded as the script seeds it
        name = f"mnist_SCNN_entropy/test_accs_{rep}.txt"
        swept = (tmp_path / "sweep" / name).read_text()
        assert len(swept.splitlines()) == 2
        assert swept == (tmp_path / "script" / name).read_text()


def test_a_killed_worker_is_retried_and_resumes(tmp_path, data_dir):
    flags = [*GRID_FLAGS, "--nStep", "3", "--nRep", "1"]
    process = subprocess.Popen(script_command("sweep.py", "--strategy", "random", *flags, "--data-dir", data_dir,
                                             "--out", tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=dict(os.environ, LDMS_XP="numpy"))
    results = tmp_path / "mnist_SCNN_random" / "test_accs_001.txt"
    deadline = time.time() + 300
    while time.time() < deadline and not (results.exists() and len(results.read_text().splitlines()) >= 1):
        time.sleep(0.05)
    workers = [pid for pid in descendants(process.pid) if "ray::run_job" in command_line(pid)]
    assert workers, "the task's worker process was not found"
    for pid in workers:
        os.kill(pid, signal.SIGKILL)  # in the middle of step 1
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    lines = results.read_text().splitlines()
    assert len(lines) == 4  # every step exactly once


@pytest.mark.parametrize("flags, message", [
    (["--strategy", "ldms", "uncertainty"], "unknown strategy 'uncertainty'"),
    (["--dataset", "mnist", "svhn"], "--dataset must be among mnist, cifar10"),
    (["--nQuery", "0"], "--nQuery must be at least 1"),
])
def test_a_bad_grid_exits_2_and_starts_nothing(tmp_path, data_dir, flags, message, capsys):
    import sweep  # in this process: the grid is checked before Ray starts

    argv = [*TINY, "--data-dir", str(data_dir), "--out", str(tmp_path / "out"), *flags]
    assert sweep.main(argv) == 2
    assert_one_error_line(capsys.readouterr().err, message)
    assert not (tmp_path / "out").exists()


def test_an_unwritable_out_is_a_clear_error(tmp_path, data_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_sweep(*TINY, "--data-dir", data_dir, "--out", blocker / "out", timeout=120)
    assert result.returncode == 2 and "--out: cannot write results into" in result.stderr
