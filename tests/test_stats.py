"""stats.py on small hand-written arrays: each result is written out here, worked by hand, as the numbers it must be."""
import numpy as np
import pytest

import stats

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

# mean curves at 40, 80, 120, 160 and 200 labels; random's 0.8 at 120 is a 3-repetition mean just below 0.8 in floats
COUNTS = np.array([40, 80, 120, 160, 200])
RANDOM_REPS = np.array([[0.50, 0.70, 0.78, 0.84, 0.86],
                        [0.50, 0.70, 0.80, 0.84, 0.86],
                        [0.50, 0.70, 0.82, 0.84, 0.86]])
LDMS_MEAN = np.array([0.50, 0.80, 0.85, 0.90, 0.91])
ENTROPY_MEAN = np.array([0.50, 0.60, 0.80, 0.81, 0.83])


# Summaries and paired t-tests


def test_summary_mean_over_steps_and_final_step():
    accs = np.array([[0.1, 0.2, 0.3, 0.4], [0.2, 0.3, 0.4, 0.5], [0.3, 0.4, 0.5, 0.6]])
    mean, mean_std, final, final_std, n = stats.summary(accs)
    # per-repetition means 0.25, 0.35, 0.45; final steps 0.4, 0.5, 0.6; both sample stds are 0.1
    assert (mean, final, n) == (pytest.approx(0.35), pytest.approx(0.5), 3)
    assert (mean_std, final_std) == (pytest.approx(0.1), pytest.approx(0.1))
    assert np.isnan(stats.summary(accs[:1])[1])  # one repetition: no std
    rows, records = stats.summary_rows({"ldms": accs, "random": np.array([[0.2, 0.4]])}, {"ldms": 80, "random": 40})
    assert rows == [["ldms", "0.3500 ± 0.1000", "0.5000 ± 0.1000", "80", "3"],
                    ["random", "0.3000 ± nan", "0.4000 ± nan", "40", "1"]]
    assert records == [["ldms", 3, "0.350000", "0.100000", "0.500000", "0.100000", 80],
                       ["random", 1, "0.300000", "nan", "0.400000", "nan", 40]]


def test_std_over_repetitions_is_the_sample_std():
    # step 0: 0.5 0.7 0.6, mean 0.6, squares 0.01 0.01 0 over 2: 0.1; step 1: 0.2 0.2 0.5, mean 0.3, 0.06 / 2: sqrt 0.03
    np.testing.assert_allclose(stats.std_over_reps([[0.5, 0.2], [0.7, 0.2], [0.6, 0.5]]), [0.1, 0.17320508])
    assert np.isnan(stats.std_over_reps([[0.5, 0.2]])).tolist() == [True, True]


def test_win_tie_loss_and_penalty_matrix():
    five = np.vstack([BASE, BASE[:1] + 0.005])  # 5 repetitions
    better = np.vstack([BETTER, BETTER[:1] + 0.005])
    better[:, 0] += [0.10, 0.11, 0.09, 0.12, 0.10]  # step 0 is better too, with noise
    stacks = [(np.arange(1, 6), better), (np.arange(1, 6), five), (np.arange(1, 6), five.copy())]
    outcomes, untestable = stats.outcome_matrix(stacks)
    wins, ties, losses = stats.win_tie_loss(outcomes)
    assert untestable == []
    assert (wins[0, 1], ties[0, 1], losses[0, 1]) == (5, 0, 0)  # clearly better at every step
    assert (wins[1, 0], ties[1, 0], losses[1, 0]) == (0, 0, 5)
    assert (wins[1, 2], ties[1, 2], losses[1, 2]) == (0, 5, 0)  # identical pair: nan p-values are ties
    np.testing.assert_allclose(stats.penalty_matrix(outcomes), [[0, 1, 1], [0, 0, 0], [0, 0, 0], [0, 0.5, 0.5]])
    assert stats.win_tie_loss_rows(["ldms", "random", "entropy"], outcomes) == [
        ["ldms", "-", "5/0/0", "5/0/0"], ["random", "0/0/5", "-", "0/5/0"], ["entropy", "0/0/5", "0/5/0", "-"]]


def test_penalty_table_rows():
    # 3 steps: ldms beats random at 2, random never beats ldms; the column means are over the one other strategy
    matrix = np.array([[0, 2 / 3], [0, 0], [0, 2 / 3]])
    assert stats.penalty_rows(["ldms", "random"], matrix, 3, 2, "-") == [
        ["ldms", "-", "0.67", "3"], ["random", "0.00", "-", "3"], ["column mean", "0.00", "0.67", "3"]]
    assert stats.penalty_rows(["ldms", "random"], matrix, 3, 6, "") == [
        ["ldms", "", "0.666667", "3"], ["random", "0.000000", "", "3"], ["column mean", "0.000000", "0.666667", "3"]]


def test_noisy_differences_tie_and_too_few_common_repetitions_are_ties():
    a = np.array([[0.50], [0.60], [0.40], [0.55]])
    b = np.array([[0.52], [0.57], [0.43], [0.54]])
    assert stats.paired_outcomes(a, b).tolist() == [0]
    outcomes, untestable = stats.outcome_matrix([(np.array([1, 2]), BETTER[:2]), (np.array([2, 3]), BASE[1:3])])
    assert untestable == [(0, 1)] and not outcomes.any()


