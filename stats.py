"""The statistics behind plot_results.py's report, as pure functions on arrays (NumPy and SciPy only: no
figures, no files, no printing): summaries over repetitions, the paired t-tests and what follows from them (win /
tie / loss, the penalty matrix), the step-0 check, the performance profile, the labels needed to reach an accuracy
and the saving against random, and the rows and Markdown of the report's tables.

An ``accs`` array is accs[repetition, step], a strategy's test accuracy in each repetition after each step.
"""
import math
import warnings

import numpy as np
from scipy.stats import ttest_rel

ALPHA = 0.05  # significance level of the paired t-tests
FILE_PRECISION = 5e-6  # half the last digit of '%.5f': smaller step-0 differences are rounding
LEVEL_SPACINGS = (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)  # of the default accuracy levels, coarsest first
REACH_TOLERANCE = 1e-9  # a mean equal to a level up to float rounding reaches it


# Summaries over repetitions


def std_over_reps(values):
    """Return the sample standard deviation (ddof=1) over axis 0; nan where there is one repetition only."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return np.full(values.shape[1:], np.nan)
    return values.std(axis=0, ddof=1)


def summary(accs):
    """Return (mean over steps, its std, final-step mean, its std, repetitions) of accs[repetition, step]:
    each repetition's mean over its steps, then the mean and sample std of these over repetitions."""
    per_rep = accs.mean(axis=1)
    return (float(per_rep.mean()), float(std_over_reps(per_rep)), float(accs[:, -1].mean()),
            float(std_over_reps(accs[:, -1])), len(accs))


# Paired t-tests


def paired_outcomes(a, b, alpha=ALPHA):
    """Return per step +1 (a significantly higher), -1 (significantly lower) or 0 (tie), from two-sided
    paired t-tests over the rows of a[repetition, step] and b[repetition, step] (row r of both is the
    same repetition). With fewer than 2 rows every step is a tie. A step whose differences are all zero
    has a nan p-value (a tie); all equal but nonzero gives p = 0 (a win or loss)."""
    if len(a) < 2:
        return np.zeros(a.shape[1], dtype=int)
    with warnings.catch_warnings():
        # constant differences (identical step-0 models) make scipy warn; their nan / 0 p-values are fine
        warnings.simplefilter("ignore", RuntimeWarning)
        p_values = ttest_rel(a, b, axis=0).pvalue
    direction = np.sign(a.mean(axis=0) - b.mean(axis=0)).astype(int)
    return np.where(p_values < alpha, direction, 0)


def outcome_matrix(stacks):
    """Return (outcomes, untestable) for a list of (repetition numbers, accs[repetition, step]) stacks
    with the same number of steps: outcomes[i, j, step] is paired_outcomes of i against j over the
    repetitions both have (0 on the diagonal), untestable the pairs (i, j), i < j, with fewer than 2."""
    n_steps = stacks[0][1].shape[1]
    outcomes = np.zeros((len(stacks), len(stacks), n_steps), dtype=int)
    untestable = []
    for i, (reps_i, accs_i) in enumerate(stacks):
        for j, (reps_j, accs_j) in enumerate(stacks):
            if i == j:
                continue
            common = np.intersect1d(reps_i, reps_j)
            if len(common) < 2 and i < j:
                untestable.append((i, j))
            outcomes[i, j] = paired_outcomes(accs_i[np.isin(reps_i, common)], accs_j[np.isin(reps_j, common)])
    return outcomes, untestable


def win_tie_loss(outcomes):
    """Return (wins, ties, losses), each [i, j] = the number of steps at which i wins / ties / loses against j."""
    return (outcomes == 1).sum(axis=2), (outcomes == 0).sum(axis=2), (outcomes == -1).sum(axis=2)


def penalty_matrix(outcomes):
    """Return the (k+1, k) penalty matrix of k >= 2 strategies: entry (i, j) is the share of steps at which
    i beats j significantly (0 on the diagonal); the last row is each column's mean over the k-1 other
    strategies, how often that strategy is beaten (lower is better)."""
    k, _, n_steps = outcomes.shape
    shares = (outcomes == 1).sum(axis=2) / n_steps
    return np.vstack([shares, shares.sum(axis=0) / (k - 1)])


# The step-0 check


def step0_stats(values):
    """Return (mean, sample std, n, standard error = std / sqrt(n)) of one strategy's step-0 accuracies;
    std and standard error are nan with one value."""
    std = float(std_over_reps(values))
    return float(np.mean(values)), std, len(values), std / np.sqrt(len(values))


