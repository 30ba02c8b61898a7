"""The one exception type for user mistakes (bad flags, bad data files)."""


class UserError(Exception):
    """A mistake in the user's input: the run scripts print its message on one line and exit 2."""


class TrainingDiverged(Exception):
    """Training produced a non-finite loss: the step stops with this message instead of a meaningless accuracy."""
