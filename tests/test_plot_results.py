"""plot_results.py on small hand-written result folders: reading, notes, the tables it writes and the command line
(the statistics behind them are tested on arrays in test_stats.py)."""
import csv
import json

import pytest

import plot_results as pr
from test_stats import BASE, BETTER, ENTROPY_MEAN, LDMS_MEAN, RANDOM_REPS


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


def test_folder_settings_from_the_name_need_a_known_dataset(tmp_path):
    assert pr.folder_settings(tmp_path / "cifar10_KCNN_badge") == {
        "dataset": "cifar10", "network": "KCNN", "strategy": "badge", "nInit": 200, "nQuery": 400}
    assert pr.folder_settings(tmp_path / "mnist_SCNN")["strategy"] == "ldms"
    for name in ("svhn_SCNN", "mnist", "mnist__entropy"):
        with pytest.raises(pr.UserError) as caught:
            pr.folder_settings(tmp_path / name)
        assert str(caught.value) == (f"{tmp_path / name}: no settings.json, and the name is not "
                                     "{dataset}_{network}[_{strategy}] with dataset mnist or cifar10")


def test_other_files_are_ignored(tmp_path):
    folder = write_folder(tmp_path, "mnist_SCNN", [[0.1, 0.2], [0.3, 0.4]])
    (folder / "state_001.npz").write_bytes(b"\0")
    (folder / "test_accs_003.txt.tmp").write_text("garbage\n")
    assert sorted(pr.read_run(folder).curves) == [1, 2]


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
                f"penalty_{group}.png", f"penalty_{group}.md", f"penalty_{group}.csv"} <= written
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


def test_penalty_matrix_written_as_a_table_next_to_its_figure(tmp_path):
    folders = [write_folder(tmp_path, name, curves)
               for name, curves in (("mnist_SCNN", BETTER), ("mnist_SCNN_random", BASE), ("mnist_SCNN_entropy", BASE))]
    assert pr.main([*map(str, folders), "--out", str(tmp_path / "out")]) == 0
    # ldms beats the other two at steps 1 to 4 of 5 (its step 0 is theirs); random and entropy are the same: ties.
    # Column means: entropy and random are beaten by one of their 2 others at 0.8, ldms by none.
    assert (tmp_path / "out" / "penalty_mnist_SCNN.md").read_text() == (
        "mnist SCNN: penalty matrix over 5 steps, the share of steps at which the row beats the column (paired "
        "two-sided t-test over repetitions, p < 0.05); the last row is each column's mean, how often that strategy "
        "is beaten\n\n"
        "| strategy | entropy | ldms | random | steps |\n"
        "|---|---|---|---|---|\n"
        "| entropy | - | 0.00 | 0.00 | 5 |\n"
        "| ldms | 0.80 | - | 0.80 | 5 |\n"
        "| random | 0.00 | 0.00 | - | 5 |\n"
        "| column mean | 0.40 | 0.00 | 0.40 | 5 |\n")
    with open(tmp_path / "out" / "penalty_mnist_SCNN.csv") as file:
        rows = list(csv.reader(file))
    assert rows == [["strategy", "entropy", "ldms", "random", "steps"],
                    ["entropy", "", "0.000000", "0.000000", "5"],
                    ["ldms", "0.800000", "", "0.800000", "5"],
                    ["random", "0.000000", "0.000000", "", "5"],
                    ["column mean", "0.400000", "0.000000", "0.400000", "5"]]
    assert (tmp_path / "out" / "penalty_mnist_SCNN.png").stat().st_size > 0


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
