"""The shared plumbing: atomic writes that fail cleanly, and the writable-folder probe."""
import pytest

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
