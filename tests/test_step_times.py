"""bench/step_times.py reads the step logs (steps_NNN.jsonl) that runs write, as docs/results.md describes them."""
import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import step_times  # noqa: E402


def step_log(strategy, n_steps, steps):
    """Return the records of a run's step log: one per (rep, step, labeled, training seconds, query parts); a
    step before the last makes a query, whose seconds are its parts added up."""
    records = []
    for rep, step, n_labeled, train, query_parts in steps:
        seconds = {"training": train, "validation": 1.0, "test": 2.0} | query_parts
        if step < n_steps:
            seconds["query"] = sum(query_parts.values())
        records.append({"rep": rep + 1, "step": step, "labeled": n_labeled, "test_acc": 0.5, "seconds": seconds,
                        "dataset": "cifar10", "network": "KCNN", "strategy": strategy, "backend": "tensorflow"})
    return records


def write_log(path, records, torn=""):
    """Write ``records`` as a step log at ``path``, a line each, then ``torn`` (a line a crash cut short)."""
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records) + torn)


def test_each_part_of_each_step_is_read_and_the_medians_are_per_labeled_count(tmp_path, capsys):
    ldms = tmp_path / "cifar10_KCNN"
    write_log(ldms / "steps_001.jsonl", step_log("ldms", 1, [
        (0, 0, 200, 10.0, {"features": 3.0, "estimation": 4.0, "seeding": 0.5}), (0, 1, 600, 30.0, {})]))
    write_log(ldms / "steps_002.jsonl", step_log("ldms", 1, [
        (1, 0, 200, 14.0, {"features": 5.0, "estimation": 6.0, "seeding": 0.5})]), torn='{"rep": 2, "step": 1, "la')
    write_log(tmp_path / "elsewhere" / "steps_001.jsonl", step_log("random", 1, [(0, 0, 200, 11.0, {"features": 1.0})]))
    assert step_times.main([str(ldms), str(tmp_path / "elsewhere" / "steps_001.jsonl")]) == 0
    table = capsys.readouterr().out
    assert "| labeled | steps seen | training | validation | test | query | features | estimation | seeding | step |" \
        in table
    assert "| 200 | 2 | 12.0 | 1.0 | 2.0 | 9.5 | 4.0 | 5.0 | 0.5 | 24.5 |" in table  # medians; step = 4 parts
    assert "| 600 | 1 | 30.0 | 1.0 | 2.0 | 0.0 | 0.0 | 0.0 | 0.0 | 33.0 |" in table  # the last step: no query
    assert "| 200 | 1 | 11.0 | 1.0 | 2.0 | 1.0 | 1.0 | 15.0 |" in table  # random
    assert "cifar10, ldms: median seconds per step" in table and "cifar10, random: median seconds" in table


def test_paths_without_a_step_line_are_an_error(tmp_path, capsys):
    write_log(tmp_path / "steps_001.jsonl", [], torn='{"rep": 1, "st')
    assert step_times.main([str(tmp_path), str(tmp_path / "missing.jsonl")]) == 2
    assert capsys.readouterr().err == f"error: no step log line in {tmp_path}, {tmp_path / 'missing.jsonl'}\n"


def test_query_costs_per_strategy_at_the_smallest_and_largest_labeled_count_all_strategies_queried_at():
    ldms = [(0, 0, 200, 10.0, {"features": 3.0, "estimation": 4.0, "seeding": 0.5}),
            (0, 1, 600, 20.0, {"features": 4.0, "estimation": 9.0, "seeding": 1.0}),
            (0, 2, 1000, 30.0, {}),  # the last step makes no query
            (1, 0, 200, 12.0, {"features": 5.0, "estimation": 6.0, "seeding": 0.5}),
            (1, 1, 600, 24.0, {"features": 6.0, "estimation": 11.0, "seeding": 1.0})]
    random_rep_1 = [(0, 0, 200, 11.0, {"features": 0.2}), (0, 1, 600, 21.0, {"features": 0.4}),
                    (0, 2, 1000, 33.0, {"features": 0.6})]  # a run with more steps queries at 1,000 too
    random_rep_2 = [(1, 0, 200, 13.0, {"features": 0.4}), (1, 1, 600, 23.0, {"features": 0.6})]
    records = step_log("ldms", 2, ldms) + step_log("random", 3, random_rep_1) + step_log("random", 3, random_rep_2)
    rows = step_times.query_costs(step_times.step_seconds(records)).splitlines()
    assert rows == [
        "| dataset | strategy | labeled | steps seen | query | model arrays | selection | train |",
        "|---|---|---|---|---|---|---|---|",
        # queries of 7.5 and 11.5 s, of which features 3 and 5: medians 9.5 and 4.0, selection (4.5 + 6.5) / 2
        "| cifar10 | ldms | 200 | 2 | 9.5 | 4.0 | 5.5 | 11.0 |",
        "| cifar10 | ldms | 600 | 2 | 16.0 | 5.0 | 11.0 | 22.0 |",  # queries of 14 and 18 s
        "| cifar10 | random | 200 | 2 | 0.3 | 0.3 | 0.0 | 12.0 |",
        "| cifar10 | random | 600 | 2 | 0.5 | 0.5 | 0.0 | 22.0 |",  # not 1,000, where only random queried
    ]
    alone = step_times.query_costs(step_times.step_seconds(step_log("random", 3, random_rep_1)))
    assert alone.splitlines()[-1] == "| cifar10 | random | 1,000 | 1 | 0.6 | 0.6 | 0.0 | 33.0 |"
