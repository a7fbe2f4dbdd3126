"""Built-in tasks (installed as ``rft.tasks``); each registers under the ``rft.tasks`` entry point."""

from rft.tasks.base import Task

__all__ = ["Task"]
