"""One writer per repetition (a second run leaves it to the first), and a disk that fills up mid-run: stopped
cleanly, nothing lost."""
import os
import resource
import signal
import socket
import subprocess
import time

import pytest

from checkpoint import load_state, read_steps
from conftest import TINY, read_accuracies, run_script, script_command

pytestmark = pytest.mark.slow  # every test here runs the script twice


def start_run(flags):
    return subprocess.Popen(script_command("run_mnist.py", *flags), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for(condition, what):
    deadline = time.time() + 300
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def snapshot(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_repetition_held_by_another_run_is_left_to_it_with_one_line(tmp_path, data_dir):
    flags = [*TINY, "--nStep", "1", "--data-dir", data_dir, "--out", tmp_path]
    folder, first = tmp_path / "mnist_SCNN", start_run(flags)
    lock = folder / "state_001.lock"
    wait_for(lambda: lock.exists() and f"pid {first.pid}" in lock.read_text(), "the first run to hold the lock")
    os.kill(first.pid, signal.SIGSTOP)  # holding the repetition, somewhere in its steps
    try:
        before = snapshot(folder)
        second = run_script("run_mnist.py", *flags)
        after = snapshot(folder)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 0 and "Traceback" not in second.stderr  # every repetition finished or held
    assert f"rep 1/1 skipped: {lock} is held by host {socket.gethostname()} pid {first.pid}, another run that is " \
           "writing it" in second.stdout.splitlines()
    assert after == before  # the second run wrote nothing

    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr[-3000:]
    accuracies = read_accuracies(folder / "test_accs_001.txt")
    assert len(accuracies) == 2
    assert load_state(folder / "state_001.npz").accuracies == pytest.approx(accuracies, abs=5e-6)
    assert not list(folder.glob("*.tmp"))


def make_writes_fail(disk, pid):
    """Fill the tmpfs ``disk``; where it could not be mounted, cap the file size of process ``pid`` instead."""
    if os.path.ismount(disk):
        with open(disk / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        return "No space left on device"
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (4096, 4096))  # Python ignores SIGXFSZ: writes fail with EFBIG
    return "File too large"


def test_a_full_disk_stops_the_run_with_one_line_and_the_same_command_resumes(tmp_path, data_dir):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True)
    try:
        flags = [*TINY, "--nStep", "1", "--data-dir", data_dir, "--out", disk]
        folder, first = disk / "mnist_SCNN", start_run(flags)
        results = folder / "test_accs_001.txt"
        wait_for(lambda: results.exists() and len(results.read_text().splitlines()) == 1, "step 0")
        os.kill(first.pid, signal.SIGSTOP)  # step 1 is training or querying: its state is not written yet
        try:
            cause = make_writes_fail(disk, first.pid)
        finally:
            os.kill(first.pid, signal.SIGCONT)
        _, stderr = first.communicate(timeout=600)
        assert first.returncode == 1 and "Traceback" not in stderr
        assert stderr.strip().splitlines()[-1] == (
            f"error: cannot write {folder / 'state_001.npz'} ({cause}): the completed steps are on disk; free "
            "space or make the folder writable, then run the same command to resume")
        assert len(read_accuracies(results)) == 1  # step 0, intact
        assert len(load_state(folder / "state_001.npz").accuracies) == 1
        assert not list(folder.glob("*.tmp"))

        (disk / "filler").unlink(missing_ok=True)
        resumed = run_script("run_mnist.py", *flags)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert "resumes after step 0" in resumed.stdout
        assert len(read_accuracies(results)) == 2
        assert [step["step"] for step in read_steps(folder / "steps_001.jsonl")] == [0, 1]  # step 1 once
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
