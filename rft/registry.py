"""Plugin lookup through entry points: the built-ins register exactly like third-party packages.

Groups: ``rft.tasks``, ``rft.verifiers``, ``rft.engines``. Listing names imports nothing; a plugin
is imported only when it is looked up. A third-party package adds one in its ``pyproject.toml``:

    [project.entry-points."rft.tasks"]
    my_task = "my_package.tasks:MyTask"
"""

from __future__ import annotations

import inspect
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from rft.errors import RftError, UnknownPluginError

GROUPS = {"task": "rft.tasks", "verifier": "rft.verifiers", "engine": "rft.engines"}


def _entry_points(kind: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUPS[kind])}


def names(kind: str) -> list[str]:
    """Sorted names of installed plugins of ``kind`` ("task", "verifier" or "engine")."""
    return sorted(_entry_points(kind))


def describe(kind: str) -> list[tuple[str, str]]:
    """``(name, "module:object")`` for each installed plugin, without importing any of them."""
    return [(name, ep.value) for name, ep in sorted(_entry_points(kind).items())]


def load(kind: str, name: str) -> Any:
    """The class (or factory) registered under ``name``; raises with the known names if missing."""
    eps = _entry_points(kind)
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none"
        raise UnknownPluginError(f"unknown {kind} {name!r}; installed {kind}s: {known}")
    return eps[name].load()


def create(kind: str, name: str, **kwargs: Any) -> Any:
    """Instantiate the plugin ``name`` with keyword arguments (from flags or YAML).

    Arguments the plugin does not accept, or values it rejects with ``ValueError``, raise `RftError`.
    """
    factory = load(kind, name)
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as e:
        params = [p for p in inspect.signature(factory).parameters if p not in ("self", "kwargs")]
        raise RftError(f"{kind} {name!r}: {e}; it accepts: {', '.join(params) or 'no arguments'}") from None
    try:
        return factory(**kwargs)
    except ValueError as e:
        raise RftError(f"{kind} {name!r}: {e}") from None
