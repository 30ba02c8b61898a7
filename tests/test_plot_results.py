"""plot_results.py on small hand-written result folders: reading, statistics, notes and the command line."""
import csv
import json

import numpy as np
import pytest

import plot_results as pr

# 4 repetitions x 5 steps; row r is repetition r + 1
BASE = np.array([
    [0.50, 0.60, 0.70, 0.75, 0.80],
    [0.52, 0.58, 0.69, 0.77, 0.79],
    [0.49, 0.61, 0.72, 0.74, 0.82],
    [0.51, 0.59, 0.71, 0.76, 0.81],
])
BETTER = BASE + np.array([[0.00, 0.05, 0.06, 0.04, 0.05],
                          [0.00, 0.06, 0.05, 0.05, 0.04],
                          [0.00, 0.05, 0.05, 0.05, 0.05],
                          [0.00, 0.04, 0.06, 0.05, 0.04]])


def write_folder(root, name, curves, settings=None):
    """Write curves (one row per repetition, rows may differ in length) as test_accs_NNN.txt files."""
    folder = root / name
    folder.mkdir(parents=True)
    for rep, accs in enumerate(curves, 1):
        (folder / f"test_accs_{rep:03d}.txt").write_text("".join(f"{acc:.5f}\n" for acc in accs))
    if settings is not None:
        (folder / "settings.json").write_text(json.dumps(settings))
    return folder


def write_file(tmp_path, text):
    path = tmp_path / "test_accs_001.txt"
    path.write_text(text)
    return path


# Reading


def test_reader_accepts_good_files(tmp_path):
    assert pr.read_accuracies(write_file(tmp_path, "0.57360\n1.00000\n0.00000\n")).tolist() == [0.5736, 1.0, 0.0]
    assert pr.read_accuracies(write_file(tmp_path, "0.57360\n0.60000")).tolist() == [0.5736, 0.6]  # no final newline
    assert pr.read_accuracies(write_file(tmp_path, "0.57360\n\n")).tolist() == [0.5736]  # blank lines at the end


@pytest.mark.parametrize("text, line, problem", [
    ("0.50000\nabc\n", 2, "not a number: 'abc'"),
    ("0.50000\n0.60000\n1.20000\n", 3, "accuracy 1.20000 is outside [0, 1]"),
    ("-0.10000\n", 1, "accuracy -0.10000 is outside [0, 1]"),
    ("nan\n", 1, "accuracy nan is outside [0, 1]"),
    ("0.50000\n\n0.60000\n", 2, "blank line before the end of the file"),
    ("0.50000\n0.60000\n0.7000\n", 3, "not written with 5 decimals like 0.57360: '0.7000'"),
    ("0.500000\n", 1, "not written with 5 decimals"),
    ("", 1, "empty file"),
])
def test_reader_names_file_and_line_of_malformed_files(tmp_path, text, line, problem):
    path = write_file(tmp_path, text)
    with pytest.raises(pr.UserError) as caught:
        pr.read_accuracies(path)
    assert str(caught.value).startswith(f"{path}:{line}: {problem}")


def test_settings_come_from_the_folder_name_or_settings_json(tmp_path):
    run = pr.read_run(write_folder(tmp_path, "mnist_SCNN_least_confidence", [[0.1, 0.2]]))
    assert (run.dataset, run.network, run.strategy, run.n_init, run.n_query) == (
        "mnist", "SCNN", "least_confidence", 20, 20)
    run = pr.read_run(write_folder(tmp_path, "cifar10_KCNN", [[0.1, 0.2]]))
    assert (run.strategy, run.n_init, run.n_query) == ("ldms", 200, 400)
    settings = dict(dataset="mnist", network="SCNN", strategy="entropy", nInit=10, nQuery=5, nStep=2)
    run = pr.read_run(write_folder(tmp_path, "anything", [[0.1, 0.2, 0.3]], settings))
    assert (run.strategy, run.n_init, run.n_query) == ("entropy", 10, 5)
    assert pr.labeled_counts(run, 3).tolist() == [10, 15, 20]
    (tmp_path / "mnist_SCNN" / "test_accs_002.txt.tmp").mkdir(parents=True)  # not a result file
    with pytest.raises(pr.UserError, match="no result files"):
        pr.read_run(tmp_path / "mnist_SCNN")


