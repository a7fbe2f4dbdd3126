"""Tests for `rft.calc`: claim extraction, recomputation with rounding, and the safe evaluator."""

from __future__ import annotations

import builtins
import time
from fractions import Fraction

import pytest

from rft.calc import CalcError, evaluate, extract_calculations, normalize, signature, wrong_steps

# (text, expected [(normalized claim, correct)], what it shows)
CLAIMS = [
    ("She sold 48 / 2 = <<48/2=24>>24 clips.", [("48/2=24", True)], "GSM8K annotation + inline, listed once"),
    ("<<48/2=25>>", [("48/2=25", False)], "wrong annotation"),
    ("So 3 * 4 = 13 apples.", [("3*4=13", False)], "wrong inline step"),
    ("3 * 4 = 12 + 1 = 13", [("3*4=12", True), ("12+1=13", True)], "chain: result then continuation"),
    ("3 * 4 = 12 + 1 = 14", [("3*4=12", True), ("12+1=14", False)], "chain with a wrong second step"),
    ("3 * 4 = 13 + 1 = 14", [("3*4=13", False), ("13+1=14", True)], "chain with a wrong first step"),
    ("2*6 = 3*4 = 12", [("2*6=3*4", True), ("3*4=12", True)], "chain of equal expressions"),
    ("$1,200 × 2 = $2,400 in total", [("1200*2=2400", True)], "$ and thousands commas, ×"),
    ("3 x 4 = 12 and 12 ÷ 4 = 3", [("3*4=12", True), ("12/4=3", True)], "x and ÷ operators"),
    ("2^3 = 8 and (3 + 4) * 2 = 14", [("2**3=8", True), ("(3+4)*2=14", True)], "power and parentheses"),
    ("\\$3 \\times 4 = \\$12", [("3*4=12", True)], "LaTeX operators and dollars"),
    ("10 / 3 = 3.33 each", [("10/3=3.33", True)], "rounded to 2 decimals"),
    ("2 / 3 = 0.67", [("2/3=0.67", True)], "rounded up"),
    ("2 / 3 = 0.66", [("2/3=0.66", True)], "truncated"),
    ("2 / 3 = 0.65", [("2/3=0.65", False)], "off by more than the last decimal"),
    ("7 / 2 = 3 boxes", [("7/2=3", True)], "integer result of a non-integer quotient (floor)"),
    ("7 * 3 = 20", [("7*3=20", False)], "integer arithmetic is exact"),
    ("2.50 + 0.5 = 3.00", [("2.5+0.5=3", True)], "trailing zeros normalised"),
    ("30 / 120 = 25%", [("30/120=25%", True)], "percent result read as /100"),
    ("0.25 * 100 = 25%", [("0.25*100=25%", True)], "percent sign as a label"),
    ("-3 + 5 = 2 and 5 - 8 = -3", [("-3+5=2", True), ("5-8=-3", True)], "negative numbers"),
    ("x = 5 + 3 = 8", [("5+3=8", True)], "named result"),
    ("8 = 5 + 3", [("8=5+3", True)], "reversed claim that holds"),
    ("the box 3 * 4 = 12", [("3*4=12", True)], "word ending in x before the claim"),
    ("3x + 2 = 11, so x = 3", [], "algebra is skipped, not judged"),
    ("5 + 3 = 2y", [], "a name right after the result is skipped"),
    ("Day 1 = 5 apples", [], "labels are not calculations"),
    ("9 = 5 + 3", [], "a bare number = expression that fails is a label, not judged"),
    ("a <= 5 and b == 3", [], "comparisons are not claims"),
    ("He paid 1.5 hours * 60 = 90", [], "claim fragment after a word operand is skipped"),
    ("No calculations here.", [], "no '=' at all"),
]


@pytest.mark.parametrize("text, expected, source", CLAIMS, ids=[c[2] for c in CLAIMS])
def test_claims(text: str, expected: list[tuple[str, bool]], source: str) -> None:
    assert [(c.normalized, c.correct) for c in extract_calculations(text)] == expected


def test_signature_and_wrong_steps() -> None:
    calcs = extract_calculations("First 2 * 3 = 6, then 6 + 4 = 11.\n#### 11")
    assert signature(calcs) == ("2*3=6", "6+4=11")
    assert [c.normalized for c in wrong_steps(calcs)] == ["6+4=11"]


def test_normalize() -> None:
    assert normalize(" $1,200.50 × 2 ") == "1200.5*2"
    assert normalize("3 x 04.0") == "3*4"


@pytest.mark.parametrize("expr, value", [
    ("48/2", Fraction(24)), ("$1,200 × 2 + 3^2", Fraction(2409)), ("0.1 + 0.2", Fraction(3, 10)),
    ("-(2 - 5) * 2", Fraction(6)), ("10 ÷ 4", Fraction(5, 2)), ("20% * 50", Fraction(10)), ("2**-2", Fraction(1, 4)),
])
def test_evaluate(expr: str, value: Fraction) -> None:
    assert evaluate(expr) == value


HOSTILE = [
    "__import__('os').system('echo pwned')", "(1).__class__", "a + b", "open('x')", "lambda: 1", "[1] * 10",
    "9**9**9**9", "2**100000000", "10**10**10", "1e999999", "1" * 300, "(" * 150 + "1" + ")" * 150,
    "10 / 0", "0 ** -1", "(-8) ** 0.5", "'abc'", "1 if 1 else 2", "True + 1", "1_000_000 * 3",
]


@pytest.mark.parametrize("expr", HOSTILE)
def test_evaluate_refuses_hostile_input_quickly(expr: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("model text must never reach eval/exec")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    start = time.perf_counter()
    with pytest.raises(CalcError):
        evaluate(expr)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("text", [
    "1" * 20000 + " = 2", "1 * " * 3000 + " = 2", "1 *" * 3000 + " = 2", "(" * 5000 + "1 = 1",
    "1 + 1 = " * 3000, "=1" * 10000, "1% " * 5000 + "= 3", "<<" * 3000 + "1=1>>" * 3000, "2**99999 = 1 " * 50,
])
def test_extraction_is_fast_on_hostile_text(text: str) -> None:
    start = time.perf_counter()
    extract_calculations(text)
    assert time.perf_counter() - start < 0.5


def test_unevaluable_claims_are_not_held_against_a_path() -> None:
    calcs = extract_calculations("So 2^99999 = 5 and 10 / 0 = 3.")
    assert [(c.normalized, c.correct) for c in calcs] == [("2**99999=5", None), ("10/0=3", None)]
    assert wrong_steps(calcs) == []
