"""Count verifier: each answer form, ranges, conflicting and non-count answers, as a table of
(gold, completion, expected, source)."""

from __future__ import annotations

import pytest

from rft.verifiers.count import CountVerifier, all_boxed, parse_count, words_to_int

CASES = [
    # gold, completion, expected correct, source
    ("7", "I see 4 red and 3 blue ones.\n<answer>7</answer>", True, "answer tag"),
    ("7", "<answer> 7 circles </answer>", True, "answer tag with unit"),
    ("7", "<answer>8</answer>", False, "answer tag wrong"),
    ("7", "4 + 3 = 7, so the count is \\boxed{7}.", True, "boxed"),
    ("7", "\\boxed{\\text{7}}", True, "boxed text"),
    ("7", "\\boxed{7} ... and to be sure <answer>7</answer>", True, "boxed and tag agree"),
    ("3", "I count them: 1, 2, 3. The answer is 3.", True, "answer phrase"),
    ("3", "The final answer is: **3**", True, "final answer markdown"),
    ("3", "**Answer:** 3", True, "answer line"),
    ("3", "Answer: three", True, "answer line word"),
    ("5", "Looking at the picture, there are 5 red circles.", True, "there are N"),
    ("5", "There are 9 shapes. Of them, 4 are blue, so there are five that are not blue.", True,
     "last there-are phrase, word"),
    ("5", "The number of shapes that are not blue is 5.", True, "the number of ... is N"),
    ("1", "There is one red star.", True, "there is one"),
    ("0", "There are no green squares in the image.", True, "there are no -> 0"),
    ("0", "<answer>none</answer>", True, "none -> 0"),
    ("0", "<answer>zero</answer>", True, "zero"),
    ("7", "<answer>seven</answer>", True, "number word"),
    ("12", "<answer>Twelve</answer>", True, "number word, capitalised"),
    ("21", "<answer>twenty-one</answer>", True, "hyphenated number word"),
    ("21", "\\boxed{twenty one}", True, "spaced number word"),
    ("105", "The answer is one hundred and five.", True, "hundreds in words"),
    ("7", "7", True, "bare digits"),
    ("7", " seven. ", True, "bare word"),
    ("7", "<answer>7 (seven)</answer>", True, "digits and word agree"),
    ("3", "3.0", True, "integral decimal is a count"),
    ("1000", "<answer>1,000</answer>", True, "thousands separator"),
    # rejected
    ("3", "<answer>3-4</answer>", False, "range with dash"),
    ("3", "The answer is 3 to 4.", False, "range with to"),
    ("3", "There are 3 or 4 red circles.", False, "range with or"),
    ("3", "<answer>between 3 and 4</answer>", False, "range with between"),
    ("3", "\\boxed{3} wait, no: \\boxed{4}", False, "two different boxed counts"),
    ("3", "<answer>3</answer> Actually the answer is 4.", False, "tag and phrase disagree"),
    ("3", "<answer>3 circles and 4 squares</answer>", False, "two numbers in the final answer"),
    ("3", "<answer>-3</answer>", False, "negative count"),
    ("3", "<answer>2.5</answer>", False, "fractional decimal"),
    ("3", "<answer>7/2</answer>", False, "fraction"),
    ("3", "I think it is 3", False, "no explicit answer"),
    ("3", "", False, "empty"),
    ("3", "The answer is unclear.", False, "phrase without a number"),
    ("7", "seventeen", False, "seventeen is not seven"),
    ("8", "<answer>eight</answer>", True, "eight"),
    ("18", "<answer>eighteen</answer>", True, "eighteen is not eight"),
]


@pytest.mark.parametrize("gold,completion,expected,source", CASES, ids=[c[3] for c in CASES])
def test_count_cases(gold: str, completion: str, expected: bool, source: str) -> None:
    verdict = CountVerifier().verify(gold, completion)
    assert verdict.correct is expected, verdict
    assert verdict.verifier == "count" and verdict.version


@pytest.mark.parametrize("completion,reason", [
    ("<answer>3-4</answer>", "range"),
    ("there are between 2 and 3 stars", "range"),
    ("\\boxed{3} then \\boxed{4}", "conflicting"),
    ("<answer>3, 4</answer>", "ambiguous"),
    ("<answer>-2</answer>", "not_a_count"),
    ("<answer>1.5</answer>", "not_a_count"),
    ("<answer>many</answer>", "unparseable"),
    ("no number here at all", "no_answer"),
    ("<answer>4</answer>", "mismatch"),
    ("<answer>3</answer>", "match"),
])
def test_reasons(completion: str, reason: str) -> None:
    assert CountVerifier().verify("3", completion).reason == reason


def test_gold_must_be_a_count() -> None:
    v = CountVerifier()
    assert v.verify("-1", "<answer>-1</answer>").correct is None
    assert v.verify("2.5", "2.5").reason == "gold_unparseable"


def test_bare_number_can_be_switched_off() -> None:
    assert CountVerifier(bare_number=False).verify("7", "7").reason == "no_answer"


def test_helpers() -> None:
    assert words_to_int("Twenty-One") == 21 and words_to_int("ninety nine") == 99
    assert words_to_int("a hundred") == 100 and words_to_int("circle") is None
    assert all_boxed("\\boxed{1} and \\boxed{\\text{2}}") == ["1", "\\text{2}"]
    assert parse_count("**7** circles") == (7, "match")


def test_registered_as_plugin() -> None:
    from rft import registry

    assert registry.load("verifier", "count") is CountVerifier
