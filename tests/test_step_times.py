"""bench/step_times.py reads the step lines the run scripts print, in the format they print them."""
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import experiment  # noqa: E402
import step_times  # noqa: E402


def log_of_a_run(strategy, n_steps, steps):
    """Return the lines a run prints: its settings lines, then one step line per (rep, step, labeled, training
    seconds, query parts); a step before the last makes a query, whose seconds are its parts added up."""
    args = experiment.build_parser("cifar10").parse_args(
        ["--strategy", strategy, "--nRep", "2", "--nStep", str(n_steps)])
    lines = experiment.describe_run(args, 50_000, 10_000)
    for rep, step, n_labeled, train, query_parts in steps:
        timings = {"training": train, "validation": 1.0, "test": 2.0} | query_parts
        if step < n_steps:
            timings["query"] = sum(query_parts.values())
        lines.append(experiment.step_line(rep, step, args, n_labeled, 0.5, timings))
    return lines


def test_each_part_of_each_step_is_read_and_the_medians_are_per_labeled_count():
    logs = [log_of_a_run("ldms", 1, [(0, 0, 200, 10.0, {"features": 3.0, "estimation": 4.0, "seeding": 0.5}),
                                     (1, 0, 200, 14.0, {"features": 5.0, "estimation": 6.0, "seeding": 0.5}),
                                     (0, 1, 600, 30.0, {})]),
            ["E0000 an unrelated TensorFlow line", *log_of_a_run("random", 1, [(0, 0, 200, 11.0, {"features": 1.0})])]]
    found = step_times.step_seconds(logs)
    assert set(found) == {("cifar10", "ldms"), ("cifar10", "random")}
    assert found[("cifar10", "ldms")][200][1] == pytest.approx(
        {"train": 14.0, "valid": 1.0, "test": 2.0, "query": 11.5, "features": 5.0, "estimation": 6.0, "seeding": 0.5})
    assert found[("cifar10", "ldms")][600] == [{"train": 30.0, "valid": 1.0, "test": 2.0}]  # the last step: no query
    table = step_times.tables(found)
    assert "| 200 | 2 | 12.0 | 1.0 | 2.0 | 9.5 | 4.0 | 5.0 | 0.5 | 24.5 |" in table  # medians; step = 4 parts
    assert "| 600 | 1 | 30.0 | 1.0 | 2.0 | 0.0 | 0.0 | 0.0 | 0.0 | 33.0 |" in table
    assert "| 200 | 1 | 11.0 | 1.0 | 2.0 | 1.0 | 1.0 | 15.0 |" in table


def test_a_log_without_its_settings_line_is_not_taken_for_the_previous_run():
    headless = log_of_a_run("entropy", 1, [(0, 0, 200, 9.0, {"features": 1.0})])[4:]
    found = step_times.step_seconds([log_of_a_run("ldms", 1, []), headless])
    assert set(found) == {("?", "?")}


def test_query_costs_per_strategy_at_the_smallest_and_largest_labeled_count_all_strategies_queried_at():
    ldms = [(0, 0, 200, 10.0, {"features": 3.0, "estimation": 4.0, "seeding": 0.5}),
            (0, 1, 600, 20.0, {"features": 4.0, "estimation": 9.0, "seeding": 1.0}),
            (0, 2, 1000, 30.0, {}),  # the last step makes no query
            (1, 0, 200, 12.0, {"features": 5.0, "estimation": 6.0, "seeding": 0.5}),
            (1, 1, 600, 24.0, {"features": 6.0, "estimation": 11.0, "seeding": 1.0})]
    random_rep_1 = [(0, 0, 200, 11.0, {"features": 0.2}), (0, 1, 600, 21.0, {"features": 0.4}),
                    (0, 2, 1000, 33.0, {"features": 0.6})]  # a run with more steps queries at 1,000 too
    random_rep_2 = [(1, 0, 200, 13.0, {"features": 0.4}), (1, 1, 600, 23.0, {"features": 0.6})]
    logs = [log_of_a_run("ldms", 2, ldms), log_of_a_run("random", 3, random_rep_1),
            log_of_a_run("random", 3, random_rep_2)]
    rows = step_times.query_costs(step_times.step_seconds(logs)).splitlines()
    assert rows == [
        "| dataset | strategy | labeled | steps seen | query | model arrays | selection | train |",
        "|---|---|---|---|---|---|---|---|",
        # queries of 7.5 and 11.5 s, of which features 3 and 5: medians 9.5 and 4.0, selection (4.5 + 6.5) / 2
        "| cifar10 | ldms | 200 | 2 | 9.5 | 4.0 | 5.5 | 11.0 |",
        "| cifar10 | ldms | 600 | 2 | 16.0 | 5.0 | 11.0 | 22.0 |",  # queries of 14 and 18 s
        "| cifar10 | random | 200 | 2 | 0.3 | 0.3 | 0.0 | 12.0 |",
        "| cifar10 | random | 600 | 2 | 0.5 | 0.5 | 0.0 | 22.0 |",  # not 1,000, where only random queried
    ]
    alone = step_times.query_costs(step_times.step_seconds([log_of_a_run("random", 3, random_rep_1)]))
    assert alone.splitlines()[-1] == "| cifar10 | random | 1,000 | 1 | 0.6 | 0.6 | 0.0 | 33.0 |"
