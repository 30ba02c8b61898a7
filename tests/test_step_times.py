"""bench/step_times.py reads the step lines the run scripts print, in the format they print them."""
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import experiment  # noqa: E402
import step_times  # noqa: E402


def log_of_a_run(strategy, steps):
    args = experiment.build_parser("cifar10").parse_args(["--strategy", strategy, "--nRep", "2", "--nStep", "1"])
    lines = experiment.describe_run(args, 50_000, 10_000)
    for rep, n_labeled, train, query_parts in steps:
        timings = {"training": train, "validation": 1.0, "test": 2.0} | query_parts
        if query_parts:
            timings["query"] = sum(query_parts.values())
        lines.append(experiment.step_line(rep, 0, args, n_labeled, 0.5, timings))
    return lines


def test_each_part_of_each_step_is_read_and_the_medians_are_per_labeled_count():
    lines = (log_of_a_run("ldms", [(0, 200, 10.0, {"features": 3.0, "estimation": 4.0, "seeding": 0.5}),
                                   (1, 200, 14.0, {"features": 5.0, "estimation": 6.0, "seeding": 0.5}),
                                   (0, 600, 30.0, {})])
             + ["E0000 an unrelated TensorFlow line", *log_of_a_run("random", [(0, 200, 11.0, {"features": 1.0})])])
    found = step_times.step_seconds(lines)
    assert set(found) == {("cifar10", "ldms"), ("cifar10", "random")}
    assert found[("cifar10", "ldms")][200][1] == pytest.approx(
        {"train": 14.0, "valid": 1.0, "test": 2.0, "query": 11.5, "features": 5.0, "estimation": 6.0, "seeding": 0.5})
    assert found[("cifar10", "ldms")][600] == [{"train": 30.0, "valid": 1.0, "test": 2.0, "query": 0.0}]
    table = step_times.tables(found)
    assert "| 200 | 2 | 12.0 | 1.0 | 2.0 | 9.5 | 4.0 | 5.0 | 0.5 | 24.5 |" in table  # medians; step = 4 parts
    assert "| 200 | 1 | 11.0 | 1.0 | 2.0 | 1.0 | 1.0 | 15.0 |" in table
