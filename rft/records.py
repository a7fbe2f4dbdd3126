"""The small records that flow between stages: `Problem`, `SamplingParams`, `Completion`, `Verdict`, `Sample`.

Every stage reads and writes these as JSON lines (see `rft.jsonl`), so a run directory can be
inspected with `head`, re-verified without sampling again, and loaded as a Hugging Face dataset:

    >>> from rft.records import Problem
    >>> Problem(id="gsm8k/0", prompt="1+1?", answer="2").to_dict()["answer"]
    '2'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1

Messages = list[dict[str, Any]]


@dataclass(frozen=True)
class Problem:
    """One question with its ground truth.

    Args:
        id: Stable id, unique within a task (e.g. ``"gsm8k/17"``); samples refer to it.
        prompt: The user text, or a full list of chat messages.
        answer: Ground-truth final answer, as a string (verifiers parse it).
        images: Paths of images the prompt refers to (vision tasks), in order.
        metadata: Anything else the task wants to keep (reference solution, level, ...).
    """

    id: str
    prompt: str | Messages
    answer: str
    images: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    def messages(self) -> Messages:
        """The prompt as a list of chat messages."""
        if isinstance(self.prompt, list):
            return [dict(m) for m in self.prompt]
        return [{"role": "user", "content": self.prompt}]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "prompt": self.prompt, "answer": self.answer,
                "images": list(self.images), "metadata": self.metadata}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Problem:
        return cls(id=str(d["id"]), prompt=d["prompt"], answer=str(d["answer"]),
                   images=tuple(d.get("images") or ()), metadata=dict(d.get("metadata") or {}))


@dataclass(frozen=True)
class SamplingParams:
    """How to sample: ``n`` completions per problem and the usual decoding knobs.

    ``temperature=0`` means greedy decoding (then ``n`` should be 1).
    """

    n: int = 8
    temperature: float = 0.8
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        object.__setattr__(self, "stop", tuple(self.stop))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["stop"] = list(self.stop)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SamplingParams:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class Completion:
    """What an engine returns for one sample of one problem (before verification)."""

    problem_id: str
    index: int
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"  # "stop" | "length"


@dataclass(frozen=True)
class Verdict:
    """A verifier's judgement of one completion.

    ``correct`` is ``None`` when the sample cannot be judged (e.g. the gold answer is unparseable);
    ``reason`` is a short machine-readable word (``match``, ``mismatch``, ``no_answer``, ``timeout``,
    ``gold_unparseable`` ...) a user can read.
    """

    correct: bool | None
    extracted: str | None = None
    reason: str = ""
    verifier: str = ""
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        return cls(**d)


@dataclass(frozen=True)
class Sample:
    """One sampled completion with its provenance and verdict; one line of ``samples.jsonl``."""

    id: str
    problem_id: str
    model: str
    index: int
    completion: str
    params: dict[str, Any]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    verdict: Verdict | None = None
    schema: int = SCHEMA_VERSION

    @property
    def correct(self) -> bool:
        return bool(self.verdict and self.verdict.correct)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["verdict"] = self.verdict.to_dict() if self.verdict else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sample:
        d = dict(d)
        v = d.get("verdict")
        d["verdict"] = Verdict.from_dict(v) if v else None
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