def step0_disagreements(step0):
    """Return {strategy: [the other strategies whose step-0 mean differs from its own]} for
    step0 = {strategy: its step-0 accuracies, one per repetition}.

    Two step-0 means differ when they are further apart than two standard errors of their difference,
    sqrt(se_a^2 + se_b^2) with se = sample std / sqrt(n) of each strategy's values, and further than
    the files' rounding. Strategies with a single value (no standard error) differ from none. The
    repetitions of different strategies share seeds, so the two samples are not independent: this is a
    screen for broken comparisons, not an exact test."""
    stats = {strategy: step0_stats(values) for strategy, values in step0.items()}
    disagreements = {}
    for strategy, (mean, _, _, se) in stats.items():
        disagreements[strategy] = [
            other for other, (other_mean, _, _, other_se) in stats.items()
            if other != strategy and abs(mean - other_mean) > max(2 * np.hypot(se, other_se), FILE_PRECISION)]
    return disagreements


def step0_off(disagreements):
    """Return the strategies whose step-0 mean differs from more than half of the others'. Comparing
    with each other strategy, rather than with the others pooled, keeps one broken strategy from making
    the consistent ones look off as well. With two strategies that differ, both are returned."""
    n_others = len(disagreements) - 1
    return [strategy for strategy, others in disagreements.items() if len(others) > n_others / 2]


# Labels to reach an accuracy


def default_levels(mean_curves):
    """Return the default accuracy levels of the label savings, ascending: the multiples of the coarsest
    spacing in LEVEL_SPACINGS that puts at least 3 of them in the range every curve covers, above the
    highest of the curves' lowest points and at most the lowest of their highest points (so every curve
    reaches each level and is below it somewhere). More than 5 are thinned to every k-th down from the highest;
    fewer than 3 remain only when even the finest spacing gives no more; none when the ranges do not overlap."""
    low = max(curve.min() for curve in mean_curves)
    high = min(curve.max() for curve in mean_curves)
    for spacing in LEVEL_SPACINGS:
        first = math.floor(low / spacing + REACH_TOLERANCE) + 1
        last = math.floor(high / spacing + REACH_TOLERANCE)
        levels = [round(k * spacing, 6) for k in range(first, last + 1)]
        if len(levels) >= 3:
            break
    every = max(1, math.ceil(len(levels) / 5))
    return levels[(len(levels) - 1) % every::every]


def labels_to_reach(labeled, mean, level):
    """Return the first labeled count at which the mean curve is at least ``level`` (at the counts measured,
    no interpolation; a later dip does not matter), or None if it never is."""
    reached = np.flatnonzero(mean >= level - REACH_TOLERANCE)
    return int(labeled[reached[0]]) if len(reached) else None


def saving(labels, final, random_labels, random_final):
    """Return (bound, ratio) of random's labels to a strategy's for one level: ('', ratio) when both reach
    it; ('> ', random's final count / the strategy's labels) when random never does (it needs more than
    its final count); ('< ', random's labels / the strategy's final count) when the strategy never does;
    None when neither does. ``labels`` and ``random_labels`` are labels_to_reach's answers, ``final`` and
    ``random_final`` the last labeled counts."""
    if labels is not None and random_labels is not None:
        return "", random_labels / labels
    if labels is not None:
        return "> ", random_final / labels
    if random_labels is not None:
        return "< ", random_labels / final
    return None


def reach_records(counts, means, levels):
    """Return (strategy, level, labels, final labeled count, saving) for each strategy of ``means``
    ({strategy: mean accuracy per step}, measured at ``counts`` {strategy: labeled count per step}) and each
    level: labels_to_reach, and saving against random (None without random in ``means``)."""
    records = []
    for strategy, mean in means.items():
        final = int(counts[strategy][-1])
        for level in levels:
            labels = labels_to_reach(counts[strategy], mean, level)
            ratio = None
            if "random" in means:
                random_labels = labels_to_reach(counts["random"], means["random"], level)
                ratio = saving(labels, final, random_labels, int(counts["random"][-1]))
            records.append((strategy, level, labels, final, ratio))
    return records


# The performance profile


def profile_ratios(group_means):
    """Return {strategy: best mean / its mean at every (group, step) point} from one {strategy: mean
    accuracy per step} dict per group. A strategy missing from a group gets inf at that group's points
    (never within any tau), as does an accuracy of 0 below a best above 0."""
    strategies = sorted(set().union(*group_means))
    ratios = {strategy: [] for strategy in strategies}
    for means in group_means:
        best = np.max(list(means.values()), axis=0)
        for strategy in strategies:
            if strategy not in means:
                ratios[strategy].append(np.full(len(best), np.inf))
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios[strategy].append(np.where(means[strategy] == best, 1.0, best / means[strategy]))
    return {strategy: np.concatenate(parts) for strategy, parts in ratios.items()}


