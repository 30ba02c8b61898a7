"""The repetition lock: one holder at a time, named to the refused; released on exit; waited for on request."""
import os
import socket
import threading
import time

import pytest

from checkpoint import hold_lock
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
