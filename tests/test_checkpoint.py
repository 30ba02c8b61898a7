"""The repetition lock: one holder at a time, named to the refused; released on exit; waited for on request.
The step log: whole lines read, a torn one left out, and cut back to the steps a state has completed.
The state: saved and loaded as it was; one saved before the backend and threads were recorded loads with theirs."""
import json
import os
import socket
import threading
import time

import numpy as np
import pytest

from checkpoint import State, append_step, hold_lock, keep_steps, load_state, read_steps, save_state
from errors import RepetitionHeld


def test_a_held_lock_refuses_a_second_holder_naming_the_first(tmp_path):
    lock = tmp_path / "state_001.lock"
    with hold_lock(lock):
        assert lock.read_text() == f"host {socket.gethostname()} pid {os.getpid()}\n"
        with pytest.raises(RepetitionHeld, match=f"^{lock} is held by host {socket.gethostname()} pid {os.getpid()}$"):
            with hold_lock(lock):
                pass
    with hold_lock(lock):  # released at the end of the block
        pass


def test_waiting_for_a_lock_goes_on_once_it_is_released(tmp_path, capsys):
    lock, events = tmp_path / "state_001.lock", []

    def second_holder():
        with hold_lock(lock, wait=True):
            events.append("second holds it")

    printed, deadline = "", time.time() + 30
    with hold_lock(lock):
        waiter = threading.Thread(target=second_holder)
        waiter.start()
        while "waiting for it" not in printed and time.time() < deadline:
            time.sleep(0.01)
            printed += capsys.readouterr().out
        events.append("first lets go")
    waiter.join(timeout=30)
    assert events == ["first lets go", "second holds it"]
    assert f"{lock} is held by host {socket.gethostname()} pid {os.getpid()}: waiting for it" in printed


LINES = ['{"step": 0, "labeled": 20}\n', '{"step": 1, "labeled": 30}\n', '{"step": 2, "labeled": 40}\n']


def test_a_torn_last_line_of_the_step_log_is_left_out_and_dropped_with_steps_not_completed(tmp_path):
    log = tmp_path / "steps_001.jsonl"
    keep_steps(log, 0)
    assert read_steps(log) == [] and not log.exists()  # no log, none made
    log.write_text("".join(LINES) + '{"step": 3, "labeled": 50}')  # valid JSON, but its newline never written
    assert read_steps(log) == [{"step": 0, "labeled": 20}, {"step": 1, "labeled": 30}, {"step": 2, "labeled": 40}]
    log.write_text("".join(LINES) + '{"step": 3, "lab')
    assert [record["step"] for record in read_steps(log)] == [0, 1, 2]

    keep_steps(log, 3)  # the state holds steps 0 to 2: only the torn line goes
    assert log.read_text() == "".join(LINES)
    kept = log.stat()
    keep_steps(log, 3)  # nothing to drop: the file is not rewritten
    assert (log.stat().st_ino, log.stat().st_mtime_ns) == (kept.st_ino, kept.st_mtime_ns)
    keep_steps(log, 1)
    assert log.read_text() == LINES[0]
    append_step(log, {"step": 1, "labeled": 30, "seconds": {"training": 1.5}})
    text = log.read_text()
    assert text.startswith(LINES[0]) and text.count("\n") == 2 and text.endswith("}\n")  # one whole line added
    assert read_steps(log) == [{"step": 0, "labeled": 20}, {"step": 1, "labeled": 30, "seconds": {"training": 1.5}}]
    assert not list(tmp_path.glob("*.tmp"))


def test_a_state_saved_before_backend_and_threads_were_recorded_loads_with_what_it_ran_with(tmp_path):
    rng = np.random.RandomState(7)
    rng.shuffle(np.arange(10))
    key, pos = rng.get_state()[1], rng.get_state()[2]
    meta = {"version": 1, "settings": {"dataset": "mnist", "nStep": 50}, "rng_pos": int(pos),
            "rng_has_gauss": 0, "rng_gauss": 0.0}
    path = tmp_path / "state_001.npz"
    np.savez(path, meta=np.array(json.dumps(meta)), labeled=np.array([3, 1]), unlabeled=np.array([0, 2, 4]),
             valid=np.array([5]), sampling_set=np.array([1, 4]), accuracies=np.array([0.25, 0.5]), rng_key=key)
    state = load_state(path)
    assert state.settings == {"backend": "tensorflow", "threads": 0, "dataset": "mnist", "nStep": 50}
    assert state.accuracies == [0.25, 0.5]
    assert state.labeled.tolist() == [3, 1] and state.unlabeled.tolist() == [0, 2, 4]
    assert state.valid.tolist() == [5] and state.sampling_set.tolist() == [1, 4]
    assert state.protocol_rng.randint(1000) == rng.randint(1000)  # goes on where the saved generator stopped


def test_a_saved_state_loads_as_it_was(tmp_path):
    rng = np.random.RandomState(3)
    rng.standard_normal()  # a cached Gaussian is part of the generator's state
    state = State({"dataset": "cifar10", "threads": 2}, [0.125], np.array([9]), np.array([1, 2]), np.array([0]),
                  np.array([2]), rng)
    save_state(tmp_path / "s.npz", state)
    loaded = load_state(tmp_path / "s.npz")
    assert loaded.settings == {"backend": "tensorflow", "dataset": "cifar10", "threads": 2}
    assert loaded.accuracies == [0.125] and loaded.labeled.tolist() == [9] and loaded.unlabeled.tolist() == [1, 2]
    assert loaded.protocol_rng.standard_normal() == rng.standard_normal()
