"""Compare the results of LDM-S and its baselines: learning curves, tables, the labels each strategy needs
to reach given accuracies, the pairwise penalty matrix, a step-0 sanity check and, over several datasets,
the performance profile.

    python3 plot_results.py [FOLDER ...] [--out DIR] [--reach LEVEL ...]

Each FOLDER is a result folder ({dataset}_{network} for ldms, {dataset}_{network}_{strategy} for the
other strategies) holding a results file per repetition, as layout.py names them; without any, every
such folder under results/ is used. The report is Markdown on stdout, notes and warnings go to stderr,
and figures and tables are written into --out. A malformed or missing result is one `error:` line on
stderr and exit code 2.
"""
import argparse
import csv
import dataclasses
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import layout
import stats
from data import DATASETS
from errors import UserError
from flags import defaults

RESULTS_ROOT = Path("results")
ACCURACY = re.compile(r"\d\.\d{5}")  # what '%.5f' writes for a value in [0, 1]
DEFAULT_BUDGET = {dataset: (defaults(dataset)["nInit"], defaults(dataset)["nQuery"])  # of run_mnist.py, run_cifar10.py
                  for dataset in DATASETS}
PROFILE_TAUS = (1.0, 1.01, 1.05, 1.1)  # taus printed in the performance profile table


@dataclasses.dataclass(frozen=True)
class Run:
    """One result folder: a strategy's repetitions on one dataset and network."""

    folder: Path
    dataset: str
    network: str
    strategy: str
    n_init: int
    n_query: int
    curves: dict  # repetition number (1-based) -> test accuracy per step


# Reading


def read_accuracies(path):
    """Return the accuracies of one results file (layout.RESULTS_NAME), one per step, as a float array.

    Every line must be an accuracy in [0, 1] written with 5 decimals ('%.5f'); blank lines may only
    end the file. Raises UserError 'FILE:LINE: what is wrong' (line 1-based) at the first bad line."""
    lines = Path(path).read_text(encoding="ascii", errors="replace").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise UserError(f"{path}:1: empty file, expected one accuracy per line")
    for number, line in enumerate(lines, 1):
        problem = accuracy_problem(line)
        if problem:
            raise UserError(f"{path}:{number}: {problem}")
    return np.array([float(line) for line in lines])


def accuracy_problem(line):
    """Return what is wrong with one line of a result file, or None for a '%.5f' accuracy in [0, 1]."""
    if not line.strip():
        return "blank line before the end of the file"
    try:
        value = float(line)
    except ValueError:
        return f"not a number: {line!r}"
    if not 0 <= value <= 1:  # nan fails this too
        return f"accuracy {line.strip()} is outside [0, 1]"
    if not ACCURACY.fullmatch(line):
        return f"not written with 5 decimals like 0.57360: {line!r}"
    return None


def folder_settings(folder):
    """Return {dataset, network, strategy, nInit, nQuery} of a result folder: from its settings file
    (layout.SETTINGS) where there is one, otherwise from the folder name and the run scripts' defaults."""
    path = folder / layout.SETTINGS
    if path.is_file():
        return settings_from_json(path)
    labels = layout.folder_labels(folder.name)
    if labels is None:
        raise UserError(f"{folder}: no {layout.SETTINGS}, and the name is not {{dataset}}_{{network}}[_{{strategy}}] "
                        f"with dataset {' or '.join(DEFAULT_BUDGET)}")
    dataset, network, strategy = labels
    n_init, n_query = DEFAULT_BUDGET[dataset]
    return {"dataset": dataset, "network": network, "strategy": strategy, "nInit": n_init, "nQuery": n_query}


def settings_from_json(path):
    """Return {dataset, network, strategy, nInit, nQuery} read from a settings file; UserError if it is
    not a JSON object with these keys (texts, and whole numbers >= 1)."""
    try:
        settings = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(settings, dict):
        raise UserError(f"{path}: expected a JSON object")
    bad = [key for key in ("dataset", "network", "strategy") if not isinstance(settings.get(key), str)]
    bad += [key for key in ("nInit", "nQuery") if type(settings.get(key)) is not int or settings[key] < 1]
    if bad:
        raise UserError(f"{path}: missing or invalid {', '.join(bad)} (dataset, network and strategy are "
                        "texts, nInit and nQuery whole numbers >= 1)")
    return {key: settings[key] for key in ("dataset", "network", "strategy", "nInit", "nQuery")}


