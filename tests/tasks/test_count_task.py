"""Count task: reproducible pictures and answers, exact ground truth, difficulty knobs, the pixel-only
detector's accuracy, the detector (perception -> text) mode, and the JSONL loader for real images."""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rft import registry
from rft.errors import DataError, RftError
from rft.tasks.count import CountTask
from rft.tasks.shapes import COLOURS, SHAPES, Scene, Shape, describe, detect, make_scene, render


def pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def without_paths(problems: list) -> list:
    return [(p.id, p.prompt, p.answer, p.metadata) for p in problems]


def test_same_seed_same_pictures_questions_and_answers(tmp_path: Path) -> None:
    args = {"count": 8, "distractors": 3, "background": "mixed", "occlusion": "true"}
    a = list(CountTask(**args, seed=5, image_dir=str(tmp_path / "a")).problems())
    b = list(CountTask(**args, seed=5, image_dir=str(tmp_path / "b")).problems())
    c = list(CountTask(**args, seed=6, image_dir=str(tmp_path / "c")).problems())
    assert pngs(tmp_path / "a") == pngs(tmp_path / "b") and len(pngs(tmp_path / "a")) == 8
    assert without_paths(a) == without_paths(b)
    assert set(pngs(tmp_path / "a").values()).isdisjoint(pngs(tmp_path / "c").values())
    assert [p.metadata["question"] for p in a] != [p.metadata["question"] for p in c]
    assert {p.metadata["background"] for p in a} == {"plain", "noisy"}


def test_problem_i_does_not_depend_on_count_and_files_are_not_rewritten(tmp_path: Path) -> None:
    short = list(CountTask(count=2, image_dir=str(tmp_path)).problems())
    stamp = (tmp_path / "00000.png").stat().st_mtime_ns
    long = list(CountTask(count=4, image_dir=str(tmp_path)).problems())
    assert short == long[:2]
    assert (tmp_path / "00000.png").stat().st_mtime_ns == stamp  # identical bytes: left untouched


def answer_from_question(question: str, objects: list[str]) -> int:
    """An independent reading of the question against the scene's object list."""
    pairs = [tuple(o.split()) for o in objects]  # (colour, shape)
    if "in total" in question:
        return len(pairs)
    if m := re.match(r"How many shapes are not (\w+?)s?\?", question):
        word = m.group(1)
        return sum(word not in (c, s) for c, s in pairs)
    if m := re.match(r"How many (\w+) shapes are there", question):
        return sum(c == m.group(1) for c, _ in pairs)
    if m := re.match(r"How many (\w+) (\w+)s are there", question):
        return pairs.count((m.group(1), m.group(2)))
    m = re.match(r"How many (\w+)s are there", question)
    return sum(s == m.group(1) for _, s in pairs)


def test_answers_are_exact(tmp_path: Path) -> None:
    problems = list(CountTask(count=150, min_objects=0, max_objects=12, image_dir=str(tmp_path)).problems())
    for p in problems:
        assert int(p.answer) == answer_from_question(p.metadata["question"], p.metadata["objects"]), p.metadata
    assert {p.metadata["kind"] for p in problems} == {"colour_shape", "shape", "colour", "not_colour", "not_shape",
                                                       "total"}
    assert 0 < sum(p.answer == "0" for p in problems) < 40  # zeros occur, but do not dominate


def test_image_prompt_is_content_parts(tmp_path: Path) -> None:
    p = next(CountTask(count=1, system="You count.", image_dir=str(tmp_path)).problems())
    system, user = p.prompt
    assert system == {"role": "system", "content": [{"type": "text", "text": "You count."}]}
    assert user["content"][0] == {"type": "image"}
    text = user["content"][1]["text"]
    assert p.metadata["question"] in text and "step by step" in text and "\\boxed{}" in text and "<answer>" in text
    assert len(p.images) == 1 and Path(p.images[0]).is_absolute() and Path(p.images[0]).is_file()
    assert Image.open(p.images[0]).size == (256, 256)


def overlaps(scene: Scene) -> int:
    objs = scene.objects
    return sum(math.dist((a.x, a.y), (b.x, b.y)) < a.r + b.r for i, a in enumerate(objs) for b in objs[i + 1:])


def test_difficulty_knobs() -> None:
    plain = [make_scene(random.Random(i), 256, (4, 9), 5, occlusion=False) for i in range(40)]
    occluded = [make_scene(random.Random(i), 256, (8, 12), 0, occlusion=True) for i in range(40)]
    assert all(4 <= len(s.objects) <= 9 and len(s.clutter) == 5 for s in plain)
    assert sum(map(overlaps, plain)) == 0 and sum(map(overlaps, occluded)) > 10
    sizes = [o.r for s in plain for o in s.objects]
    assert max(sizes) > 1.6 * min(sizes)  # several sizes
    assert {o.shape for s in plain for o in s.objects} == set(SHAPES)
    assert {o.colour for s in plain for o in s.objects} == set(COLOURS)
    noisy = np.asarray(render(plain[0], np.random.default_rng(0)), dtype=int)
    clean = np.asarray(render(plain[0]), dtype=int)
    assert np.abs(np.diff(noisy[:4, :, 0], axis=1)).mean() > 3 > np.abs(np.diff(clean[:4, :, 0], axis=1)).mean()


