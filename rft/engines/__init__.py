"""Sampling engines; each registers under the ``rft.engines`` entry point and is imported only when used."""

from rft.engines.base import Engine

__all__ = ["Engine"]
