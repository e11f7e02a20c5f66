"""The base class of every error that describes bad input: a file, a folder, a config, a run's
state. Each layer raises its own subclass (a missing dataset file, a damaged checkpoint, ...);
the `eft-jax` console script reports any of them in one line on stderr with exit code 2, where
any other exception is a bug and keeps its traceback.
"""


class InputError(Exception):
    """Bad input that the user can fix; the message says what and where."""
