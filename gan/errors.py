"""Errors a user can cause. The command line turns these into one line on stderr and exit code 2;
the UI shows their message. Anything else is a bug and keeps its traceback."""


class GanInputError(ValueError):
    """Bad input from the user: a name, a number, a file or a folder we cannot use."""


class TrainingDiverged(RuntimeError):
    """A loss or a weight became NaN/inf; the run stops and keeps its last good checkpoint."""
