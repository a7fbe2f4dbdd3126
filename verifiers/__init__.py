"""Rule-based verifiers (installed as ``rft.verifiers``); each registers under the ``rft.verifiers`` entry point."""

from rft.verifiers.base import Verifier

__all__ = ["Verifier"]
