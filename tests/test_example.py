"""The README's on-ramp, examples/own_model.py, in a reduced form."""
import re

import pytest

from conftest import run_script


@pytest.mark.slow
def test_own_model_example_runs_ldms_and_random_and_prints_each_round():
    result = run_script("examples/own_model.py", "--rounds", "1", "--epochs", "5", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""  # no framework notices
    rounds = re.findall(r"round (\d): (\d+) labeled \| test accuracy LDM-S (0\.\d{3}|1\.000) \| random (0\.\d{3}|1\.000)",
                        result.stdout)
    assert [(round_, labeled) for round_, labeled, _, _ in rounds] == [("0", "20"), ("1", "40")]
    assert rounds[0][2] == rounds[0][3]  # the same initial labeled set and seed: the same first model
    assert all(0.1 < float(accuracy) for _, _, *accuracies in rounds for accuracy in accuracies)