def test_paired_tests_pair_by_repetition_number():
    # repetitions 1..4 of a, 2..5 of b: only 2, 3, 4 are compared, row by row
    a = np.array([[0.1], [0.5], [0.6], [0.7]])
    b = np.array([[0.49], [0.588], [0.689], [0.99]])
    outcomes, _ = stats.outcome_matrix([(np.array([1, 2, 3, 4]), a), (np.array([2, 3, 4, 5]), b)])
    assert outcomes[0, 1].tolist() == [1]


# The performance profile


def test_performance_profile_fractions():
    group_1 = {"x": np.array([0.5, 0.8]), "y": np.array([0.4, 0.8]), "z": np.array([0.5, 0.4])}
    group_2 = {"x": np.array([0.5, 0.6]), "y": np.array([0.55, 0.6])}  # z did not run here
    ratios = stats.profile_ratios([group_1, group_2])
    np.testing.assert_allclose(ratios["x"], [1, 1, 1.1, 1])
    np.testing.assert_allclose(ratios["y"], [1.25, 1, 1, 1])
    np.testing.assert_allclose(ratios["z"], [1, 2, np.inf, np.inf])
    taus = [1.0, 1.15, 1.3, 2.5]
    assert stats.profile_fractions(ratios["x"], taus).tolist() == [0.75, 1, 1, 1]
    assert stats.profile_fractions(ratios["y"], taus).tolist() == [0.75, 0.75, 1, 1]
    assert stats.profile_fractions(ratios["z"], taus).tolist() == [0.25, 0.25, 0.25, 0.5]
    assert stats.profile_rows(ratios, taus) == [["x", "0.750", "1.000", "1.000", "1.000"],
                                                ["y", "0.750", "0.750", "1.000", "1.000"],
                                                ["z", "0.250", "0.250", "0.250", "0.500"]]


# The step-0 check


def test_step0_disagreements():
    step0 = {"ldms": np.array([0.50, 0.52, 0.51, 0.53]), "random": np.array([0.51, 0.50, 0.52, 0.52]),
             "entropy": np.array([0.80, 0.81, 0.79, 0.80])}
    disagreements = stats.step0_disagreements(step0)
    assert disagreements == {"ldms": ["entropy"], "random": ["entropy"], "entropy": ["ldms", "random"]}
    assert stats.step0_off(disagreements) == ["entropy"]
    # standard error of ldms - random: sqrt(0.01291^2 / 4 + 0.00957^2 / 4) = 0.00804; 0.0075 apart is within 2
    assert stats.step0_off(stats.step0_disagreements({"ldms": step0["ldms"], "random": step0["random"]})) == []
    # means 0.515, 0.5125, 0.8; sample stds sqrt(0.0005 / 3), sqrt(0.000275 / 3), sqrt(0.0002 / 3)
    assert stats.step0_rows(step0, disagreements) == [["ldms", "0.5150", "0.0129", "4", "entropy"],
                                                      ["random", "0.5125", "0.0096", "4", "entropy"],
                                                      ["entropy", "0.8000", "0.0082", "4", "ldms, random"]]
    assert stats.step0_stats(np.array([0.6, 0.8])) == (pytest.approx(0.7), pytest.approx(0.14142136), 2,
                                                       pytest.approx(0.1))


# Labels to reach an accuracy


def test_labels_to_reach_each_level_and_the_saving_against_random():
    means = {"ldms": LDMS_MEAN, "random": RANDOM_REPS.mean(axis=0), "entropy": ENTROPY_MEAN}
    assert means["random"][2] < 0.8  # 0.7999999999999999, which reaches 0.8 all the same
    records = stats.reach_records({strategy: COUNTS for strategy in means}, means, [0.8, 0.84, 0.9])
    cells = {(strategy, level): stats.reach_cell(labels, final, ratio)
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
    assert stats.labels_to_reach(COUNTS, np.array([0.5, 0.9, 0.7, 0.8, 0.95]), 0.8) == 80  # the first, dips aside
    without_random = stats.reach_records({"ldms": COUNTS}, {"ldms": LDMS_MEAN}, [0.85])
    assert without_random == [("ldms", 0.85, 120, 200, None)]
    assert stats.savings_rows(records) == [
        ["ldms", "80 (1.50x)", "120 (1.33x)", "160 (> 1.25x)"],
        ["random", "120 (1.00x)", "160 (1.00x)", "not reached by 200 labels"],
        ["entropy", "120 (1.00x)", "not reached by 200 labels (< 0.80x)", "not reached by 200 labels"]]
    assert stats.savings_csv_rows(records) == [
        ["ldms", "0.8", 80, 200, "1.500000"], ["ldms", "0.84", 120, 200, "1.333333"],
        ["ldms", "0.9", 160, 200, "> 1.250000"], ["random", "0.8", 120, 200, "1.000000"],
        ["random", "0.84", 160, 200, "1.000000"], ["random", "0.9", "", 200, ""],
        ["entropy", "0.8", 120, 200, "1.000000"], ["entropy", "0.84", "", 200, "< 0.800000"],
        ["entropy", "0.9", "", 200, ""]]


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
    assert stats.default_levels(curves) == levels


# The report's tables


def test_markdown_table_and_cells():
    assert stats.markdown_table(["", "a", "b"], [["x", "1", "2"], ["y", "3", "4"]]) == (
        "|  | a | b |\n|---|---|---|\n| x | 1 | 2 |\n| y | 3 | 4 |")
    assert stats.plus_minus(0.80456, 0.01) == "0.8046 ± 0.0100"
    assert stats.reach_cell(None, 220, None) == "not reached by 220 labels"
    assert stats.reach_cell(80, 220, ("> ", 2.75)) == "80 (> 2.75x)"
