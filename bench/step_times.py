"""Where the seconds of a run went, from its step log lines (what run_mnist.py / run_cifar10.py print).

    python3 bench/step_times.py cifar_cmp.log [more logs]

Prints one Markdown table per (dataset, strategy): for each labeled count, the number of steps seen and
the median seconds of each part (training, validation, test, query and the query's own parts) and of the
whole step, then those step medians added up over the labeled counts seen (a whole repetition once every
step is in the log). A log of a run that shared the CPU gives upper bounds, not the uncontended figures.
"""
import argparse
import re
import statistics
import sys
from collections import defaultdict

HEADER = re.compile(r"^LDM-S (\w+): .*--strategy=(\w+)")
STEP = re.compile(r"rep (\d+)/\d+ step \d+/\d+ \| labeled (\d+) \| test acc [\d.]+ "
                  r"\| train ([\d.]+)s valid ([\d.]+)s test ([\d.]+)s \| query ([\d.]+)s(?: \((.*)\))?$")
QUERY_PART = re.compile(r"(\w+) ([\d.]+)s")  # "features 2.7s estimation 1.9s seeding 0.0s"
PARTS = ("train", "valid", "test", "query")


def step_seconds(lines):
    """Return {(dataset, strategy): {labeled: [{part: seconds} per step seen]}} from the lines of a log."""
    found = defaultdict(lambda: defaultdict(list))
    run = ("?", "?")
    for line in lines:
        header = HEADER.match(line)
        if header:
            run = header.groups()
            continue
        step = STEP.search(line.strip())
        if not step:
            continue
        seconds = dict(zip(PARTS, map(float, step.group(3, 4, 5, 6))))
        seconds |= {part: float(value) for part, value in QUERY_PART.findall(step.group(7) or "")}
        found[run][int(step.group(2))].append(seconds)
    return found


def tables(found):
    """Return the Markdown tables of ``step_seconds``' result, one per run."""
    out = []
    for (dataset, strategy), by_labeled in sorted(found.items()):
        parts = list(dict.fromkeys(part for steps in by_labeled.values() for step in steps for part in step))
        out += [f"\n{dataset}, {strategy}: median seconds per step\n",
                "| labeled | steps seen | " + " | ".join(parts) + " | step |",
                "|---|---|" + "---|" * (len(parts) + 1)]
        total = 0.0
        for labeled, steps in sorted(by_labeled.items()):
            medians = {part: statistics.median(step.get(part, 0.0) for step in steps) for part in parts}
            whole = sum(medians[part] for part in PARTS if part in medians)
            total += whole
            out.append(f"| {labeled:,} | {len(steps)} | " + " | ".join(f"{medians[part]:.1f}" for part in parts)
                       + f" | {whole:.1f} |")
        out.append(f"\nThe steps seen, their medians added up: {total / 60:.1f} minutes.")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", help="log files of run_mnist.py / run_cifar10.py")
    args = parser.parse_args(argv)
    lines = []
    for path in args.logs:
        with open(path, errors="replace") as log:
            lines += log.read().splitlines()
    print(tables(step_seconds(lines)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