def test_detector_recovers_the_counts_from_pixels(tmp_path: Path) -> None:
    """50 pictures (mixed backgrounds, clutter, no occlusion): the detector must find every object."""
    problems = list(CountTask(count=50, distractors=4, image_dir=str(tmp_path)).problems())
    scenes_right = answers_right = 0
    for p in problems:
        with Image.open(p.images[0]) as img:  # the detector sees the PNG's pixels and nothing else
            found = detect(img)
        truth = Counter(p.metadata["objects"])
        seen = Counter(f"{d.colour} {d.shape}" for d in found)
        scenes_right += seen == truth
        answers_right += answer_from_question(p.metadata["question"], list(seen.elements())) == int(p.answer)
    assert scenes_right >= 48 and answers_right >= 48, (scenes_right, answers_right)


def test_detector_sees_only_objects() -> None:
    blank = Image.new("RGB", (128, 128), (240, 240, 240))
    assert detect(blank) == [] and describe([]) == "(no objects found)"
    clutter_only = make_scene(random.Random(0), 256, (0, 0), 12)
    assert len(clutter_only.clutter) == 12 and detect(render(clutter_only, np.random.default_rng(0))) == []
    scene = Scene(256, (Shape("star", "red", 60, 60, 25, 10), Shape("circle", "red", 150, 60, 20),
                        Shape("square", "blue", 60, 170, 24, 30), Shape("triangle", "yellow", 170, 170, 26, 200)))
    assert sorted((d.colour, d.shape) for d in detect(render(scene))) == [
        ("blue", "square"), ("red", "circle"), ("red", "star"), ("yellow", "triangle")]


def test_detector_mode_is_text_with_the_detector_report(tmp_path: Path) -> None:
    image = list(CountTask(count=3, image_dir=str(tmp_path)).problems())
    text = list(CountTask(count=3, mode="detector", image_dir=str(tmp_path)).problems())
    for i, t in zip(image, text):
        assert t.id == i.id + "/detector" and t.answer == i.answer and t.images == ()
        assert isinstance(t.prompt, str) and "object detector" in t.prompt and i.metadata["question"] in t.prompt
        assert t.metadata["image"] == i.images[0]
        assert t.prompt.count("\n- ") == len(i.metadata["objects"])  # one line per object found


def write_rows(folder: Path, rows: list) -> Path:
    path = folder / "counts.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_jsonl_of_real_images(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    render(make_scene(random.Random(1), 128, (2, 2))).save(tmp_path / "imgs" / "a.png")
    data = write_rows(tmp_path, [{"image": "imgs/a.png", "question": "How many things?", "answer": 2},
                                 {"id": "q7", "image": "imgs/a.png", "question": "How many red?", "answer": "0"}])
    problems = list(registry.create("task", "count", data=str(data)).problems())
    assert [p.id for p in problems] == ["count/counts/1", "count/counts/q7"]
    assert [p.answer for p in problems] == ["2", "0"]
    assert problems[0].images == (str((tmp_path / "imgs" / "a.png").resolve()),)
    assert problems[0].prompt[0]["content"][1]["text"].startswith("How many things?")
    detector = next(CountTask(data=str(data), mode="detector").problems())
    assert detector.prompt.count("\n- ") == 2


@pytest.mark.parametrize("line,message", [
    ('{"image": "a.png"', "malformed JSON"),
    ("[1]", "expected a JSON object"),
    ('{"image": "a.png", "answer": 1}', "expected 'image'"),
    ('{"image": "a.png", "question": "q", "answer": -1}', "non-negative whole number"),
    ('{"image": "a.png", "question": "q", "answer": 2.5}', "non-negative whole number"),
    ('{"image": "missing.png", "question": "q", "answer": 1}', "image not found"),
    ('{"id": 1, "image": "a.png", "question": "q", "answer": 1}', "duplicate id"),
])
def test_bad_rows_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    data = write_rows(tmp_path, [{"id": 1, "image": "a.png", "question": "q", "answer": 1}, "", line])
    with pytest.raises(DataError, match=rf"counts.jsonl:3: .*{message}"):
        list(CountTask(data=str(data)).problems())


def test_missing_data_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        list(CountTask(data=str(tmp_path / "nope.jsonl")).problems())


@pytest.mark.parametrize("args,message", [
    ({"background": "stripes"}, "background must be one of"),
    ({"mode": "audio"}, "mode must be one of"),
    ({"kinds": "colour,size"}, "unknown question kinds"),
    ({"min_objects": 5, "max_objects": 2}, "min_objects <= max_objects"),
    ({"occlusion": "maybe"}, "expected true/false"),
])
def test_bad_arguments_are_user_errors(args: dict, message: str) -> None:
    with pytest.raises(RftError, match=message):
        registry.create("task", "count", **args)


def test_too_many_objects_is_a_user_error(tmp_path: Path) -> None:
    task = CountTask(count=1, min_objects=60, max_objects=60, size=128, image_dir=str(tmp_path))
    with pytest.raises(RftError, match="cannot place 60 objects"):
        list(task.problems())