def test_other_files_are_ignored(tmp_path):
    folder = write_folder(tmp_path, "mnist_SCNN", [[0.1, 0.2], [0.3, 0.4]])
    (folder / "state_001.npz").write_bytes(b"\0")
    (folder / "test_accs_003.txt.tmp").write_text("garbage\n")
    assert sorted(pr.read_run(folder).curves) == [1, 2]


# Statistics


def test_summary_mean_over_steps_and_final_step():
    accs = np.array([[0.1, 0.2, 0.3, 0.4], [0.2, 0.3, 0.4, 0.5], [0.3, 0.4, 0.5, 0.6]])
    mean, mean_std, final, final_std, n = pr.summary(accs)
    # per-repetition means 0.25, 0.35, 0.45; final steps 0.4, 0.5, 0.6; both sample stds are 0.1
    assert (mean, final, n) == (pytest.approx(0.35), pytest.approx(0.5), 3)
    assert (mean_std, final_std) == (pytest.approx(0.1), pytest.approx(0.1))
    assert np.isnan(pr.summary(accs[:1])[1])  # one repetition: no std


def test_win_tie_loss_and_penalty_matrix():
    five = np.vstack([BASE, BASE[:1] + 0.005])  # 5 repetitions
    better = np.vstack([BETTER, BETTER[:1] + 0.005])
    better[:, 0] += [0.10, 0.11, 0.09, 0.12, 0.10]  # step 0 is better too, with noise
    stacks = [(np.arange(1, 6), better), (np.arange(1, 6), five), (np.arange(1, 6), five.copy())]
    outcomes, untestable = pr.outcome_matrix(stacks)
    wins, ties, losses = pr.win_tie_loss(outcomes)
    assert untestable == []
    assert (wins[0, 1], ties[0, 1], losses[0, 1]) == (5, 0, 0)  # clearly better at every step
    assert (wins[1, 0], ties[1, 0], losses[1, 0]) == (0, 0, 5)
    assert (wins[1, 2], ties[1, 2], losses[1, 2]) == (0, 5, 0)  # identical pair: nan p-values are ties
    np.testing.assert_allclose(pr.penalty_matrix(outcomes), [[0, 1, 1], [0, 0, 0], [0, 0, 0], [0, 0.5, 0.5]])


def test_noisy_differences_tie_and_too_few_common_repetitions_are_ties():
    a = np.array([[0.50], [0.60], [0.40], [0.55]])
    b = np.array([[0.52], [0.57], [0.43], [0.54]])
    assert pr.paired_outcomes(a, b).tolist() == [0]
    outcomes, untestable = pr.outcome_matrix([(np.array([1, 2]), BETTER[:2]), (np.array([2, 3]), BASE[1:3])])
    assert untestable == [(0, 1)] and not outcomes.any()


def test_paired_tests_pair_by_repetition_number():
    # repetitions 1..4 of a, 2..5 of b: only 2, 3, 4 are compared, row by row
    a = np.array([[0.1], [0.5], [0.6], [0.7]])
    b = np.array([[0.49], [0.588], [0.689], [0.99]])
    outcomes, _ = pr.outcome_matrix([(np.array([1, 2, 3, 4]), a), (np.array([2, 3, 4, 5]), b)])
    assert outcomes[0, 1].tolist() == [1]


def test_performance_profile_fractions():
    group_1 = {"x": np.array([0.5, 0.8]), "y": np.array([0.4, 0.8]), "z": np.array([0.5, 0.4])}
    group_2 = {"x": np.array([0.5, 0.6]), "y": np.array([0.55, 0.6])}  # z did not run here
    ratios = pr.profile_ratios([group_1, group_2])
    np.testing.assert_allclose(ratios["x"], [1, 1, 1.1, 1])
    np.testing.assert_allclose(ratios["y"], [1.25, 1, 1, 1])
    np.testing.assert_allclose(ratios["z"], [1, 2, np.inf, np.inf])
    taus = [1.0, 1.15, 1.3, 2.5]
    assert pr.profile_fractions(ratios["x"], taus).tolist() == [0.75, 1, 1, 1]
    assert pr.profile_fractions(ratios["y"], taus).tolist() == [0.75, 0.75, 1, 1]
    assert pr.profile_fractions(ratios["z"], taus).tolist() == [0.25, 0.25, 0.25, 0.5]


