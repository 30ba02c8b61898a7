"""What a user sees: progress bars on a terminal (a real pseudo-terminal), none in a log file; and importing the
project's modules leaves the caller's process as it was."""
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from conftest import ROOT, TINY, script_command


def run_on_a_terminal(command, env, columns=120):
    """Run ``command`` with stdin, stdout and stderr on a new pseudo-terminal of ``columns`` columns; return
    (exit code, every byte the terminal received)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))  # a fresh one has 0 columns
    process = subprocess.Popen(command, stdin=terminal, stdout=terminal, stderr=terminal, env=env, cwd=ROOT)
    os.close(terminal)
    received = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        received += chunk
    os.close(controller)
    return process.wait(timeout=600), received


@pytest.mark.slow
def test_a_run_on_a_terminal_shows_progress_bars_and_a_log_file_gets_none(tmp_path, data_dir):
    command = script_command("run_mnist.py", *TINY, "--data-dir", data_dir, "--out", tmp_path / "terminal")
    env = dict(os.environ, LDMS_XP="numpy")
    code, seen = run_on_a_terminal(command, env)
    assert code == 0, seen.decode(errors="replace")[-2000:]
    for bar in (b"epochs: 100%|", b"LDM sigma grid:", b"LDM-S seeding:"):  # tqdm's bars, drawn in place
        assert bar in seen, seen.decode(errors="replace")[-2000:]
    assert b"\r" in seen and b"NodeDef mentions attribute use_unbounded_threadpool" not in seen

    log = tmp_path / "run.log"
    with open(log, "wb") as file:
        code = subprocess.run(command[:-1] + [str(tmp_path / "file")], stdout=file, stderr=subprocess.STDOUT, env=env, cwd=ROOT, timeout=600).returncode
    written = log.read_bytes()
    assert code == 0 and b"rep 1/1 step 2/2" in written
    assert b"\r" not in written and b"epochs" not in written and b"%|" not in written


IMPORT_CHECK = """
import json, os, sys
before = (sys.stderr, os.fstat(2).st_ino)
import {modules}
import tensorflow as tf
from tensorflow.python.framework.config import is_op_determinism_enabled
print(json.dumps({{"stderr_kept": (sys.stderr, os.fstat(2).st_ino) == before,
                  "determinism": is_op_determinism_enabled(),
                  "tf32": tf.config.experimental.tensor_float_32_execution_enabled()}}))
"""


@pytest.mark.slow
def test_importing_the_modules_changes_nothing_in_the_callers_process():
    program = IMPORT_CHECK.format(modules="ldm, strategies, models, experiment")
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    # TensorFlow's own defaults: ops not forced deterministic, TF32 allowed
    assert json.loads(result.stdout.splitlines()[-1]) == {"stderr_kept": True, "determinism": False, "tf32": True}


def test_a_bad_keras_backend_does_not_exit_an_importing_program():
    program = "import backend, ldm, strategies\nprint(backend.problem())\n"
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env=dict(os.environ, KERAS_BACKEND="theano"))
    assert result.returncode == 0
    assert result.stdout == "KERAS_BACKEND must be one of tensorflow, jax, torch, got 'theano'\n"
