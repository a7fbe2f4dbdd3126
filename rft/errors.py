"""User-facing errors. Each says what went wrong and how to fix it; the CLI prints it as one line.

Unexpected errors (bugs) are not `RftError`s and keep their traceback.
"""

from __future__ import annotations


class RftError(Exception):
    """A mistake the user can fix (bad flag, missing file, malformed row, ...)."""


class DataError(RftError):
    """Input data is missing or malformed; the message names the file and line."""


class UnknownPluginError(RftError):
    """A task, verifier, engine or model name that is not installed; the message lists the known names."""


class RunMismatchError(RftError):
    """``--out`` already holds a run made with different settings."""


class MissingDependencyError(RftError):
    """An optional dependency is not installed; the message gives the exact pip line."""


def require(module: str, extra: str) -> None:
    """Fail at once with the exact install line if ``module`` cannot be imported.

    Example:
        >>> require("json", "train")  # no error: json is importable
    """
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(
            f"{module!r} is not installed; install it with: pip install 'rftkit[{extra}]'")
