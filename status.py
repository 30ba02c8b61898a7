"""Where a grid stands: the repetitions finished, running, stale and not started under a results root.

    python3 status.py [--out DIR] [--nRep N]

For each {dataset}_{network}[_{strategy}] folder it reads the state, lock and step log files alone (the step
log tells how long the last step took): it never takes a lock and never writes a file. A repetition is running
when a process holds its lock, seen in /proc/locks (the lock file's device and inode) without taking the lock.
That list only shows the locks of processes on this host (and in its pid namespace): an unfinished repetition
whose lock file names another host is "unknown" here, running or stale; run this command on that host to tell.
"""
import argparse
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import layout
from checkpoint import STEP_PARTS, load_state, read_steps
from errors import UserError

ORDER = ("finished", "running", "stale", "unknown", "not started")


@dataclass
class Repetition:
    number: int  # 1-based, as in the file names
    status: str  # one of ORDER
    steps: int | None = 0  # steps done; None: the state file cannot be read
    total: int | None = None  # nStep + 1; None: no settings tell it
    holder: str = ""  # "host H pid P" from the lock file: the process that holds it, or held it last
    since: float | None = None  # when the last step was saved (or the lock taken, before any step)
    took: float | None = None  # seconds of the last step in its step log; None: no step logged


def held_locks(proc_locks):
    """Return the set of (major, minor, inode) locked in ``proc_locks``, the text of /proc/locks (lines like
    '2: FLOCK  ADVISORY  WRITE 1234 fe:00:2146865 0 EOF'; a '->' line is a process waiting, not holding)."""
    held = set()
    for line in proc_locks.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[1] == "->":
            continue
        major, minor, inode = fields[5].split(":")
        held.add((int(major, 16), int(minor, 16), int(inode)))
    return held


def read_held_locks():
    """Return held_locks of this host's /proc/locks, or None where there is none (not Linux)."""
    try:
        return held_locks(Path("/proc/locks").read_text())
    except OSError:
        return None


def is_held(lock_path, held):
    """Return whether the file ``lock_path`` is among the ``held`` (major, minor, inode) triples."""
    try:
        stat = lock_path.stat()
    except OSError:
        return False
    return (os.major(stat.st_dev), os.minor(stat.st_dev), stat.st_ino) in held


def repetition(folder, number, n_step, held, this_host):
    """Return the Repetition ``number`` of ``folder``: ``n_step`` (from settings.json, or None) serves when
    there is no state; ``held`` is what read_held_locks returned."""
    results_path, state_path, lock_path, steps_path = layout.repetition_files(folder, number - 1)
    if not any(path.exists() for path in (state_path, lock_path, results_path)):
        return Repetition(number, "not started")
    steps, since = 0, None
    try:
        state = load_state(state_path)
    except UserError:  # a corrupt state is reported in the line, not raised
        state, steps = None, None
    if state is not None:
        steps, n_step, since = len(state.accuracies), state.settings["nStep"], state_path.stat().st_mtime
    elif steps is not None and results_path.exists():  # a folder of result files without states
        steps, since = len(results_path.read_text().splitlines()), results_path.stat().st_mtime
    holder = lock_path.read_text().strip() if lock_path.exists() else ""
    if since is None and lock_path.exists():
        since = lock_path.stat().st_mtime  # taken, no step saved yet
    total = None if n_step is None else n_step + 1
    holder_host = holder.split()[1] if holder.startswith("host ") else this_host
    if total is not None and steps == total:
        status = "finished"
    elif held is not None and is_held(lock_path, held):
        status = "running"
    elif held is None or holder_host != this_host:
        status = "unknown"
    else:
        status = "stale"
    logged = read_steps(steps_path)
    took = sum(logged[-1]["seconds"].get(part, 0.0) for part in STEP_PARTS) if logged else None
    return Repetition(number, status, steps, total, holder, since, took)


def folder_status(folder, n_rep=None, held=None, this_host=None):
    """Return the Repetitions of one results folder: every number found in its file names, and those up to
    ``n_rep`` (or the highest found) that have no file, as not started."""
    numbers = layout.repetition_numbers(folder)
    settings_path = folder / layout.SETTINGS
    n_step = json.loads(settings_path.read_text()).get("nStep") if settings_path.exists() else None
    last = max(numbers + [n_rep or 0])
    return [repetition(folder, number, n_step, held, this_host) for number in range(1, last + 1)]


def grid_status(out, n_rep=None, held=None, this_host=None):
    """Return {folder name: [Repetition]} for each results folder under ``out``, sorted by name."""
    return {folder.name: folder_status(folder, n_rep, held, this_host) for folder in sorted(Path(out).iterdir())
            if folder.is_dir() and layout.folder_labels(folder.name) is not None}


def ago(seconds):
    """Return a duration as '12 s', '7 min' or '2.5 h'."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def counts(reps):
    """Return '2 of 5 finished, 1 running, 2 not started': the count of each status present."""
    number = {status: sum(rep.status == status for rep in reps) for status in ORDER}
    rest = [f"{number[status]} {status}" for status in ORDER[1:] if number[status]]
    return ", ".join([f"{number['finished']} of {len(reps)} finished"] + rest)


def repetition_line(rep, now):
    """Return the line of a started, unfinished repetition: its status, steps done, holder, the age of its
    last step (or of its start, before any step) and how long the last step in its step log took."""
    steps = "?" if rep.steps is None else rep.steps
    line = f"  rep {rep.number:<3d} {rep.status:<8} {steps}/{rep.total or '?'} steps"
    if rep.steps is None:
        line += ", state file unreadable"
    if rep.holder:
        line += f", {'held by' if rep.status == 'running' else 'last held by'} {rep.holder}"
    if rep.status == "unknown":
        line += " (another host: run status.py there)"
    if rep.since is not None:
        line += f", last step {ago(now - rep.since)} ago" if rep.steps else f", started {ago(now - rep.since)} ago"
    if rep.took is not None:
        line += f" (took {ago(rep.took)})"
    return line


def describe(grid, out, this_host, now):
    """Return the lines printed for ``grid`` (grid_status): per folder its counts, a line per started unfinished
    repetition and one listing those not started; then the grid's counts."""
    lines = [f"{Path(out).resolve()}, seen from host {this_host}:"]
    for name, reps in grid.items():
        lines.append(f"{' '.join(layout.folder_labels(name))}: {counts(reps) if reps else 'no repetition yet'}")
        lines += [repetition_line(rep, now) for rep in reps if rep.status not in ("finished", "not started")]
        waiting = [str(rep.number) for rep in reps if rep.status == "not started"]
        if waiting:
            lines.append(f"  not started: rep {', '.join(waiting)}")
    lines.append(f"grid: {counts([rep for reps in grid.values() for rep in reps])}")
    return lines


def main(argv=None):
    """Print where the grid under --out stands; return the exit code (2 if --out is no folder)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results", help="the results root (the sweep's or run script's --out)")
    parser.add_argument("--nRep", type=int, help="repetitions the grid asked for, to count those not started "
                        "(default: up to the highest repetition found in each folder)")
    args = parser.parse_args(argv)
    if not Path(args.out).is_dir():
        print(f"error: --out {args.out} is not a folder", file=sys.stderr)
        return 2
    this_host = socket.gethostname()
    grid = grid_status(args.out, args.nRep, read_held_locks(), this_host)
    print("\n".join(describe(grid, args.out, this_host, time.time())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
