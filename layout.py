"""The results layout, the one place that names a run's folders and files:

    {out}/{dataset}_{network}[_{strategy}]/    one folder per dataset, network and strategy (no suffix for ldms)
        settings.json                           the settings that shaped its curves
        test_accs_NNN.txt                       repetition NNN's test accuracy after each step, one per line
        state_NNN.npz, state_NNN.lock           its saved state, and the lock of the process running it
        steps_NNN.jsonl                         its step log, one JSON line per step

NNN is the repetition's number, 1-based, written with at least three digits (repetition r = 0, 1, ... is 001, 002, ...).
"""
import re
from pathlib import Path
from typing import NamedTuple

from data import DATASETS

DEFAULT_STRATEGY = "ldms"  # the strategy whose folder has no suffix, and the run scripts' default
SETTINGS = "settings.json"
RESULTS_NAME = "test_accs_NNN.txt"  # how messages name a results file
STEPS_NAME = "steps_NNN.jsonl"  # how messages name a step log
_FILE = re.compile(r"(test_accs|state|steps)_(\d{3}|[1-9]\d{3,})\.(txt|npz|lock|jsonl)")  # as written: 001, 1000
_KINDS = {("test_accs", "txt"): "results", ("state", "npz"): "state", ("state", "lock"): "lock",
          ("steps", "jsonl"): "steps"}


class RepetitionFiles(NamedTuple):
    """The paths of one repetition's files."""

    results: Path
    state: Path
    lock: Path
    steps: Path


def repetition_files(folder, rep):
    """Return the RepetitionFiles of repetition ``rep`` (0-based) in the results folder ``folder``."""
    number = f"{rep + 1:03d}"
    folder = Path(folder)
    return RepetitionFiles(folder / f"test_accs_{number}.txt", folder / f"state_{number}.npz",
                           folder / f"state_{number}.lock", folder / f"steps_{number}.jsonl")


def file_kind(name):
    """Return (kind, number) of a repetition's file name: kind one of 'results', 'state', 'lock', 'steps' and
    number 1-based; None for any other name."""
    match = _FILE.fullmatch(name)
    if not match or (match[1], match[3]) not in _KINDS:
        return None
    return _KINDS[match[1], match[3]], int(match[2])


def repetition_numbers(folder, kinds=("results", "state", "lock")):
    """Return the sorted 1-based numbers of the repetitions that have a file of one of ``kinds`` in ``folder``."""
    found = (file_kind(path.name) for path in Path(folder).iterdir() if path.is_file())
    return sorted({number for kind, number in filter(None, found) if kind in kinds})


def step_logs(folder):
    """Return the step logs in ``folder``, sorted by repetition number."""
    return [repetition_files(folder, number - 1).steps for number in repetition_numbers(folder, ("steps",))]


def folder_name(dataset, network, strategy):
    """Return the name of the results folder of a (dataset, network, strategy)."""
    return f"{dataset}_{network}" + ("" if strategy == DEFAULT_STRATEGY else f"_{strategy}")


def folder_labels(name):
    """Return (dataset, network, strategy) that a results folder's ``name`` stands for, or None where it is not
    {dataset}_{network}[_{strategy}] with non-empty parts and a known dataset."""
    parts = name.split("_", 2)
    if len(parts) < 2 or not all(parts) or parts[0] not in DATASETS:
        return None
    return parts[0], parts[1], parts[2] if len(parts) == 3 else DEFAULT_STRATEGY
