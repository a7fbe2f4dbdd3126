"""Count verifier: a completion's final count must be one whole number equal to the gold.

Extraction: every explicit final answer -- ``<answer>N</answer>``, ``\\boxed{N}``, "the (final)
answer is N" / "Answer: N" -- must agree (a model that boxes 3 and later boxes 4 is rejected as
``conflicting``); without one, the last "there are/is N", "the total/number ... is N" or "I count
N" phrase; failing that, a reply that is only a number. Counts may be digits or number words
("seven", "twelve", "twenty-one", "one hundred and five"; "no"/"none" = 0). Rejected: ranges
("3-4", "3 to 4", "3 or 4", "between 3 and 4": ``range``), several different numbers in one final
answer (``ambiguous``), negative or fractional counts (``not_a_count``). Model text is matched with
regular expressions, never evaluated.

    >>> CountVerifier().verify("7", "I see 4 red and 3 blue circles, so <answer>seven</answer>").correct
    True
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import ClassVar

from rft.records import Verdict
from rft.verifiers.base import Verifier

_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_ZERO = ("no", "none", "nothing")

_WORD = "(?:" + "|".join(sorted([*_UNITS, *_TENS], key=len, reverse=True)) + ")"
_WORDS = (rf"(?:(?:a|{_WORD})[\s-]+hundred(?:[\s-]+(?:and[\s-]+)?{_WORD}(?:[\s-]+{_WORD})?)?"
          rf"|{_WORD}(?:[\s-]+{_WORD})?)")
_DIGITS = r"[-−]?\d+(?:[.,]\d+)*(?:\s*/\s*\d+)?"
_COUNT = rf"(?:{_DIGITS}|\b{_WORDS}\b|\b(?:{'|'.join(_ZERO)})\b)"
_COUNT_RE = re.compile(_COUNT, re.I)
_RANGE_RE = re.compile(rf"\bbetween\s+{_COUNT}\s+and\s+{_COUNT}|\d\s*[-–—]\s*\d|{_COUNT}\s+(?:to|or)\s+{_COUNT}",
                       re.I)
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_ANSWER_PHRASE = re.compile(r"(?:\bfinal\s+answer|\bthe\s+answer|^\s*answer)\s*(?:is|:|=)\s*:?\s*(?P<rest>[^\n]*)",
                            re.I | re.M)
# A count, with a range after it kept so that the range check sees it ("3-4", "3 to 4", "between 3 and 4").
_COUNT_OR_RANGE = (rf"(?:between\s+{_COUNT}\s+and\s+{_COUNT}"
                   rf"|{_COUNT}(?:\s*[-–—]\s*{_DIGITS}|\s+(?:to|or)\s+{_COUNT})?)")
_LEADING_COUNT = re.compile(rf"\s*{_COUNT_OR_RANGE}", re.I)
_THERE_ARE = re.compile(
    rf"\b(?:there\s+(?:are|is|were|was)|(?:the\s+)?(?:total|count|number)(?:\s+of\s+[\w\s]{{0,40}}?)?\s+(?:is|=|:)"
    rf"|i\s+count)\s+(?:exactly\s+|only\s+|just\s+|a\s+total\s+of\s+|in\s+total\s+)?(?P<n>{_COUNT_OR_RANGE})",
    re.I)


def words_to_int(text: str) -> int | None:
    """``"twenty-one"`` -> 21, ``"one hundred and five"`` -> 105, ``"none"`` -> 0; None if not a number.

    Example:
        >>> words_to_int("Twenty-One")
        21
    """
    tokens = [t for t in re.split(r"[\s-]+", text.lower().strip()) if t and t != "and"]
    if len(tokens) == 1 and tokens[0] in _ZERO:
        return 0
    value = 0
    for tok in tokens:
        if tok in _UNITS:
            value += _UNITS[tok]
        elif tok in _TENS:
            value += _TENS[tok]
        elif tok == "hundred":
            value = (value or 1) * 100
        elif tok != "a":
            return None
    return value if tokens else None


def all_boxed(text: str) -> list[str]:
    """The contents of every ``\\boxed{...}`` / ``\\fbox{...}``, in order, with nested braces."""
    out = []
    for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth, start = 0, m.end() - 1
        for j in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                out.append(text[start + 1:j])
                break
    return out


def _clean(span: str) -> str:
    """Drop LaTeX and markdown decoration around a count."""
    span = re.sub(r"\\(?:text|textbf|mathrm|mathbf|mbox|boxed|fbox)\s*\{([^{}]*)\}", r" \1 ", span)
    return re.sub(r"\*\*|\$|\\[()\[\]]|\\,", " ", span.replace("{,}", ","))


def _value(token: str) -> Fraction | None:
    token = token.replace("−", "-").strip()
    if not re.match(r"-?\d", token):
        n = words_to_int(token)
        return None if n is None else Fraction(n)
    try:
        if "/" in token:
            num, den = token.split("/")
            return Fraction(int(num), int(den)) if int(den) else None
        if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+", token):  # thousands separators
            return Fraction(token.replace(",", ""))
        return Fraction(token.replace(",", "."))
    except ValueError:
        return None


def parse_count(span: str) -> tuple[int | None, str]:
    """The count stated in a final-answer span, or None with the reason (``range``, ``ambiguous``, ...).

    Example:
        >>> parse_count("**7** circles")
        (7, 'match')
        >>> parse_count("3-4")
        (None, 'range')
    """
    span = _clean(span)
    if _RANGE_RE.search(span):
        return None, "range"
    values = {v for m in _COUNT_RE.finditer(span) if (v := _value(m.group(0))) is not None}
    if not values:
        return None, "unparseable"
    if len(values) > 1:
        return None, "ambiguous"
    value = values.pop()
    if value < 0 or value.denominator != 1:
        return None, "not_a_count"
    return int(value), "match"


def final_answers(text: str) -> list[str]:
    """Every explicit final answer in ``text``: answer tags, boxed values and "the answer is N" phrases."""
    spans = [t for t in _ANSWER_TAG.findall(text) if t.strip()]
    rest = _ANSWER_TAG.sub(" ", text)
    spans += [b for b in all_boxed(rest) if b.strip()]
    for m in _ANSWER_PHRASE.finditer(rest.replace("**", "")):
        lead = _LEADING_COUNT.match(_clean(m.group("rest")))  # the count right after "answer is", if any
        if lead:
            spans.append(lead.group(0))
    return spans


class CountVerifier(Verifier):
    """Whole-number counts (the ``count`` task). See the module docstring for the rules.

    Args:
        bare_number: Accept a reply that is nothing but a number (digits or words).
    """

    name: ClassVar[str] = "count"
    version: ClassVar[str] = "1"

    def __init__(self, bare_number: bool = True):
        self.bare_number = bare_number

    def verify(self, gold: str, completion: str) -> Verdict:
        gold_count, _ = parse_count(str(gold))
        if gold_count is None:
            return self.verdict(None, None, "gold_unparseable")
        spans = final_answers(completion)
        if not spans:
            phrases = list(_THERE_ARE.finditer(completion.replace("**", "")))
            if phrases:
                spans = [phrases[-1].group("n")]
            elif self.bare_number and re.fullmatch(rf"\s*{_COUNT}\s*\.?\s*", _clean(completion), re.I):
                spans = [completion]
        if not spans:
            return self.verdict(False, None, "no_answer")
        counts = []
        for span in spans:
            count, reason = parse_count(span)
            if count is None:
                return self.verdict(False, span.strip()[:100], reason)
            counts.append(count)
        if len(set(counts)) > 1:
            return self.verdict(False, ",".join(map(str, counts))[:100], "conflicting")
        ok = counts[0] == gold_count
        return self.verdict(ok, str(counts[0]), "match" if ok else "mismatch")
