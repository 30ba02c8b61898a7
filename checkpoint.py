"""The saved state of a repetition (State), so that an interrupted run goes on from its last completed step; its
step log, a line per step; and the lock that lets one process at a time run a repetition."""
import fcntl
import json
import os
import socket
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from errors import RepetitionHeld, UserError
from utils import atomic_write, cannot_write

ARRAYS = ("labeled", "unlabeled", "valid", "sampling_set", "accuracies", "rng_key")
STEP_PARTS = ("training", "validation", "test", "query")  # a step's seconds; the query's own parts are in "query"
VERSION = 1


def whole_lines(text):
    """Return [(line, record)] of the whole lines of a step log's ``text``: each a JSON object ended by a
    newline. A line a crash tore while it was appended (no newline, or not JSON) is left out."""
    *lines, _ = text.split("\n")  # after the last newline: nothing, or a torn line
    whole = []
    for line in lines:
        try:
            whole.append((line + "\n", json.loads(line)))
        except ValueError:
            continue
    return whole


def read_steps(path):
    """Return the records of the step log ``path`` in file order (whole lines only, see whole_lines); [] if
    there is no such file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [record for _, record in whole_lines(text)]


def append_step(path, record):
    """Append ``record`` to the step log ``path`` as one line of JSON in one write, flushed to disk; return
    nothing. A crash leaves the line whole, or torn at the end of the file: whole_lines leaves it out, and
    keep_steps, which a run calls before its first append, removes it."""
    try:
        with open(path, "a") as file:
            file.write(json.dumps(record) + "\n")
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        raise cannot_write(path, error) from None


def keep_steps(path, n_steps):
    """Leave in the step log ``path`` only its whole lines of steps 0 .. n_steps - 1, rewriting it atomically
    when it holds anything else (a torn line, steps the state has not completed); a log that holds just those
    lines is not touched. Return nothing."""
    if not path.exists():
        return
    text = path.read_text()
    kept = "".join(line for line, record in whole_lines(text) if record["step"] < n_steps)
    if kept != text:
        atomic_write(path, lambda file: file.write(kept))


@dataclass
class State:
    """What a repetition carries from one step to the next: the settings that made it, the test accuracy of each
    completed step, the index sets, and the protocol generator (a NumPy RandomState) that shuffles the pool."""

    settings: dict
    accuracies: list
    labeled: np.ndarray
    unlabeled: np.ndarray
    valid: np.ndarray
    sampling_set: np.ndarray
    protocol_rng: np.random.RandomState


OLD_SETTINGS = {"backend": "tensorflow", "threads": 0}  # what states saved before these were recorded ran with


def save_state(path, state):
    """Atomically write ``state`` (a State) to ``path`` after a completed step (utils.atomic_write); return
    nothing."""
    rng_state = state.protocol_rng.get_state(legacy=False)
    meta = {"version": VERSION, "settings": state.settings, "rng_pos": rng_state["state"]["pos"],
            "rng_has_gauss": rng_state["has_gauss"], "rng_gauss": rng_state["gauss"]}
    atomic_write(path, lambda file: np.savez(
        file, meta=np.array(json.dumps(meta)), labeled=state.labeled, unlabeled=state.unlabeled,
        valid=state.valid, sampling_set=state.sampling_set,
        accuracies=np.asarray(state.accuracies, dtype=np.float64), rng_key=rng_state["state"]["key"]), mode="wb")


def load_state(path):
    """Return the State saved in ``path``, or None if there is none. Settings that older states lack get the
    values those states ran with (OLD_SETTINGS).

    A file that cannot be read is a UserError naming it; it is left as it is.
    """
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in ARRAYS}
            meta = json.loads(str(saved["meta"]))
        if meta.get("version") != VERSION:
            raise ValueError(f"version {meta.get('version')}, expected {VERSION}")
        protocol_rng = np.random.RandomState()
        protocol_rng.set_state({"bit_generator": "MT19937", "state": {"key": arrays["rng_key"], "pos": meta["rng_pos"]},
                                "has_gauss": meta["rng_has_gauss"], "gauss": meta["rng_gauss"]})
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
        raise UserError(f"{path}: corrupt or truncated state file ({type(error).__name__}: {error}); it was left "
                        "as it is: remove it, or run with --fresh to start this repetition over") from None
    return State(OLD_SETTINGS | meta["settings"], arrays["accuracies"].tolist(), arrays["labeled"],
                 arrays["unlabeled"], arrays["valid"], arrays["sampling_set"], protocol_rng)


@contextmanager
def hold_lock(path, wait=False):
    """Hold the lock file ``path`` for the ``with`` block, with this host and pid written into it.

    The lock is an ``flock`` on the open file: the kernel drops it when the holder exits or dies, even by
    SIGKILL, so a stale file never blocks. If another process holds it: RepetitionHeld naming the holder, or
    with ``wait`` a line saying so and a wait until it is released.
    """
    try:
        file = open(path, "a+")
    except OSError as error:
        raise cannot_write(path, error) from None
    with file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "a process that is starting"
            if not wait:
                raise RepetitionHeld(f"{path} is held by {holder}") from None
            print(f"{path} is held by {holder}: waiting for it", flush=True)
            fcntl.flock(file, fcntl.LOCK_EX)
        try:
            file.truncate(0)  # in append mode, the next write then starts the file
            file.write(f"host {socket.gethostname()} pid {os.getpid()}\n")
            file.flush()
        except OSError as error:
            raise cannot_write(path, error) from None
        yield