def read_run(folder):
    """Return the Run of one result folder; UserError if the folder is missing or has no result file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    numbers = layout.repetition_numbers(folder, ("results",))
    if not numbers:
        raise UserError(f"{folder}: no result files ({layout.RESULTS_NAME})")
    settings = folder_settings(folder)
    curves = {number: read_accuracies(layout.repetition_files(folder, number - 1).results) for number in numbers}
    return Run(folder, settings["dataset"], settings["network"], settings["strategy"], settings["nInit"],
               settings["nQuery"], curves)


def find_result_folders(root):
    """Return the folders directly under ``root`` that hold a result file, sorted; UserError if none."""
    if not root.is_dir():
        raise UserError(f"{root}: no such folder (name result folders, or run an experiment first)")
    folders = sorted(folder for folder in root.iterdir()
                     if folder.is_dir() and layout.repetition_numbers(folder, ("results",)))
    if not folders:
        raise UserError(f"{root}: no result folders (folders with {layout.RESULTS_NAME} files)")
    return folders


# Grouping and alignment


def group_runs(runs):
    """Return {(dataset, network): [Run, ...] sorted by strategy}, sorted by key; UserError if two
    folders hold the same strategy on the same dataset and network."""
    groups = {}
    for run in runs:
        groups.setdefault((run.dataset, run.network), []).append(run)
    for (dataset, network), members in groups.items():
        members.sort(key=lambda run: run.strategy)
        for first, second in zip(members, members[1:]):
            if first.strategy == second.strategy:
                raise UserError(f"{first.folder} and {second.folder} both hold {first.strategy} on "
                                f"{dataset} {network}")
    return dict(sorted(groups.items()))


def align_lengths(runs):
    """Return (runs whose curves all have the same number of steps, note lines).

    The common length is the shortest among the strategies' longest repetitions, so that every
    strategy keeps at least one repetition: shorter repetitions (unfinished runs) are dropped,
    longer ones are truncated to it."""
    lengths = {run.strategy: max(map(len, run.curves.values())) for run in runs}
    length = min(lengths.values())
    aligned, dropped, truncated = [], [], []
    for run in runs:
        for rep, accs in run.curves.items():
            described = f"{layout.repetition_files(run.folder, rep - 1).results} ({len(accs)} steps)"
            if len(accs) < length:
                dropped.append(described)
            elif len(accs) > length:
                truncated.append(described)
        kept = {rep: accs[:length] for rep, accs in run.curves.items() if len(accs) >= length}
        aligned.append(dataclasses.replace(run, curves=kept))
    notes = []
    if dropped:
        notes.append(f"note: dropped repetitions shorter than the group's common {length} steps: {', '.join(dropped)}")
    if truncated:
        shortest = ", ".join(strategy for strategy, n in lengths.items() if n == length)
        notes.append(f"note: truncated to {length} steps, the most that {shortest} reached: {', '.join(truncated)}")
    return aligned, notes


def missing_repetition_notes(runs):
    """Return a note line for each run that lacks repetition numbers which other runs of its group have."""
    everyone = set().union(*(run.curves for run in runs))
    notes = []
    for run in runs:
        missing = sorted(everyone - set(run.curves))
        if missing:
            notes.append(f"note: {run.folder} has no repetition {', '.join(map(str, missing))} (its group has "
                         f"{len(everyone)}): its statistics use its {len(run.curves)} repetitions, the paired "
                         "tests the repetitions both strategies have")
    return notes


def budget_warnings(runs):
    """Return a warning line when the runs of a group label different nInit / nQuery (step k then means
    different labeled counts, and the per-step comparison pairs different budgets)."""
    budgets = sorted({(run.n_init, run.n_query) for run in runs})
    if len(budgets) < 2:
        return []
    described = ", ".join(f"{run.strategy} nInit={run.n_init} nQuery={run.n_query}" for run in runs)
    return [f"warning: {runs[0].dataset} {runs[0].network}: strategies with different budgets ({described}): "
            "per-step comparisons pair different labeled counts"]


def stacked(run):
    """Return (repetition numbers, accuracies[repetition, step]) of an aligned run, by repetition number."""
    reps = sorted(run.curves)
    return np.array(reps), np.array([run.curves[rep] for rep in reps])


def labeled_counts(run, n_steps):
    """Return the number of labeled samples at each step: nInit + step * nQuery."""
    return run.n_init + np.arange(n_steps) * run.n_query


# Text output


def notify(line):
    """Print a note or warning line on stderr."""
    print(line, file=sys.stderr)


def write_table(stem, title, text, header, rows):
    """Write a table as stem.md (``title``, a blank line, the Markdown ``text``) and as stem.csv (``header``, then
    ``rows``)."""
    Path(f"{stem}.md").write_text(f"{title}\n\n{text}\n")
    with open(f"{stem}.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)


def report_step0(runs, stacks):
    """Print the step-0 accuracies of a group's strategies side by side, and a warning for each
    strategy whose step 0 differs from most others' (see stats.step0_disagreements)."""
    step0 = {strategy: accs[:, 0] for strategy, (_, accs) in stacks.items()}
    disagreements = stats.step0_disagreements(step0)
    print(f"\nStep 0 ({', '.join(sorted({str(run.n_init) for run in runs}))} labeled, before any query); "
          "differs from = step-0 means more than 2 standard errors apart:\n")
    rows = stats.step0_rows(step0, disagreements)
    print(stats.markdown_table(["strategy", "mean", "std", "n", "differs from"], rows))
    single = [strategy for strategy, values in step0.items() if len(values) < 2]
    if single:
        notify(f"note: {', '.join(single)}: one repetition only, its step 0 cannot be checked")
    for strategy in stats.step0_off(disagreements):
        notify(f"warning: {runs[0].dataset} {runs[0].network}: {strategy}'s step-0 accuracy differs from "
               f"{', '.join(disagreements[strategy])} by more than 2 standard errors: its initial models are "
               "not those of the others, so its comparison with them is broken")


