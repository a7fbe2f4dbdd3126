"""Numeric verifier: extract a final number from a completion and compare it exactly with the gold.

Extraction, most explicit first: ``#### x`` (first such line), the last ``\\boxed{x}``/``\\fbox{x}``,
the last ``<answer>x</answer>``, the last "the (final) answer is x" / "Answer: x"; the last number in
the text only when ``fallback_last_number=True``. Normalisation: thousands separators, currency,
``%``, trailing units and punctuation, fractions (``3/4``, ``\\frac{3}{4}``), mixed numbers, decimals,
scientific notation. Integers must match exactly; non-integers within ``rel_tol``. Model text is
parsed with regular expressions and `fractions.Fraction`, never evaluated.

    >>> v = NumericVerifier()
    >>> v.verify("18", "She makes 9 * 2 = $18 a day.\\n#### 18").correct
    True
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import ClassVar

from rft.records import Verdict
from rft.verifiers.base import Verifier

_NUM = r"[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-−]?\.\d+"
_NUMBER_RE = re.compile(
    rf"(?P<mixed>(?P<w>{_NUM})\s+(?P<mn>\d+)\s*/\s*(?P<md>\d+)(?![\d.]))"
    rf"|(?P<frac>(?P<fn>{_NUM})\s*/\s*(?P<fd>{_NUM}))"
    rf"|(?P<sci>(?P<m>{_NUM})\s*(?:[eE](?P<e1>[-+]?\d+)|(?:\\times|×|\*|x)\s*10\s*\^\s*\{{?\s*(?P<e2>[-+−]?\d+)\s*\}}?))"
    rf"|(?P<num>{_NUM})"
)
_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*([^{}]+?)\s*\}\s*\{\s*([^{}]+?)\s*\}")
_LATEX_FRAC_SHORT = re.compile(r"\\[dt]?frac\s*(\d)\s*(\d)")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_ANSWER_PHRASE = re.compile(
    r"(?:the\s+final\s+answer|final\s+answer|the\s+answer)\s*(?:is|:|=)\s*:?\s*(.+)", re.I)
_HASHES = re.compile(r"####\s*(.*)")


def _last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` or ``\\fbox{...}``, with nested braces."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
    return None


def extract_answer(text: str, fallback_last_number: bool = False) -> str | None:
    """The final-answer span of a completion, or None when it states none.

    Example:
        >>> extract_answer("so 3+4=7.\\nThe answer is 7 apples.")
        '7 apples.'
    """
    m = _HASHES.search(text)
    if m and m.group(1).strip():
        return m.group(1).strip()
    boxed = _last_boxed(text)
    if boxed is not None and boxed.strip():
        return boxed.strip()
    tags = _ANSWER_TAG.findall(text)
    if tags and tags[-1].strip():
        return tags[-1].strip()
    phrases = [m.group(1) for m in _ANSWER_PHRASE.finditer(text)]
    for phrase in reversed(phrases):
        line = phrase.strip().splitlines()[0] if phrase.strip() else ""
        if _NUMBER_RE.search(_clean(line)):
            return line.strip()
    if fallback_last_number:
        nums = list(_NUMBER_RE.finditer(_clean(text)))
        if nums:
            return nums[-1].group(0)
    return None


def _clean(s: str) -> str:
    """Remove LaTeX and currency decoration that hides a number."""
    s = s.replace("{,}", ",").replace("\\!", "").replace("\\,", "").replace("\\ ", " ")
    s = _TEXT_CMD.sub(r" \1 ", s)
    s = _LATEX_FRAC.sub(r"(\1)/(\2)", s)
    s = _LATEX_FRAC_SHORT.sub(r"\1/\2", s)
    s = re.sub(r"\\left|\\right|\\\$|\$|\\%|\*\*|\\cdot", " ", s)
    s = s.replace("(", " ").replace(")", " ")
    return s


def _to_fraction(tok: str) -> Fraction:
    return Fraction(tok.replace(",", "").replace("−", "-"))


def parse_number(s: str) -> Fraction | None:
    """The first number in ``s`` as an exact `Fraction`, or None.

    Example:
        >>> parse_number("$1,234.50 per week")
        Fraction(2469, 2)
        >>> parse_number("\\\\frac{3}{4}")
        Fraction(3, 4)
    """
    m = _NUMBER_RE.search(_clean(s))
    if not m:
        return None
    try:
        if m.group("mixed"):
            whole = _to_fraction(m.group("w"))
            part = Fraction(int(m.group("mn")), int(m.group("md")))
            return whole - part if whole < 0 else whole + part
        if m.group("frac"):
            den = _to_fraction(m.group("fd"))
            return None if den == 0 else _to_fraction(m.group("fn")) / den
        if m.group("sci"):
            exp = int((m.group("e1") or m.group("e2")).replace("−", "-"))
            if abs(exp) > 400:
                return None
            return _to_fraction(m.group("m")) * Fraction(10) ** exp
        return _to_fraction(m.group("num"))
    except (ValueError, ZeroDivisionError):
        return None


def numbers_equal(gold: Fraction, pred: Fraction, rel_tol: float = 1e-6) -> bool:
    """Exact for integer golds; within ``rel_tol`` (relative) for non-integer golds."""
    if gold == pred:
        return True
    if gold.denominator == 1:
        return False
    return abs(gold - pred) <= Fraction(rel_tol) * max(abs(gold), abs(pred))


class NumericVerifier(Verifier):
    """Exact numeric answers (GSM8K, arithmetic). See the module docstring for the rules.

    Args:
        fallback_last_number: If no explicit final answer is found, use the last number in the text.
        rel_tol: Relative tolerance, applied only when the gold is not an integer.
    """

    name: ClassVar[str] = "numeric"
    version: ClassVar[str] = "1"

    def __init__(self, fallback_last_number: bool = False, rel_tol: float = 1e-6):
        self.fallback_last_number = fallback_last_number
        self.rel_tol = rel_tol

    def verify(self, gold: str, completion: str) -> Verdict:
        gold_value = parse_number(str(gold))
        if gold_value is None:
            return self.verdict(None, None, "gold_unparseable")
        span = extract_answer(completion, self.fallback_last_number)
        if span is None:
            return self.verdict(False, None, "no_answer")
        value = parse_number(span)
        if value is None:
            return self.verdict(False, span[:100], "unparseable")
        extracted = str(value.numerator) if value.denominator == 1 else format_decimal(value)
        ok = numbers_equal(gold_value, value, self.rel_tol)
        return self.verdict(ok, extracted, "match" if ok else "mismatch")


def format_decimal(x: Fraction) -> str:
    """A short, readable rendering of a non-integer fraction (``0.75``, ``1/3``)."""
    f = float(x)
    if Fraction(f).limit_denominator(10**6) == x and len(repr(f)) < 18:
        return repr(f)
    return f"{x.numerator}/{x.denominator}"
