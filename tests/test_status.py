"""status.py on results folders built by hand (states, lock files, a process holding a lock), no training."""
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import status
from checkpoint import State, save_state
from conftest import ROOT, run_script

HOST = socket.gethostname()
HOLD = ("import sys; sys.path.insert(0, sys.argv[1]); from checkpoint import hold_lock\n"
        "with hold_lock(sys.argv[2]):\n    print('held', flush=True); sys.stdin.read()")


def write_state(folder, number, n_accuracies, age, n_step=2):
    """Save a state of ``n_accuracies`` steps (of nStep 2) for repetition ``number``, ``age`` seconds old."""
    path = folder / f"state_{number:03d}.npz"
    save_state(path, State({"dataset": "mnist", "nStep": n_step}, [0.5] * n_accuracies, np.arange(3), np.arange(3, 9),
                           np.arange(9, 12), np.arange(12, 15), np.random.RandomState(number)))
    os.utime(path, (time.time() - age,) * 2)


def write_lock(folder, number, holder, age):
    path = folder / f"state_{number:03d}.lock"
    path.write_text(f"{holder}\n")
    os.utime(path, (time.time() - age,) * 2)


@pytest.fixture
def grid(tmp_path):
    """A results root: mnist_SCNN_random with rep 1 finished, 2 held by a child process (with a step log), 3
    stale, 5 last held on another host, 4 missing; cifar10_KCNN with rep 2 locked once and never stepped.
    Yields (root, holder)."""
    mnist, cifar = tmp_path / "mnist_SCNN_random", tmp_path / "cifar10_KCNN"
    mnist.mkdir()
    cifar.mkdir()
    (mnist / "settings.json").write_text(json.dumps({"nStep": 2}))
    write_state(mnist, 1, 3, age=3600)
    (mnist / "test_accs_001.txt").write_text("0.50000\n" * 3)
    write_lock(mnist, 1, f"host {HOST} pid 11", age=4000)
    write_state(mnist, 2, 1, age=600)
    (mnist / "steps_002.jsonl").write_text(  # step 0 took 180 s; a crash tore the line after it
        '{"step": 0, "seconds": {"training": 100, "validation": 50, "test": 10, "features": 5, "query": 20}}\n'
        '{"step": 1, "seconds": {"training": 9000}}')
    write_state(mnist, 3, 2, age=600)
    write_lock(mnist, 3, f"host {HOST} pid 99999", age=900)
    write_state(mnist, 5, 1, age=3 * 3600)
    write_lock(mnist, 5, "host node-b pid 7", age=4 * 3600)
    write_lock(cifar, 2, f"host {HOST} pid 12", age=600)
    (tmp_path / "figures.png").write_bytes(b"")  # beside the results folders: neither is one
    (tmp_path / "logs").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ROOT), str(mnist / "state_002.lock")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        yield tmp_path, holder
    finally:
        holder.kill()
        holder.wait()


def snapshot(root):
    return {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in root.rglob("*")
            if path.is_file()}


def test_the_command_tells_each_repetition_and_writes_nothing(grid):
    root, holder = grid
    before = snapshot(root)
    result = run_script("status.py", "--out", root, "--nRep", "6", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"""{root}, seen from host {HOST}:
cifar10 KCNN ldms: 0 of 6 finished, 1 stale, 5 not started
  rep 2   stale    0/? steps, last held by host {HOST} pid 12, started 10 min ago
  not started: rep 1, 3, 4, 5, 6
mnist SCNN random: 1 of 6 finished, 1 running, 1 stale, 1 unknown, 2 not started
  rep 2   running  1/3 steps, held by host {HOST} pid {holder.pid}, last step 10 min ago (took 3 min)
  rep 3   stale    2/3 steps, last held by host {HOST} pid 99999, last step 10 min ago
  rep 5   unknown  1/3 steps, last held by host node-b pid 7 (another host: run status.py there), last step 3.0 h ago
  not started: rep 4, 6
grid: 1 of 12 finished, 1 running, 2 stale, 1 unknown, 7 not started
"""
    assert snapshot(root) == before  # no file changed, none added
    with open(root / "mnist_SCNN_random" / "state_002.lock") as lock, pytest.raises(BlockingIOError):
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the child still holds it


def test_without_nrep_the_highest_repetition_found_bounds_the_count(grid, capsys):
    root, holder = grid
    assert status.main(["--out", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "cifar10 KCNN ldms: 0 of 2 finished, 1 stale, 1 not started"
    assert lines[-1] == "grid: 1 of 7 finished, 1 running, 2 stale, 1 unknown, 2 not started"


def test_a_holder_that_died_leaves_a_stale_repetition(grid, capsys):
    root, holder = grid
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert status.main(["--out", str(root)]) == 0
    out = capsys.readouterr().out
    assert (f"  rep 2   stale    1/3 steps, last held by host {HOST} pid {holder.pid}, last step 10 min ago "
            "(took 3 min)\n") in out
    assert "running" not in out


def test_an_unreadable_state_is_reported_not_raised(grid, capsys):
    root, _ = grid
    (root / "mnist_SCNN_random" / "state_003.npz").write_bytes(b"not a zip")
    assert status.main(["--out", str(root)]) == 0
    assert "  rep 3   stale    ?/3 steps, state file unreadable, last held by" in capsys.readouterr().out


def test_proc_locks_lines_give_device_and_inode():
    text = ("1: FLOCK  ADVISORY  WRITE 1930 fe:00:5489654 0 EOF\n"
            "1: -> FLOCK  ADVISORY  WRITE 2001 fe:00:777 0 EOF\n"  # waiting for lock 1, holding nothing
            "2: POSIX  ADVISORY  WRITE 42 00:34:12 0 EOF\n")
    assert status.held_locks(text) == {(254, 0, 5489654), (0, 52, 12)}


def test_a_missing_results_root_is_an_error(tmp_path, capsys):
    assert status.main(["--out", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == f"error: --out {tmp_path / 'nowhere'} is not a folder\n"
