"""The run scripts' defaults are the paper's, written out here; plot_results' labeled counts agree with them."""
import runpy
import sys

import pytest

import plot_results
import quiet
from conftest import ROOT
from flags import COUNTS, RECORDED

PAPER_DEFAULTS = {  # docs/algorithm.md section 5, plus the strategy, the BALD passes, the repetitions and the seed
    "mnist": {"dataset": "mnist", "network": "SCNN", "nBatch": 32, "nEpoch": 50, "nValid": 5000, "nInit": 20,
              "nPool": 2000, "nQuery": 20, "nStep": 50, "nSample": 2000, "strategy": "ldms", "nMC": 20, "nRep": 5,
              "seed": 0},
    "cifar10": {"dataset": "cifar10", "network": "KCNN", "nBatch": 64, "nEpoch": 150, "nValid": 5000, "nInit": 200,
                "nPool": 4000, "nQuery": 400, "nStep": 24, "nSample": 4000, "strategy": "ldms", "nMC": 20,
                "nRep": 5, "seed": 0},
}


def defaults_and_types(values):
    """Return {flag: (value, its type's name)}, so that 32 and 32.0 or 0 and False differ."""
    return {name: (value, type(value).__name__) for name, value in values.items()}


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_the_parser_of_each_run_script_has_the_paper_defaults(dataset):
    import experiment

    parsed = vars(experiment.build_parser(dataset).parse_args([]))
    expected = PAPER_DEFAULTS[dataset]
    assert defaults_and_types({name: parsed[name] for name in expected}) == defaults_and_types(expected)


@pytest.mark.parametrize("script, dataset", [("run_mnist.py", "mnist"), ("run_cifar10.py", "cifar10")])
def test_each_run_script_runs_with_its_datasets_defaults(script, dataset, monkeypatch):
    import experiment

    received = []
    monkeypatch.setattr(experiment, "run", received.append)  # what main hands on after parsing, nothing run
    monkeypatch.setattr(quiet, "filter_stderr", lambda: None)  # pytest's own stderr stays as it is
    monkeypatch.setattr(sys, "argv", [script])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(ROOT / script), run_name="__main__")
    assert exited.value.code == 0 and len(received) == 1
    parsed = {name: getattr(received[0], name) for name in PAPER_DEFAULTS[dataset]}
    assert defaults_and_types(parsed) == defaults_and_types(PAPER_DEFAULTS[dataset])


def test_plots_count_labeled_samples_with_the_run_scripts_defaults():
    assert plot_results.DEFAULT_BUDGET == {"mnist": (20, 20), "cifar10": (200, 400)}  # (nInit, nQuery)


def test_counts_and_recorded_settings():
    assert COUNTS == ("nBatch", "nEpoch", "nValid", "nInit", "nPool", "nQuery", "nSample", "nMC", "nRep")
    assert "nRep" not in RECORDED and {"seed", "strategy", "nQuery", "nStep"} <= set(RECORDED)