def test_step0_disagreements():
    step0 = {"ldms": np.array([0.50, 0.52, 0.51, 0.53]), "random": np.array([0.51, 0.50, 0.52, 0.52]),
             "entropy": np.array([0.80, 0.81, 0.79, 0.80])}
    disagreements = pr.step0_disagreements(step0)
    assert disagreements == {"ldms": ["entropy"], "random": ["entropy"], "entropy": ["ldms", "random"]}
    assert pr.step0_off(disagreements) == ["entropy"]
    # standard error of ldms - random: sqrt(0.01291^2 / 4 + 0.00957^2 / 4) = 0.00804; 0.0075 apart is within 2
    assert pr.step0_off(pr.step0_disagreements({"ldms": step0["ldms"], "random": step0["random"]})) == []


# Notes and the command line


def test_unfinished_repetition_is_dropped_with_a_note(tmp_path):
    runs = [pr.read_run(write_folder(tmp_path, "mnist_SCNN", [BASE[0], BASE[1], BASE[2, :3]])),
            pr.read_run(write_folder(tmp_path, "mnist_SCNN_random", BASE[:3]))]
    aligned, notes = pr.align_lengths(runs)
    assert sorted(aligned[0].curves) == [1, 2] and sorted(aligned[1].curves) == [1, 2, 3]
    assert notes == [f"note: dropped repetitions shorter than the group's common 5 steps: "
                     f"{tmp_path / 'mnist_SCNN' / 'test_accs_003.txt'} (3 steps)"]
    assert pr.missing_repetition_notes(aligned) == [
        f"note: {tmp_path / 'mnist_SCNN'} has no repetition 3 (its group has 3): its statistics use its 2 "
        "repetitions, the paired tests the repetitions both strategies have"]


def test_unfinished_strategy_truncates_the_group_with_a_note(tmp_path):
    runs = [pr.read_run(write_folder(tmp_path, "mnist_SCNN", BASE[:2])),
            pr.read_run(write_folder(tmp_path, "mnist_SCNN_random", BASE[:2, :4]))]
    aligned, notes = pr.align_lengths(runs)
    assert all(len(accs) == 4 for run in aligned for accs in run.curves.values())
    assert len(notes) == 1 and notes[0].startswith("note: truncated to 4 steps, the most that random reached: ")
    assert "test_accs_001.txt (5 steps)" in notes[0] and "test_accs_002.txt (5 steps)" in notes[0]


