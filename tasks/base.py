"""The task protocol: a source of `Problem`s with ground truth, a prompt template and a default verifier.

A task is one small class. Arguments come from CLI ``key=value`` flags or YAML and are recorded in
the run's config so every run can be rebuilt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, ClassVar

from rft.jsonl import numbered_jsonl
from rft.records import Messages, Problem


class Task:
    """Base class: subclasses implement `problems`.

    Args:
        data: Path of a local data file (JSONL), when the task reads one.
        prompt_template: Overrides the task's template; ``{question}`` is replaced by the problem text.
        system: Optional system message.
    """

    name: ClassVar[str] = "base"
    default_verifier: ClassVar[str] = "numeric"
    prompt_template: ClassVar[str] = "{question}"

    def __init__(self, data: str | None = None, prompt_template: str | None = None, system: str | None = None):
        self.data = data
        if prompt_template is not None:
            self.prompt_template = prompt_template  # type: ignore[misc]
        self.system = system

    def problems(self) -> Iterator[Problem]:
        """Yield the task's problems in a stable order."""
        raise NotImplementedError

    def format_prompt(self, question: str) -> str | Messages:
        """The prompt for ``question``: the filled template, as chat messages if a system message is set."""
        text = self.prompt_template.replace("{question}", question)
        if self.system:
            return [{"role": "system", "content": self.system}, {"role": "user", "content": text}]
        return text

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this task (recorded in the run directory); subclasses add their options."""
        return {"name": self.name, "data": self.data, "prompt_template": self.prompt_template, "system": self.system}



class DatasetTask(Task):
    """A task read from a local JSONL file (``data``) or, without one, from a Hugging Face Hub dataset.

    Subclasses set ``hub_path`` (and ``hub_name`` for datasets with configs) and turn `rows` into problems.

    Args:
        data: Local JSONL path; if None, ``datasets.load_dataset(hub_path, hub_name, split=split)``.
        split: Hub split when ``data`` is None.
    """

    hub_path: ClassVar[str] = ""
    hub_name: ClassVar[str | None] = None

    def __init__(self, data: str | None = None, split: str = "test", prompt_template: str | None = None,
                 system: str | None = None):
        super().__init__(data=data, prompt_template=prompt_template, system=system)
        self.split = split

    def config(self) -> dict[str, Any]:
        return {**super().config(), "split": self.split}

    def rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(where, row)`` pairs; ``where`` ("file:line") is used in error messages."""
        if self.data:
            for lineno, row in numbered_jsonl(self.data):
                yield f"{self.data}:{lineno}", row
        else:
            import datasets

            for i, row in enumerate(datasets.load_dataset(self.hub_path, self.hub_name, split=self.split)):
                yield f"{self.hub_path}[{self.split}][{i}]", dict(row)


def stable_id(prefix: str, text: str, seen: dict[str, int]) -> str:
    """A content-derived id (same question, same id across files and layouts); repeats get a suffix."""
    pid = f"{prefix}/{hashlib.sha1(text.strip().encode()).hexdigest()[:12]}"
    seen[pid] = seen.get(pid, 0) + 1
    return pid if seen[pid] == 1 else f"{pid}-{seen[pid]}"