def report_table(runs, stacks, stem):
    """Print the summary table of a group (mean over steps and final step, each mean ± std over
    repetitions, and the number of repetitions) and write it as stem.md and stem.csv."""
    accs = {strategy: values for strategy, (_, values) in stacks.items()}
    final_labeled = {run.strategy: int(labeled_counts(run, accs[run.strategy].shape[1])[-1]) for run in runs}
    rows, records = stats.summary_rows(accs, final_labeled)
    text = stats.markdown_table(["strategy", "mean over steps", "final step", "final labeled", "repetitions"], rows)
    title = f"{runs[0].dataset} {runs[0].network}: test accuracy, mean ± sample std over repetitions"
    print(f"\n{title}\n\n{text}")
    write_table(stem, title, text, ["strategy", "repetitions", "mean_accuracy", "mean_accuracy_std", "final_accuracy",
                                    "final_accuracy_std", "final_labeled"], records)


def report_savings(runs, stacks, levels, stem):
    """Print, per strategy and accuracy level (``levels``, or stats.default_levels when empty), the labeled count
    at which the strategy's mean curve first reaches it and the saving against random (random's labels /
    the strategy's), and write the table as stem.md and stem.csv."""
    counts = {run.strategy: labeled_counts(run, stacks[run.strategy][1].shape[1]) for run in runs}
    means = {strategy: accs.mean(axis=0) for strategy, (_, accs) in stacks.items()}
    group = f"{runs[0].dataset} {runs[0].network}"
    levels = levels or stats.default_levels(list(means.values()))
    if not levels:
        notify(f"note: {group}: no multiple of {stats.LEVEL_SPACINGS[-1]} lies in the accuracy range every mean curve "
               "covers, so there are no default levels to reach: name some with --reach")
        return
    if "random" not in means:
        notify(f"note: {group} has no random: the labels to reach each level, without savings")
    records = stats.reach_records(counts, means, levels)
    text = stats.markdown_table(["strategy", *(f"reach {level:g}" for level in levels)], stats.savings_rows(records))
    title = (f"{group}: labeled samples at which the mean curve first reaches each test accuracy (at the "
             "counts measured), and in brackets the saving, random's labels / the strategy's")
    print(f"\n{title}\n\n{text}")
    write_table(stem, title, text, ["strategy", "level", "labels", "final_labeled", "saving"],
                stats.savings_csv_rows(records))


