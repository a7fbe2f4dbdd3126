"""The verifier protocol: extract a final answer from model text and judge it against the gold.

A verifier never raises on model text: it returns a `Verdict` with ``correct`` True/False, or None
when the sample cannot be judged (``gold_unparseable``). Gold comes first, as in Math-Verify.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rft.records import Verdict


class Verifier:
    """Base class: subclasses implement `verify` (and may override `verify_batch` to parallelise)."""

    name: ClassVar[str] = "base"
    version: ClassVar[str] = "0"

    def verify(self, gold: str, completion: str) -> Verdict:
        """Judge one completion against the gold answer."""
        raise NotImplementedError

    def verify_batch(self, golds: Sequence[str], completions: Sequence[str]) -> list[Verdict]:
        """Judge many completions; the default runs `verify` in order."""
        return [self.verify(g, c) for g, c in zip(golds, completions, strict=True)]

    def verdict(self, correct: bool | None, extracted: str | None, reason: str) -> Verdict:
        """A `Verdict` stamped with this verifier's name and version (so runs can be re-verified)."""
        return Verdict(correct=correct, extracted=extracted, reason=reason,
                       verifier=self.name, version=self.version)

    def close(self) -> None:
        """Release worker processes or other resources (no-op by default)."""
