"""Synthetic multi-step arithmetic word problems: seeded, exact ground truth, unlimited offline supply.

Difficulty knobs: ``steps`` (operations per problem) and ``max_operand``. Every intermediate value
is a non-negative integer (divisions are exact), so the gold is exact.

    rft generate --task arith --task-arg count=50 --task-arg steps=3 --n 8
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any, ClassVar

from rft.records import Problem
from rft.tasks.base import Task

PROMPT = "{question}\nPlease reason step by step, and put your final answer within \\boxed{}."

_NAMES = ["Ava", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goro", "Hana", "Ivan", "Jia", "Kofi", "Lena"]
_ITEMS = ["apples", "marbles", "stickers", "books", "coins", "pencils", "shells", "cards"]


def make_problem(rng: random.Random, steps: int, max_operand: int) -> tuple[str, int]:
    """One word problem and its exact integer answer."""
    name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    value = rng.randint(2, max_operand)
    sentences = [f"{name} has {value} {item}."]
    for _ in range(steps):
        op = rng.choice(["add", "sub", "mul", "div"])
        if op == "sub" and value < 2:
            op = "add"
        if op == "div":
            divisors = [d for d in range(2, 10) if value % d == 0]
            if not divisors:
                op = "mul"
        if op == "add":
            k = rng.randint(1, max_operand)
            value += k
            sentences.append(f"Then {name} gets {k} more {item}.")
        elif op == "sub":
            k = rng.randint(1, value - 1)
            value -= k
            sentences.append(f"Then {name} gives away {k} {item}.")
        elif op == "mul":
            k = rng.randint(2, 5)
            value *= k
            sentences.append(f"Then the number of {item} {name} has becomes {k} times as large.")
        else:
            k = rng.choice(divisors)
            value //= k
            sentences.append(f"Then {name} shares the {item} equally among {k} friends and keeps one share.")
    sentences.append(f"How many {item} does {name} have now?")
    return " ".join(sentences), value


class ArithTask(Task):
    """Seeded arithmetic word problems; default verifier ``numeric``.

    Args:
        count: Number of problems.
        steps: Operations per problem (difficulty).
        max_operand: Largest number added or subtracted, and the largest start value.
        seed: Random seed; the same seed gives the same problems and ids.
    """

    name: ClassVar[str] = "arith"
    default_verifier: ClassVar[str] = "numeric"
    prompt_template: ClassVar[str] = PROMPT

    def __init__(self, count: int = 100, steps: int = 3, max_operand: int = 50, seed: int = 0,
                 data: str | None = None, prompt_template: str | None = None, system: str | None = None):
        count, steps, max_operand, seed = int(count), int(steps), int(max_operand), int(seed)
        if count < 1 or steps < 1 or max_operand < 2:
            raise ValueError("arith needs count >= 1, steps >= 1 and max_operand >= 2")
        if data:
            raise ValueError("arith generates its problems; it takes no --data")
        super().__init__(prompt_template=prompt_template, system=system)
        self.count, self.steps, self.max_operand, self.seed = count, steps, max_operand, seed

    def config(self) -> dict[str, Any]:
        return {**super().config(), "count": self.count, "steps": self.steps,
                "max_operand": self.max_operand, "seed": self.seed}

    def problems(self) -> Iterator[Problem]:
        rng = random.Random(f"arith/{self.seed}/{self.steps}/{self.max_operand}")
        for i in range(self.count):
            question, answer = make_problem(rng, self.steps, self.max_operand)
            yield Problem(id=f"arith/s{self.seed}-k{self.steps}-m{self.max_operand}/{i}",
                          prompt=self.format_prompt(question), answer=str(answer),
                          metadata={"question": question})