def profile_fractions(ratios, taus):
    """Return for each tau the fraction of ``ratios`` that are at most tau."""
    return (np.asarray(ratios)[None, :] <= np.asarray(taus, dtype=float)[:, None]).mean(axis=1)


# The report's tables


def markdown_table(header, rows):
    """Return a Markdown table of string cells: the ``header`` line, its rule, then one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def plus_minus(mean, std):
    """Return 'mean ± std' with 4 decimals."""
    return f"{mean:.4f} ± {std:.4f}"


def reach_cell(labels, final, ratio):
    """Return a savings table cell: '80 (1.50x)', '80 (> 2.75x)', 'not reached by 220 labels (< 0.55x)'."""
    cell = f"not reached by {final} labels" if labels is None else str(labels)
    return cell + (f" ({ratio[0]}{ratio[1]:.2f}x)" if ratio else "")


def step0_rows(step0, disagreements):
    """Return the step-0 table's rows [strategy, mean, std, n, the strategies it differs from or '-'], mean and
    std with 4 decimals, for step0 = {strategy: its step-0 accuracies} and step0_disagreements(step0)."""
    rows = []
    for strategy, values in step0.items():
        mean, std, n, _ = step0_stats(values)
        rows.append([strategy, f"{mean:.4f}", f"{std:.4f}", str(n), ", ".join(disagreements[strategy]) or "-"])
    return rows


def summary_rows(accs, final_labeled):
    """Return (Markdown rows, csv rows) of the summary table for accs = {strategy: accs[repetition, step]} and
    final_labeled = {strategy: its labeled count at the last step}, one of each per strategy in the order of
    ``accs``: [strategy, mean over steps ± std, final step ± std, final labeled, repetitions] (plus_minus), and
    [strategy, repetitions, mean over steps, its std, final step, its std, final labeled] with 6 decimals."""
    rows, records = [], []
    for strategy, values in accs.items():
        mean, mean_std, final, final_std, n = summary(values)
        labeled = final_labeled[strategy]
        rows.append([strategy, plus_minus(mean, mean_std), plus_minus(final, final_std), str(labeled), str(n)])
        records.append([strategy, n, f"{mean:.6f}", f"{mean_std:.6f}", f"{final:.6f}", f"{final_std:.6f}", labeled])
    return rows, records


def savings_rows(records):
    """Return the savings table's rows [strategy, reach_cell at each level] from reach_records' records, the
    strategies in their order there."""
    strategies = dict.fromkeys(record[0] for record in records)
    return [[strategy] + [reach_cell(*record[2:]) for record in records if record[0] == strategy]
            for strategy in strategies]


def savings_csv_rows(records):
    """Return the savings csv's rows [strategy, level, labels ('' when not reached), final labeled count, saving
    with 6 decimals ('' when there is none)] from reach_records' records."""
    return [[strategy, f"{level:g}", "" if labels is None else labels, final,
             "" if ratio is None else f"{ratio[0]}{ratio[1]:.6f}"] for strategy, level, labels, final, ratio in records]


def win_tie_loss_rows(strategies, outcomes):
    """Return the rows [strategy, 'wins/ties/losses' of it against each strategy, '-' against itself] of
    outcome_matrix's outcomes, whose rows and columns are ``strategies``."""
    wins, ties, losses = win_tie_loss(outcomes)
    return [[strategies[i]] + ["-" if i == j else f"{wins[i, j]}/{ties[i, j]}/{losses[i, j]}"
                               for j in range(len(strategies))] for i in range(len(strategies))]


def penalty_rows(strategies, matrix, n_steps, digits, diagonal):
    """Return the penalty table's rows [strategy, its penalty_matrix entry against each strategy with ``digits``
    decimals (``diagonal`` against itself), the number of steps compared] of the (k+1, k) ``matrix`` of the k
    ``strategies``, over ``n_steps`` steps; the last row, the column means, is named 'column mean'."""
    names = [*strategies, "column mean"]
    return [[names[i], *(diagonal if i == j else f"{value:.{digits}f}" for j, value in enumerate(row)), str(n_steps)]
            for i, row in enumerate(matrix)]


def profile_rows(ratios, taus):
    """Return the rows [strategy, the fraction of its points within each tau, with 3 decimals] of profile_ratios'
    ratios."""
    return [[strategy] + [f"{fraction:.3f}" for fraction in profile_fractions(values, taus)]
            for strategy, values in ratios.items()]
