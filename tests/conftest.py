"""Puts the project on sys.path and finds the shared datasets (../shared/data beside the clone)."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LDMS_XP", "numpy")  # CI has no GPU; the GPU path is the same code on CuPy

SHARED_DATA = Path(os.environ.get("LDMS_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data():
    """The folder with the full mnist.npz and cifar-10-python.tar.gz."""
    assert (SHARED_DATA / "mnist.npz").is_file(), f"expected the shared datasets in {SHARED_DATA}"
    return SHARED_DATA
