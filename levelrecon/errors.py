"""Exceptions shared by the library; the CLI maps them to exit codes."""


class InputError(ValueError):
    """Bad user input (file, format, option value): the CLI exits with code 2."""


class OutputExistsError(InputError):
    """An output exists and overwriting was not asked for."""


class LevelreconWarning(UserWarning):
    """Recoverable problem with the input (for example dropped non-finite points)."""


def short_reason(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when empty), at most 160 characters: the
    "(…)" part of a one-line error about a file that a library could not read."""
    msg = str(exc).strip().splitlines()
    return (msg[0] if msg else type(exc).__name__)[:160]


def printable(text: str) -> str:
    """`text` as valid Unicode: a file name that is not UTF-8 reaches Python as lone surrogates
    (surrogateescape), which UTF-8 streams, CSV files and matplotlib refuse; each such byte becomes U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
