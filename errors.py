"""The exception types the run scripts turn into one-line messages."""


class UserError(Exception):
    """A mistake in the user's input: the run scripts print its message on one line and exit 2."""


class TrainingDiverged(Exception):
    """Training produced a non-finite loss: the step stops with this message instead of a meaningless accuracy."""


class StorageError(Exception):
    """A results file could not be written (a full disk, a folder turned read-only): the run stops with exit
    code 1, the last completed step's files intact, and the same command resumes once the cause is fixed."""


class RepetitionHeld(Exception):
    """Another live process holds a repetition's lock: a run leaves that repetition to it and goes on."""