def report_pairwise(runs, stacks, stem):
    """Print the win/tie/loss matrix of a group's strategies, and save its penalty matrix as a heat map, stem.png,
    and as a table, stem.md and stem.csv."""
    strategies = [run.strategy for run in runs]
    outcomes, untestable = stats.outcome_matrix([stacks[strategy] for strategy in strategies])
    n_steps = outcomes.shape[2]
    print(f"\nWins/ties/losses of the row against the column over {n_steps} steps (paired two-sided t-test "
          f"over repetitions, p < {stats.ALPHA}):\n")
    print(stats.markdown_table(["", *strategies], stats.win_tie_loss_rows(strategies, outcomes)))
    for i, j in untestable:
        notify(f"note: {strategies[i]} and {strategies[j]} share fewer than 2 repetitions: no t-test is "
               "possible, all their steps count as ties")
    matrix, group = stats.penalty_matrix(outcomes), f"{runs[0].dataset} {runs[0].network}"
    plot_penalty(strategies, matrix, group, n_steps, f"{stem}.png")
    title = (f"{group}: penalty matrix over {n_steps} steps, the share of steps at which the row beats the column "
             f"(paired two-sided t-test over repetitions, p < {stats.ALPHA}); the last row is each column's mean, "
             "how often that strategy is beaten")
    header = ["strategy", *strategies, "steps"]
    text = stats.markdown_table(header, stats.penalty_rows(strategies, matrix, n_steps, 2, "-"))
    write_table(stem, title, text, header, stats.penalty_rows(strategies, matrix, n_steps, 6, ""))


def report_profile(group_means, out, colors):
    """Print the performance profile at a few taus and save it as out/profile.png; ``group_means`` is
    {(dataset, network): {strategy: mean accuracy per step}}."""
    ratios = stats.profile_ratios(list(group_means.values()))
    for strategy in ratios:
        absent = [f"{dataset} {network}" for (dataset, network), means in group_means.items() if strategy not in means]
        if absent:
            notify(f"note: {strategy} has no results on {', '.join(absent)}: the performance profile counts "
                   "those points as never within tau")
    n_points = len(next(iter(ratios.values())))
    print(f"\n## Performance profile\n\nFraction of the {n_points} (dataset, step) points at which the strategy's "
          "mean accuracy is within a factor tau of the best (best / accuracy <= tau):\n")
    print(stats.markdown_table(["strategy", *(f"tau={tau:g}" for tau in PROFILE_TAUS)],
                               stats.profile_rows(ratios, PROFILE_TAUS)))
    plot_profile(ratios, colors, out / "profile.png")


# Figures


def new_figure(**kwargs):
    """Return a matplotlib Figure drawn by the Agg backend (no pyplot state)."""
    figure = Figure(layout="constrained", **kwargs)
    FigureCanvasAgg(figure)
    return figure


def plot_curves(runs, stacks, colors, stem):
    """Save a group's learning curves (mean and ± one std band per strategy; below, each strategy's
    mean minus random's when random is there) as stem.png and stem.pdf."""
    with_random = "random" in stacks and len(stacks) > 1
    figure = new_figure(figsize=(7, 7.5 if with_random else 4.8))
    axes = figure.subplots(2 if with_random else 1, 1, sharex=True, squeeze=False,
                           height_ratios=[3, 2] if with_random else [1])[:, 0]
    for run in runs:
        accs = stacks[run.strategy][1]
        x, mean, std = labeled_counts(run, accs.shape[1]), accs.mean(axis=0), stats.std_over_reps(accs)
        color = colors[run.strategy]
        axes[0].plot(x, mean, color=color, marker="o", markersize=3, label=f"{run.strategy} (n={len(accs)})")
        axes[0].fill_between(x, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
        if with_random and run.strategy != "random":
            axes[1].plot(x, mean - stacks["random"][1].mean(axis=0), color=color, marker="o", markersize=3,
                         label=run.strategy)
    axes[0].set_title(f"{runs[0].dataset} {runs[0].network}: test accuracy (mean ± std over repetitions)")
    axes[0].set_ylabel("test accuracy")
    axes[0].legend(loc="lower right")
    if with_random:
        axes[1].axhline(0, color=colors["random"], linewidth=1)
        axes[1].set_ylabel("mean accuracy - random's")
    for axis in axes:
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("labeled samples")
    figure.savefig(f"{stem}.png", dpi=150)
    figure.savefig(f"{stem}.pdf", metadata={"CreationDate": None})  # the same bytes for the same curves


def plot_penalty(strategies, matrix, title, n_steps, path):
    """Save the penalty matrix heat map (rows win, columns lose; the last row is the column means)."""
    k = len(strategies)
    shown = np.ma.masked_array(matrix, mask=np.vstack([np.eye(k, dtype=bool), np.zeros(k, dtype=bool)]))
    figure = new_figure(figsize=(2.6 + 0.9 * k, 1.6 + 0.7 * (k + 1)))
    axis = figure.subplots()
    image = axis.imshow(shown, cmap="Reds", vmin=0, vmax=1)
    image.cmap.set_bad("0.85")
    for (i, j), value in np.ndenumerate(matrix):
        if i == k or i != j:
            axis.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if value > 0.6 else "black")
    axis.axhline(k - 0.5, color="black", linewidth=2)
    axis.set_xticks(range(k), strategies, rotation=30, ha="right")
    axis.set_yticks(range(k + 1), [*strategies, "column mean"])
    axis.set_xlabel("beaten strategy")
    axis.set_ylabel("winning strategy")
    axis.set_title(f"{title}: penalty matrix ({n_steps} steps)")
    figure.colorbar(image, ax=axis, label=f"share of steps won (p < {stats.ALPHA})")
    figure.savefig(path, dpi=150)


