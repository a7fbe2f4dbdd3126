"""An example third-party rftkit plugin: a task and a verifier in one small file.

Installed with ``pip install ./tests/plugin``; then ``rft tasks`` lists ``squares`` and
``rft generate --task squares ...`` uses it exactly like a built-in.
"""

from __future__ import annotations

from collections.abc import Iterator

from rft.records import Problem, Verdict
from rft.tasks.base import Task
from rft.verifiers.base import Verifier


class SquaresTask(Task):
    """What is k squared? for k = 1..count."""

    name = "squares"
    default_verifier = "exact"
    prompt_template = "What is {question} squared? Answer with the number only."

    def __init__(self, count: int = 10, **kwargs: str | None):
        super().__init__(**kwargs)
        self.count = int(count)

    def problems(self) -> Iterator[Problem]:
        for k in range(1, self.count + 1):
            yield Problem(id=f"squares/{k}", prompt=self.format_prompt(str(k)), answer=str(k * k))


class ExactVerifier(Verifier):
    """Correct when the stripped completion equals the gold exactly."""

    name = "exact"
    version = "1"

    def verify(self, gold: str, completion: str) -> Verdict:
        text = completion.strip()
        return self.verdict(text == gold, text[:50], "match" if text == gold else "mismatch")
