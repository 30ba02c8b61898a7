"""One table of run defaults: the run scripts' flags and plot_results' labeled counts agree with it."""
import pytest

import plot_results
from flags import COUNTS, RESUMED, defaults


@pytest.mark.parametrize("dataset, n_init, n_query", [("mnist", 20, 20), ("cifar10", 200, 400)])
def test_parser_and_plots_take_their_defaults_from_the_table(dataset, n_init, n_query):
    import experiment

    parsed = vars(experiment.build_parser(dataset).parse_args([]))
    assert {name: parsed[name] for name in defaults(dataset)} == defaults(dataset)
    assert (defaults(dataset)["nInit"], defaults(dataset)["nQuery"]) == (n_init, n_query)  # SPEC section 5
    assert plot_results.DEFAULT_BUDGET[dataset] == (n_init, n_query)


def test_counts_and_resumed_settings():
    assert COUNTS == ("nBatch", "nEpoch", "nValid", "nInit", "nPool", "nQuery", "nSample", "nMC", "nRep")
    assert "nRep" not in RESUMED and {"seed", "strategy", "nQuery", "nStep"} <= set(RESUMED)