def plot_profile(ratios, colors, path):
    """Save the performance profile: per strategy, the fraction of points within tau of the best."""
    finite = np.concatenate([values[np.isfinite(values)] for values in ratios.values()])
    upper = finite.max() * 1.02 if finite.max() > 1 else 1.2
    taus = np.unique(np.concatenate([np.linspace(1, upper, 200), finite]))
    figure = new_figure(figsize=(6, 4.2))
    axis = figure.subplots()
    for strategy, values in ratios.items():
        axis.step(taus, stats.profile_fractions(values, taus), where="post", color=colors[strategy], label=strategy)
    axis.set_xlim(1, upper)
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("tau (best mean accuracy / strategy's)")
    axis.set_ylabel("fraction of (dataset, step) points")
    axis.set_title("Performance profile")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    figure.savefig(path, dpi=150)


# Command line


def report_group(runs, out, colors, levels):
    """Align, check, tabulate, compare and plot one (dataset, network) group, printing the report and
    its notes (label savings at ``levels``, or at default ones when empty); return {strategy: mean
    accuracy per step} for the performance profile."""
    runs, notes = align_lengths(runs)
    for line in notes + missing_repetition_notes(runs) + budget_warnings(runs):
        notify(line)
    dataset, network = runs[0].dataset, runs[0].network
    stacks = {run.strategy: stacked(run) for run in runs}
    print(f"\n## {dataset} {network}")
    if len(runs) > 1:
        report_step0(runs, stacks)
    report_table(runs, stacks, out / f"table_{dataset}_{network}")
    report_savings(runs, stacks, levels, out / f"savings_{dataset}_{network}")
    if len(runs) > 1:
        report_pairwise(runs, stacks, out / f"penalty_{dataset}_{network}")
    else:
        notify(f"note: {dataset} {network} has one strategy ({runs[0].strategy}): no step-0 check, "
               "no pairwise comparison")
    plot_curves(runs, stacks, colors, out / f"curves_{dataset}_{network}")
    return {strategy: accs.mean(axis=0) for strategy, (_, accs) in stacks.items()}


def parse_args(argv):
    """Return the parsed command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, metavar="FOLDER",
                        help=f"result folders (default: every folder under {RESULTS_ROOT}/ with "
                             f"{layout.RESULTS_NAME} files)")
    parser.add_argument("--out", type=Path, default=RESULTS_ROOT,
                        help=f"folder for the figures and tables, created if needed (default {RESULTS_ROOT}/)")
    parser.add_argument("--reach", type=accuracy_level, nargs="+", default=[], metavar="LEVEL",
                        help="test accuracies at which to count the labels each strategy needs (default: 3 to 5 "
                             "round levels inside the range that every strategy's mean curve covers)")
    return parser.parse_args(argv)


def accuracy_level(text):
    """Return a --reach level as a float; argparse error unless it is a number in (0, 1]."""
    try:
        level = float(text)
    except ValueError:
        level = math.nan
    if not 0 < level <= 1:
        raise argparse.ArgumentTypeError(f"an accuracy in (0, 1] like 0.8, got {text!r}")
    return level


def main(argv=None):
    """Read the result folders, report and plot every group; return the exit code (2 for a malformed or
    missing result, or an unwritable --out)."""
    args = parse_args(argv)
    try:
        runs = [read_run(folder) for folder in args.folders or find_result_folders(RESULTS_ROOT)]
        groups = group_runs(runs)
        args.out.mkdir(parents=True, exist_ok=True)
        strategies = sorted({run.strategy for run in runs})
        colors = {strategy: f"C{index % 10}" for index, strategy in enumerate(strategies)}
        levels = sorted(set(args.reach))
        group_means = {key: report_group(members, args.out, colors, levels) for key, members in groups.items()}
        if len(groups) > 1:
            report_profile(group_means, args.out, colors)
    except (UserError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
