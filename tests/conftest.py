"""Puts the project on sys.path, finds the datasets the way the run scripts do (LDMS_DATA_DIR, else the Keras
cache, downloading once), and holds the helpers the test files share: tiny run settings, running a script,
reading a results file."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LDMS_XP", "numpy")  # CI has no GPU; the GPU path is the same code on CuPy
import backend  # noqa: E402

backend.configure()  # what a run does when it starts: the tests that train in this process train as a run does

NO_DATA = ("the tests need MNIST and CIFAR-10: set LDMS_DATA_DIR to a folder holding mnist.npz and "
           "cifar-10-python.tar.gz (or cifar-10-batches-py/), as Keras downloads them, or run once with internet "
           "so that keras.datasets caches them")
TINY = ["--nEpoch", "1", "--nStep", "2", "--nValid", "100", "--nPool", "200", "--nSample", "200",
        "--nQuery", "10", "--nRep", "1"]


@pytest.fixture(scope="session")
def found_datasets(tmp_path_factory):
    """Return (folder with full MNIST and CIFAR-10 as the run scripts' --data-dir reads them, None), or (None,
    what is missing): LDMS_DATA_DIR when it is set, else the Keras cache (filled by a download if need be)."""
    if os.environ.get("LDMS_DATA_DIR"):
        folder = Path(os.environ["LDMS_DATA_DIR"])
        has_cifar = (folder / "cifar-10-python.tar.gz").is_file() or (folder / "cifar-10-batches-py").is_dir()
        if (folder / "mnist.npz").is_file() and has_cifar:
            return folder, None
        return None, f"LDMS_DATA_DIR={folder} lacks mnist.npz or CIFAR-10; {NO_DATA}"
    import keras  # the Keras cache, as a run without --data-dir uses it

    try:
        keras.datasets.mnist.load_data()
        keras.datasets.cifar10.load_data()
    except Exception as error:  # no network, or a broken cache: Keras raises a bare Exception
        return None, f"keras.datasets could not fetch the data ({' '.join(str(error).split())[:200]}); {NO_DATA}"
    cache = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"
    folder = tmp_path_factory.mktemp("datasets")
    (folder / "mnist.npz").symlink_to(cache / "mnist.npz")
    (folder / "cifar-10-batches-py").symlink_to(cache / "cifar-10-batches-py-target" / "cifar-10-batches-py")
    return folder, None


_failed_already = []


@pytest.fixture
def data_dir(found_datasets):
    """The datasets' folder. Without one, the first test that needs it fails with the way to provide it and
    the others are skipped, so the report holds one message, not one error per test."""
    folder, problem = found_datasets
    if problem and _failed_already:
        pytest.skip("no datasets (see the one failure that says how to provide them)")
    if problem:
        _failed_already.append(problem)
        pytest.fail(problem, pytrace=False)
    return folder


_loaded = {}


def load_dataset_once(name, data_dir=None):
    """Return data.load_dataset(name, data_dir), loaded once per test session and made read-only (a run or a
    test must not change it)."""
    from data import load_dataset

    key = (name, str(data_dir))
    if key not in _loaded:
        _loaded[key] = load_dataset(name, data_dir)
        for X, y in _loaded[key][:2]:
            X.flags.writeable = y.flags.writeable = False
    return _loaded[key]


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
