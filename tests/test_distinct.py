"""Tests for `rft.distinct`: wrong-step rejection, signatures, near-duplicates, selection and cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from rft.distinct import Candidate, DistinctConfig, DistinctSet, problem_groups
from rft.errors import DataError, RftError
from rft.jsonl import write_jsonl


def path(i: int, text: str, model: str = "m") -> Candidate:
    return Candidate(f"p#{i}", "p", model, i, text, "run")


def offer_all(texts: list[str], **config: object) -> tuple[DistinctSet, list[str | None]]:
    ds = DistinctSet(DistinctConfig(**config))  # type: ignore[arg-type]
    return ds, [ds.offer(path(i, t)) for i, t in enumerate(texts)]


def kept_texts(ds: DistinctSet) -> list[str]:
    return [c.path.text for c in ds.finish()]


def test_right_answer_with_a_wrong_step_is_rejected() -> None:
    good = "She buys 3 * 4 = 12 apples and eats 2, so 12 - 2 = 10.\n#### 10"
    bad = "She buys 3 * 4 = 14 apples and eats 2, so 14 - 4 = 10.\n#### 10"
    ds, reasons = offer_all([bad, good])
    assert reasons == ["wrong_step", None]
    assert kept_texts(ds) == [good]
    _, unchecked = offer_all([bad], check_calculations=False)
    assert unchecked == [None]


def test_paths_differing_only_in_wording_collapse() -> None:
    a = "Each box has 6 eggs. 4 * 6 = 24 eggs. She uses 5, so 24 - 5 = 19.\n#### 19"
    b = "There are 4 boxes of 6: 4 x 6 = 24. After using 5 eggs: 24 - 5 = 19 eggs remain.\n#### 19"
    ds, reasons = offer_all([a, b])
    assert reasons == [None, "duplicate_signature"]
    assert len(ds.finish()) == 1
    assert ds.clusters[0].size == 2


def test_calculation_free_paths_differing_only_in_wording_collapse() -> None:
    a = ("Half of the twelve cookies go to Tom and half of the rest go to Ann, which leaves three cookies for Sue, "
         "and Sue is happy with her three cookies at the end of the day.")
    b = a.replace("Sue is happy", "Sue is very happy")  # word 3-gram Jaccard 0.86
    ds, reasons = offer_all([a, b])
    assert reasons == [None, "near_duplicate"]


def test_different_calculation_orders_are_kept() -> None:
    a = "4 * 6 = 24 eggs, 24 - 5 = 19 left.\n#### 19"
    b = "24 - 5 = 19 is wrong order? No: 6 * 4 = 24 eggs, then 24 - 5 = 19.\n#### 19"
    c = "5 - 24 = -19 so 4 * 6 = 24 and 24 - 5 = 19.\n#### 19"
    ds, reasons = offer_all([a, b, c])
    assert reasons == [None, None, None]
    assert len(kept_texts(ds)) == 3


def test_calculation_free_paths_are_not_all_collapsed() -> None:
    texts = [
        "Tom has twelve marbles and gives away half, leaving six, then finds two more, so eight.\n#### 8",
        "Think of the marbles as two equal piles of six; one pile goes, and two are found later.\n#### 8",
        "Start from twelve. Giving away half is the same as keeping six. Add the two found ones.\n#### 8",
    ]
    ds, reasons = offer_all(texts)
    assert reasons == [None, None, None]
    assert len(ds.finish()) == 3


def test_text_dedup_all_also_merges_near_identical_paths_with_different_signatures() -> None:
    a = ("Alice had some apples in a basket and she bought more apples at the market, then she went home, "
         "sat down at the kitchen table and counted all of them one by one: 3 + 4 = 7 apples.\n#### 7")
    b = a.replace("3 + 4", "4 + 3")
    assert offer_all([a, b])[1] == [None, None]
    assert offer_all([a, b], text_dedup="all")[1] == [None, "near_duplicate"]


A1 = "2 * 3 = 6\n#### 6"
A2 = "We double three, writing it out in many more words than before: 2 * 3 = 6\n#### 6"
B = "3 + 3 = 6\n#### 6"


@pytest.mark.parametrize("select, expected", [
    ("first", [A1, B]),     # keeps the first of the duplicates
    ("farthest", [A2, B]),  # A2 is farther from B than A1 is (the paper's rule)
    ("shortest", [A1, B]),
])
def test_selection_among_duplicates(select: str, expected: list[str]) -> None:
    ds, reasons = offer_all([A1, B, A2], select=select)
    assert reasons == [None, None, "duplicate_signature"]
    assert kept_texts(ds) == expected


def test_shortest_replaces_a_longer_representative() -> None:
    ds, _ = offer_all([A2, B, A1], select="shortest")
    assert kept_texts(ds) == [A1, B]


def test_cap_drops_the_most_redundant_paths() -> None:
    near = "Each friend gets 12 / 4 = 3 cookies.\n#### 3"
    near_too = "Each friend gets 12 / 4 = 3 cookies, 3 * 1 = 3.\n#### 3"
    far = ("Share twelve cookies among four friends by handing them out one at a time until the plate is empty; "
           "every friend ends up holding 3 + 0 = 3 of them.\n#### 3")
    ds, reasons = offer_all([near, near_too, far], max_per_problem=2, text_dedup="off")
    assert reasons == [None, None, None]  # three different signatures
    kept = kept_texts(ds)
    assert ds.rejected["cap"] == 1 and len(kept) == 2 and far in kept  # one of the near pair is dropped
    ds, _ = offer_all([far, near_too, near], max_per_problem=2, select="shortest", text_dedup="off")
    assert kept_texts(ds) == [near_too, near]
    ds, _ = offer_all([far, near_too, near], max_per_problem=1, select="first", text_dedup="off")
    assert kept_texts(ds) == [far]


def test_clusters_remember_every_model() -> None:
    ds = DistinctSet(DistinctConfig())
    assert ds.offer(path(0, "2 * 3 = 6", "a")) is None
    assert ds.offer(path(1, "so 2 * 3 = 6", "b")) == "duplicate_signature"
    assert ds.clusters[0].models == {"a", "b"}


@pytest.mark.parametrize("bad", [
    {"near_duplicate_threshold": 0}, {"near_duplicate_threshold": 1.5}, {"select": "best"},
    {"text_dedup": "some"}, {"max_per_problem": 0}, {"ngram": 0}, {"num_perm": 1},
])
def test_bad_config_is_a_clear_error(bad: dict[str, object]) -> None:
    with pytest.raises(RftError):
        DistinctConfig(**bad)  # type: ignore[arg-type]


def test_problem_groups_stream_contiguous_groups_sorted_by_index(tmp_path: Path) -> None:
    rows = [{"problem_id": "a", "index": 1}, {"problem_id": "a", "index": 0}, {"problem_id": "b", "index": 0}]
    write_jsonl(tmp_path / "samples.jsonl", rows)
    groups = list(problem_groups(tmp_path / "samples.jsonl"))
    assert [[(r["problem_id"], r["index"]) for r in g] for g in groups] == [[("a", 0), ("a", 1)], [("b", 0)]]


def test_malformed_row_names_the_file() -> None:
    with pytest.raises(DataError, match="samples.jsonl:3"):
        Candidate.from_row({"id": "x"}, "run", "samples.jsonl:3")


def test_rejections_are_counted_by_reason() -> None:
    ds, reasons = offer_all(["2 * 3 = 7\n#### 6", "2 * 3 = 6", "so 2 * 3 = 6", "3 + 3 = 6"], max_per_problem=1)
    assert len(ds.finish()) == 1
    assert ds.rejected == {"wrong_step": 1, "duplicate_signature": 1, "near_duplicate": 0, "cap": 1}
