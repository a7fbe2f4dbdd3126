"""The engine protocol: sample ``n`` completions per problem and yield them problem by problem.

An engine yields, for each problem, the list of its ``n`` `Completion`s as soon as they are done,
so the pipeline can verify and store them while the engine works on the next batch. Heavy imports
(torch, vLLM) happen in the constructor, never at module import.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from rft.records import Completion, Messages, Problem, SamplingParams


class Engine:
    """Base class for engines.

    Args:
        model: A catalog name, a local path or a Hugging Face id.
    """

    name: ClassVar[str] = "base"
    supports_images: ClassVar[bool] = False

    def __init__(self, model: str, **kwargs: Any):
        self.model_name = model

    @property
    def model_id(self) -> str:
        """The model's name as recorded in each sample's provenance."""
        return self.model_name

    def generate(self, problems: Sequence[Problem], params: SamplingParams) -> Iterator[list[Completion]]:
        """Yield ``params.n`` completions for each problem, one list per problem, in any order."""
        raise NotImplementedError

    def close(self) -> None:
        """Free the model (no-op by default)."""


def render_chat(tokenizer: Any, messages: Messages) -> str:
    """Apply the tokenizer's chat template with a generation prompt.

    Note:
        Base models without a chat template get a plain ``role: content`` layout ending in
        ``assistant:`` instead of an error.
    """
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join(lines) + "\nassistant:"


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the first stop string; returns the text and whether a stop string was found."""
    cut = min((i for s in stop if (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def problem_seed(seed: int, problem_id: str) -> int:
    """A per-problem seed, so a problem's samples do not depend on batching, order or resumes."""
    return (seed * 1_000_003 + zlib.crc32(problem_id.encode())) % (1 << 31)
