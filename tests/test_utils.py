"""The shared plumbing: atomic writes that fail cleanly, and the writable-folder probe."""
import subprocess
import sys

import pytest

from conftest import ROOT
from errors import StorageError
from utils import atomic_write, writable_folder_problem


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old\n")
    atomic_write(path, lambda file: file.write("new\n"))
    assert path.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_a_failing_write_keeps_the_old_file_and_names_the_path(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old\n")

    def half_then_full_disk(file):
        file.write("ne")
        raise OSError(28, "No space left on device")

    with pytest.raises(StorageError, match=rf"^cannot write {path} \(No space left on device\)$"):
        atomic_write(path, half_then_full_disk)
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # the temporary file is gone


def test_writable_folder_problem(tmp_path):
    assert writable_folder_problem(tmp_path / "new" / "folder") is None
    assert (tmp_path / "new" / "folder").is_dir() and not list((tmp_path / "new" / "folder").iterdir())
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert writable_folder_problem(blocker / "results") == "Not a directory"


def test_two_processes_rewriting_one_file_never_trip_over_each_other(tmp_path):
    path = tmp_path / "settings.json"  # as two runs sharing a results folder both write it at their start
    program = ("import sys; from utils import atomic_write\n"
               "for _ in range(300): atomic_write(sys.argv[1], lambda file: file.write(sys.argv[2] * 5000))")
    writers = [subprocess.Popen([sys.executable, "-c", program, str(path), letter], cwd=ROOT, stderr=subprocess.PIPE,
                                text=True) for letter in "ab"]
    errors = [writer.communicate(timeout=120)[1] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], errors  # a StorageError in either ends it with 1
    assert path.read_text() in ("a" * 5000, "b" * 5000) and sorted(p.name for p in tmp_path.iterdir()) == [path.name]
