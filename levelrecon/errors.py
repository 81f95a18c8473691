"""Exceptions shared by the library; the CLI maps them to exit codes."""


class InputError(ValueError):
    """Bad user input (file, format, option value): the CLI exits with code 2."""


class OutputExistsError(InputError):
    """An output exists and overwriting was not asked for."""


class LevelreconWarning(UserWarning):
    """Recoverable problem with the input (for example dropped non-finite points)."""
