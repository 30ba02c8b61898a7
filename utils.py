"""Plumbing shared by the run, the checkpoint and the sweep: files written atomically, a writable-folder probe,
the seconds of a step's parts."""
import os
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from errors import StorageError


def atomic_write(path, write, mode="w"):
    """Write ``path`` through ``write(file)`` atomically: a temporary file beside it, flushed, fsynced and
    renamed over it, so a crash leaves the old or the new file, never half of one.

    A write that fails (a full disk, a folder turned read-only) removes the temporary file, leaves ``path``
    as it was and raises StorageError naming ``path``.
    """
    path = Path(path)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # one per process: two runs may share a folder
    try:
        with open(temporary, mode) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        try:
            temporary.unlink(missing_ok=True)  # give back the space it took
        except OSError:
            pass  # a read-only folder: nothing was written either
        raise cannot_write(path, error) from None


def cannot_write(path, error):
    """Return the StorageError for an OSError met while writing ``path``: one line naming the path and the cause."""
    return StorageError(f"cannot write {path} ({error.strerror or error})")


def writable_folder_problem(folder):
    """Create ``folder`` if needed, then write and remove a probe file in it; return None, or what went wrong."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        probe = Path(folder) / f".write-test-{uuid.uuid4().hex}"
        probe.write_text("")
        probe.unlink()
        return None
    except OSError as error:
        return error.strerror or str(error)


@contextmanager
def timed(timings, part):
    """Add the seconds the ``with`` block takes to ``timings[part]`` (a dict of seconds; 0 where absent)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[part] = timings.get(part, 0.0) + time.perf_counter() - started
