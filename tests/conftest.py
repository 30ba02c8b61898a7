"""Puts the project on sys.path, finds the shared datasets (../shared/data beside the clone), and holds the
helpers the test files share: tiny run settings, running a script, reading a results file."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LDMS_XP", "numpy")  # CI has no GPU; the GPU path is the same code on CuPy

SHARED_DATA = Path(os.environ.get("LDMS_SHARED_DATA", ROOT.parent / "shared" / "data"))
TINY = ["--nEpoch", "1", "--nStep", "2", "--nValid", "100", "--nPool", "200", "--nSample", "200",
        "--nQuery", "10", "--nRep", "1"]


@pytest.fixture(scope="session")
def shared_data():
    """The folder with the full mnist.npz and cifar-10-python.tar.gz."""
    assert (SHARED_DATA / "mnist.npz").is_file(), f"expected the shared datasets in {SHARED_DATA}"
    return SHARED_DATA


def script_command(script, *args):
    """Return the command line that runs ``script`` (relative to the project root) with ``args``."""
    return [sys.executable, str(ROOT / script), *map(str, args)]


def run_script(script, *args, cwd=None, env=None, timeout=600):
    """Run a project script to its end on NumPy; return the CompletedProcess with text stdout and stderr."""
    return subprocess.run(script_command(script, *args), capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=dict(os.environ if env is None else env, LDMS_XP="numpy"))


def read_accuracies(path):
    """Return the accuracies of a results file, checking the '%.5f' format of every line."""
    lines = Path(path).read_text().splitlines()
    assert all(len(line.split(".")[1]) == 5 for line in lines)  # '%.5f'
    return [float(line) for line in lines]


def assert_one_error_line(stderr, message):
    """Check that ``stderr`` is one line, 'error: ...', holding ``message`` (a user mistake's report)."""
    assert stderr.startswith("error: ") and message in stderr and stderr.count("\n") == 1, stderr