def test_step0_warning_only_for_the_strategy_that_is_off(tmp_path, capsys):
    broken = BASE.copy()
    broken[:, 0] += 0.3
    for name, curves in [("mnist_SCNN", BETTER), ("mnist_SCNN_random", BASE), ("mnist_SCNN_entropy", broken)]:
        write_folder(tmp_path, name, curves)
    assert pr.main([str(tmp_path / name) for name in ("mnist_SCNN", "mnist_SCNN_random", "mnist_SCNN_entropy")]
                   + ["--out", str(tmp_path / "out")]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: mnist SCNN: entropy's step-0 accuracy")


def test_cli_end_to_end(tmp_path, capsys, monkeypatch):
    write_folder(tmp_path / "results", "mnist_SCNN", BETTER)
    write_folder(tmp_path / "results", "mnist_SCNN_random", BASE)
    write_folder(tmp_path / "results", "mnist_SCNN_entropy", [BASE[0], BASE[1], BASE[2, :2], BASE[3]])
    write_folder(tmp_path / "results", "cifar10_KCNN", BETTER[:3, :4])
    write_folder(tmp_path / "results", "cifar10_KCNN_random", BASE[:3, :4])
    monkeypatch.chdir(tmp_path)  # without folders, every folder under results/ is read
    assert pr.main(["--out", "figures"]) == 0
    out, err = capsys.readouterr()
    written = {path.name for path in (tmp_path / "figures").iterdir() if path.stat().st_size > 0}
    for group in ("mnist_SCNN", "cifar10_KCNN"):
        assert {f"curves_{group}.png", f"curves_{group}.pdf", f"table_{group}.md", f"table_{group}.csv",
                f"penalty_{group}.png"} <= written
    assert "profile.png" in written
    with open(tmp_path / "figures" / "table_mnist_SCNN.csv") as file:
        rows = {row["strategy"]: row for row in csv.DictReader(file)}
    assert rows["random"]["repetitions"] == "4" and rows["entropy"]["repetitions"] == "3"
    assert float(rows["random"]["final_accuracy"]) == pytest.approx(BASE[:, -1].mean(), abs=1e-6)
    assert float(rows["random"]["mean_accuracy_std"]) == pytest.approx(BASE.mean(axis=1).std(ddof=1), abs=1e-6)
    assert rows["ldms"]["final_labeled"] == "100"  # 20 + 4 * 20
    assert "| ldms | 4/1/0 | - | 4/1/0 |" in out  # better from step 1 on; step 0 is the same
    assert "## Performance profile" in out
    assert (tmp_path / "figures" / "table_mnist_SCNN.md").read_text().count("\n| ") == 4  # header + 3 rows
    assert "note: dropped repetitions" in err and "results/mnist_SCNN_entropy/test_accs_003.txt (2 steps)" in err
    assert "has no repetition 3" in err and "warning:" not in err
    assert "note: entropy has no results on cifar10 KCNN: the performance profile counts" in err


def test_cli_reports_malformed_file_with_exit_code_2(tmp_path, capsys):
    folder = write_folder(tmp_path, "mnist_SCNN", BASE[:2])
    (folder / "test_accs_002.txt").write_text("0.50000\n0.6\n")
    assert pr.main([str(folder), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {folder / 'test_accs_002.txt'}:2: not written with 5 decimals like 0.57360: '0.6'\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("make, message", [
    (lambda root: root / "missing", "no such folder"),
    (lambda root: root, "no result files"),
    (lambda root: write_folder(root, "mnist_SCNN", []), "no result files"),
])
def test_cli_reports_missing_or_empty_folders_with_exit_code_2(tmp_path, capsys, make, message):
    assert pr.main([str(make(tmp_path)), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_cli_without_results_root_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert pr.main([]) == 2
    err = capsys.readouterr().err
    assert err == "error: results: no such folder (name result folders, or run an experiment first)\n"


def test_duplicate_strategy_is_an_error_and_different_budgets_a_warning(tmp_path):
    settings = dict(dataset="mnist", network="SCNN", strategy="random", nInit=10, nQuery=5, nStep=1)
    runs = [pr.read_run(write_folder(tmp_path, "mnist_SCNN_random", [[0.1, 0.2]])),
            pr.read_run(write_folder(tmp_path, "other", [[0.1, 0.2]], settings))]
    with pytest.raises(pr.UserError, match="both hold random on mnist SCNN"):
        pr.group_runs(runs)
    runs[1] = pr.read_run(write_folder(tmp_path, "third", [[0.1, 0.2]], dict(settings, strategy="entropy")))
    (warning,) = pr.budget_warnings(runs)
    assert warning.startswith("warning: mnist SCNN: strategies with different budgets (random nInit=20 nQuery=20, "
                              "entropy nInit=10 nQuery=5)")


# Label savings

# mean curves at 40, 80, 120, 160 and 200 labels; random's 0.8 at 120 is a 3-repetition mean just below 0.8 in floats
COUNTS = np.array([40, 80, 120, 160, 200])
RANDOM_REPS = np.array([[0.50, 0.70, 0.78, 0.84, 0.86],
                        [0.50, 0.70, 0.80, 0.84, 0.86],
                        [0.50, 0.70, 0.82, 0.84, 0.86]])
LDMS_MEAN = np.array([0.50, 0.80, 0.85, 0.90, 0.91])
ENTROPY_MEAN = np.array([0.50, 0.60, 0.80, 0.81, 0.83])


def test_labels_to_reach_each_level_and_the_saving_against_random():
    means = {"ldms": LDMS_MEAN, "random": RANDOM_REPS.mean(axis=0), "entropy": ENTROPY_MEAN}
    assert means["random"][2] < 0.8  # 0.7999999999999999, which reaches 0.8 all the same
    records = pr.reach_records({strategy: COUNTS for strategy in means}, means, [0.8, 0.84, 0.9])
    cells = {(strategy, level): pr.reach_cell(labels, final, ratio)
             for strategy, level, labels, final, ratio in records}
    assert cells == {
        ("ldms", 0.8): "80 (1.50x)",  # random 120 / ldms 80
        ("ldms", 0.84): "120 (1.33x)",  # 160 / 120
        ("ldms", 0.9): "160 (> 1.25x)",  # random never reaches 0.9: it needs more than its 200
        ("random", 0.8): "120 (1.00x)",
        ("random", 0.84): "160 (1.00x)",
        ("random", 0.9): "not reached by 200 labels",
        ("entropy", 0.8): "120 (1.00x)",  # a tie with random
        ("entropy", 0.84): "not reached by 200 labels (< 0.80x)",  # random 160 / more than 200
        ("entropy", 0.9): "not reached by 200 labels",  # neither reaches it
    }
    assert pr.labels_to_reach(COUNTS, np.array([0.5, 0.9, 0.7, 0.8, 0.95]), 0.8) == 80  # the first, dips aside
    without_random = pr.reach_records({"ldms": COUNTS}, {"ldms": LDMS_MEAN}, [0.85])
    assert without_random == [("ldms", 0.85, 120, 200, None)]


@pytest.mark.parametrize("lowest, highest, levels", [
    ((0.5274, 0.5274, 0.5274), (0.9159, 0.8707, 0.8978), [0.6, 0.7, 0.8]),  # 0.1 apart gives 3
    ((0.3205, 0.3205), (0.5313, 0.5051), [0.35, 0.4, 0.45, 0.5]),  # 0.1 apart gives 2: 0.05 apart
    ((0.801, 0.75), (0.941, 0.96), [0.82, 0.86, 0.9, 0.94]),  # 0.82..0.94 every 0.02 is 7: every other one
    ((0.6, 0.55), (0.8, 0.9), [0.65, 0.7, 0.75, 0.8]),  # 0.6 is not above the lowest point, 0.8 is reached
    ((0.8001, 0.8), (0.8015, 0.9), [0.801]),  # even 0.001 apart gives only one
    ((0.5, 0.7), (0.6, 0.8), []),  # the curves share no range
])
def test_default_levels_are_round_and_inside_the_range_every_curve_covers(lowest, highest, levels):
    curves = [np.array([low, (low + high) / 2, high]) for low, high in zip(lowest, highest)]
    assert pr.default_levels(curves) == levels


def test_savings_table_at_default_levels_and_the_cli_at_named_ones(tmp_path, capsys):
    settings = dict(dataset="mnist", network="SCNN", nInit=40, nQuery=40)
    folders = [write_folder(tmp_path, "entropy", [ENTROPY_MEAN] * 2, dict(settings, strategy="entropy")),
               write_folder(tmp_path, "ldms", [LDMS_MEAN] * 2, dict(settings, strategy="ldms")),
               write_folder(tmp_path, "random", RANDOM_REPS, dict(settings, strategy="random"))]
    runs = [pr.read_run(folder) for folder in folders]
    pr.report_savings(runs, {run.strategy: pr.stacked(run) for run in runs}, [], tmp_path / "savings")
    table = (tmp_path / "savings.md").read_text()
    # every curve covers 0.50 to 0.83: 0.6, 0.7 and 0.8
    assert table.endswith("| strategy | reach 0.6 | reach 0.7 | reach 0.8 |\n|---|---|---|---|\n"
                          "| entropy | 80 (1.00x) | 120 (0.67x) | 120 (1.00x) |\n"
                          "| ldms | 80 (1.00x) | 80 (1.00x) | 80 (1.50x) |\n"
                          "| random | 80 (1.00x) | 80 (1.00x) | 120 (1.00x) |\n")
    assert table.split("\n\n")[1] in capsys.readouterr().out
    assert pr.main([*map(str, folders), "--out", str(tmp_path / "out"), "--reach", "0.9", "0.8"]) == 0
    with open(tmp_path / "out" / "savings_mnist_SCNN.csv") as file:
        rows = list(csv.reader(file))
    assert rows == [["strategy", "level", "labels", "final_labeled", "saving"],
                    ["entropy", "0.8", "120", "200", "1.000000"], ["entropy", "0.9", "", "200", ""],
                    ["ldms", "0.8", "80", "200", "1.500000"], ["ldms", "0.9", "160", "200", "> 1.250000"],
                    ["random", "0.8", "120", "200", "1.000000"], ["random", "0.9", "", "200", ""]]
    with pytest.raises(SystemExit):
        pr.parse_args(["--reach", "80"])
