"""Where the seconds of a run went, from its step logs (steps_NNN.jsonl, a line per step: docs/results.md).

    python3 bench/step_times.py results/cifar10_KCNN [more results folders or step logs]
    python3 bench/step_times.py --query-costs results/mnist_SCNN*

Each argument is a results folder (every steps_NNN.jsonl in it) or one step log. By default, one Markdown
table per (dataset, strategy): for each labeled count, the number of steps seen and the median seconds of each
part (training, validation, test, query and the query's own parts) and of the whole step, then those step
medians added up over the labeled counts seen (a whole repetition once every step is logged). With
--query-costs, one table of what a query costs per strategy: the median seconds of the query, of its model
arrays and of its selection, beside training, at the smallest and the largest labeled count. A run that
shared the CPU gives upper bounds, not the uncontended figures.
"""
import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from checkpoint import STEP_PARTS, read_steps  # noqa: E402
from layout import step_logs  # noqa: E402


def step_seconds(records):
    """Return {(dataset, strategy): {labeled: [{part: seconds} per step seen]}} from step log records. A step
    that made no query (a run's last) has no 'query' part."""
    found = defaultdict(lambda: defaultdict(list))
    for record in records:
        found[record["dataset"], record["strategy"]][record["labeled"]].append(record["seconds"])
    return found


def tables(found):
    """Return the Markdown tables of ``step_seconds``' result, one per run."""
    out = []
    for (dataset, strategy), by_labeled in sorted(found.items()):
        seen = list(dict.fromkeys(part for steps in by_labeled.values() for step in steps for part in step))
        parts = [part for part in STEP_PARTS if part in seen] + [part for part in seen if part not in STEP_PARTS]
        out += [f"\n{dataset}, {strategy}: median seconds per step\n",
                "| labeled | steps seen | " + " | ".join(parts) + " | step |",
                "|---|---|" + "---|" * (len(parts) + 1)]
        total = 0.0
        for labeled, steps in sorted(by_labeled.items()):
            medians = {part: statistics.median(step.get(part, 0.0) for step in steps) for part in parts}
            whole = sum(medians[part] for part in STEP_PARTS if part in medians)
            total += whole
            out.append(f"| {labeled:,} | {len(steps)} | " + " | ".join(f"{medians[part]:.1f}" for part in parts)
                       + f" | {whole:.1f} |")
        out.append(f"\nThe steps seen, their medians added up: {total / 60:.1f} minutes.")
    return "\n".join(out)


def queried_steps(by_labeled):
    """Return {labeled: [the steps there that made a query]}, leaving out labeled counts where none did."""
    kept = {labeled: [step for step in steps if "query" in step] for labeled, steps in by_labeled.items()}
    return {labeled: steps for labeled, steps in kept.items() if steps}


def query_medians(steps):
    """Return the median seconds over ``steps`` (that made a query) of the query, of its model arrays (what
    the model computes for the pool, 'features' in the step log), of its selection (the query less the model
    arrays: the strategy working on them) and of training."""
    per_step = {"query": [step["query"] for step in steps],
                "model arrays": [step.get("features", 0.0) for step in steps],
                "selection": [step["query"] - step.get("features", 0.0) for step in steps],
                "train": [step["training"] for step in steps]}
    return {part: statistics.median(values) for part, values in per_step.items()}


def query_costs(found):
    """Return the Markdown table of what a query costs per strategy, from ``step_seconds``' result: for each
    dataset and strategy, the steps seen and query_medians at the smallest and at the largest labeled count
    at which every strategy of the dataset made queries (so that they compare like with like; each its own
    when they share none)."""
    header = ["dataset", "strategy", "labeled", "steps seen", "query", "model arrays", "selection", "train"]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for dataset in sorted({dataset for dataset, _ in found}):
        runs = {strategy: queried_steps(by_labeled) for (name, strategy), by_labeled in sorted(found.items())
                if name == dataset}
        runs = {strategy: by_labeled for strategy, by_labeled in runs.items() if by_labeled}
        if not runs:
            continue
        common = set.intersection(*(set(by_labeled) for by_labeled in runs.values()))
        for strategy, by_labeled in runs.items():
            counts = sorted(common or by_labeled)
            for labeled in dict.fromkeys([counts[0], counts[-1]]):
                medians = query_medians(by_labeled[labeled])
                out.append(f"| {dataset} | {strategy} | {labeled:,} | {len(by_labeled[labeled])} | "
                           + " | ".join(f"{seconds:.1f}" for seconds in medians.values()) + " |")
    return "\n".join(out)


def main(argv=None):
    """Print the tables of the step logs named in ``argv``; return the exit code (2 if they hold no step)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="results folders (each steps_NNN.jsonl in them) or step logs")
    parser.add_argument("--query-costs", action="store_true",
                        help="one table of the median query seconds per strategy, at the smallest and largest "
                             "labeled count, instead of the per-step tables")
    args = parser.parse_args(argv)
    records = []
    for path in map(Path, args.paths):
        for log in step_logs(path) if path.is_dir() else [path]:
            records += read_steps(log)
    if not records:
        print(f"error: no step log line in {', '.join(args.paths)}", file=sys.stderr)
        return 2
    found = step_seconds(records)
    if args.query_costs:
        print("Median seconds of the steps that made a query, at the smallest and the largest labeled count "
              "at which every strategy of the dataset made one; model arrays: what the model computes for the "
              "pool, selection: the rest of the query\n")
        print(query_costs(found))
    else:
        print(tables(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
