"""Numeric verifier: every extraction and normalisation rule, as a table of (gold, completion, expected, source)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from rft.verifiers.numeric import NumericVerifier, extract_answer, parse_number

CASES = [
    # gold, completion, expected correct, source
    ("72", "Natalia sold 48+24 = 72 clips.\n#### 72", True, "gsm8k-format"),
    ("72", "#### 73", False, "gsm8k-format"),
    ("72", "first #### 72\nthen a new question...\n#### 5", True, "first ####-line wins"),
    ("18", "So she makes $18.\nThe answer is \\boxed{18}.", True, "boxed"),
    ("18", "\\boxed{\\text{18 dollars}}", True, "boxed text"),
    ("3", "\\boxed{\\frac{6}{2}}", True, "boxed nested braces"),
    ("4", "\\fbox{4}", True, "fbox"),
    ("5", "<answer>5</answer>", True, "answer tag"),
    ("5", "<answer>6</answer> wait <answer>5</answer>", True, "last answer tag"),
    ("7", "3 + 4 = 7. The answer is 7 apples.", True, "answer phrase + unit"),
    ("7", "The final answer is: **7**", True, "markdown bold"),
    ("7", "Final answer: 7.", True, "final answer colon"),
    ("7", "so it is 7", False, "no explicit answer -> no fallback"),
    ("1000", "#### 1,000", True, "thousands separator"),
    ("1000", "#### 1{,}000", True, "latex thousands separator"),
    ("1234.5", "#### $1,234.50", True, "currency + trailing zeros"),
    ("50", "#### 50%", True, "percent sign"),
    ("50", "#### 50\\%", True, "latex percent"),
    ("0.5", "#### 0.50", True, "trailing zero"),
    ("0.75", "#### 3/4", True, "fraction"),
    ("0.75", "\\boxed{\\dfrac{3}{4}}", True, "dfrac"),
    ("0.5", "\\boxed{\\frac12}", True, "frac shorthand"),
    ("2.5", "#### 2 1/2", True, "mixed number"),
    ("-3", "#### −3", True, "unicode minus"),
    ("-3", "#### 3", False, "sign matters"),
    ("1500", "#### 1.5e3", True, "scientific e"),
    ("1500", "#### 1.5 \\times 10^{3}", True, "scientific times"),
    ("10", "#### 10.", True, "trailing period"),
    ("10", "#### 10.0001", False, "integer gold is exact"),
    ("0.3333333", "#### 0.33333333", True, "non-integer within tolerance"),
    ("0.33", "#### 1/3", False, "non-integer outside tolerance"),
    ("5", "#### five", False, "no digits -> unparseable"),
    ("5", "", False, "empty"),
]


@pytest.mark.parametrize("gold,completion,expected,source", CASES, ids=[c[3] for c in CASES])
def test_numeric_cases(gold: str, completion: str, expected: bool, source: str) -> None:
    verdict = NumericVerifier().verify(gold, completion)
    assert verdict.correct is expected, verdict
    assert verdict.verifier == "numeric" and verdict.version


def test_reasons() -> None:
    v = NumericVerifier()
    assert v.verify("5", "no number here").reason == "no_answer"
    assert v.verify("5", "#### five").reason == "unparseable"
    assert v.verify("5", "#### 6").reason == "mismatch"
    assert v.verify("5", "#### 5").reason == "match"
    gold_bad = v.verify("n/a", "#### 5")
    assert gold_bad.correct is None and gold_bad.reason == "gold_unparseable"


def test_fallback_last_number_only_when_configured() -> None:
    text = "First 3 + 4 = 7, then 7 * 2 = 14"
    assert NumericVerifier().verify("14", text).correct is False
    assert NumericVerifier(fallback_last_number=True).verify("14", text).correct is True


def test_extract_and_parse_helpers() -> None:
    assert extract_answer("The answer is 12 cookies.\nThanks") == "12 cookies."
    assert extract_answer("nothing") is None
    assert parse_number("1,234,567") == 1234567
    assert parse_number("−0.5") == Fraction(-1, 2)
    assert parse_number("5/0") is None
    assert parse_number("1e99999") is None  # absurd exponents are refused, not computed


def test_hostile_text_is_fast() -> None:
    import time

    v = NumericVerifier()
    start = time.perf_counter()
    v.verify("1", "1" * 200_000)
    v.verify("1", "{" * 50_000 + "\\boxed{" * 10_000)
    v.verify("1", "The answer is " + "9," * 50_000)
    assert time.perf_counter() - start < 2.0
