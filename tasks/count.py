"""Counting objects in images: synthetic shape scenes with exact answers, or a folder of real images.

Synthetic mode renders each problem's picture with Pillow (see `rft.tasks.shapes`): circles,
squares, triangles and stars in six colours and several sizes, on a plain or noisy background, and
asks "How many red circles are there?", "How many shapes are not blue?", "How many objects are
there in total?" and the like. Problem ``i`` depends only on the seed, the settings and ``i``, so a
seed gives byte-identical PNGs and the same questions and answers. Difficulty knobs:
``min_objects``/``max_objects``, ``distractors`` (dots and thin lines that must not be counted),
``occlusion`` (objects may overlap; each keeps >= 60% visible) and ``background``
(``plain``/``noisy``/``mixed``).

Images are written to ``image_dir``, by default ``count-images/<settings>/`` under the current
directory (the pipeline gives tasks no run directory), and referenced by absolute path in
`Problem.images`; existing identical files are left untouched.

With ``data=PATH.jsonl`` it reads real images instead: one JSON object per line with ``image``
(a path relative to the JSONL's folder), ``question`` and ``answer`` (a non-negative integer), and
optionally ``id`` -- e.g. a CLEVR-style counting set.

``mode=image`` (default) puts the picture in the prompt for a vision-language model, as chat
content parts (``{"type": "image"}`` then ``{"type": "text"}``) that processors' chat templates and
TRL's VLM SFT read. ``mode=detector`` is a perception -> text pipeline: a classical detector
(`rft.tasks.shapes.detect`, pixels only; built for the synthetic pictures) lists the objects it sees
and a text-only LLM counts from that list.

    rft generate --task count --task-arg count=50 --task-arg mode=detector --n 4 --out runs/count
    rft generate --task count --task-arg count=50 --model Qwen/Qwen2-VL-2B-Instruct --out runs/count-vl
"""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from rft.errors import DataError, RftError
from rft.jsonl import numbered_jsonl
from rft.records import Messages, Problem
from rft.tasks.base import Task

PROMPT = ("{question}\nThink step by step, then give the final count as a whole number in \\boxed{} "
          "or between <answer> and </answer>.")
DETECTOR_INTRO = "An object detector looked at a picture and listed the objects it found:\n{objects}\n\nQuestion: "
KINDS = ("colour_shape", "shape", "colour", "not_colour", "not_shape", "total")
BACKGROUNDS = ("plain", "noisy", "mixed")
MODES = ("image", "detector")
CLUTTER_NOTE = " Count only circles, squares, triangles and stars; ignore small dots and thin lines."


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true/false, got {value!r}")
    return bool(value)


def ask(rng: random.Random, objects: list[tuple[str, str]], kinds: tuple[str, ...]) -> tuple[str, int, str]:
    """A question about ``objects`` (``(shape, colour)`` pairs), its exact answer and its kind.

    The asked colour/shape is taken from an object in the picture 85% of the time, so answers of 0
    occur but do not dominate.
    """
    from rft.tasks.shapes import COLOURS, SHAPES

    kind = rng.choice(kinds)
    present = rng.random() < 0.85 and objects
    shape, colour = rng.choice(objects) if present else (rng.choice(SHAPES), rng.choice(list(COLOURS)))
    if kind == "colour_shape":
        return f"How many {colour} {shape}s are there?", objects.count((shape, colour)), kind
    if kind == "shape":
        return f"How many {shape}s are there?", sum(s == shape for s, _ in objects), kind
    if kind == "colour":
        return f"How many {colour} shapes are there?", sum(c == colour for _, c in objects), kind
    if kind == "not_colour":
        return f"How many shapes are not {colour}?", sum(c != colour for _, c in objects), kind
    if kind == "not_shape":
        return f"How many shapes are not {shape}s?", sum(s != shape for s, _ in objects), kind
    return "How many objects are there in total?", len(objects), kind


def write_png(image: Any, path: Path) -> None:
    """Save ``image`` as PNG unless ``path`` already holds the same bytes (atomic: temp file + rename)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    data = buf.getvalue()
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class CountTask(Task):
    """Count objects in pictures; default verifier ``count``. See the module docstring.

    Args:
        count: Number of synthetic problems.
        min_objects: Fewest objects in a picture.
        max_objects: Most objects in a picture.
        distractors: Clutter marks (dots, thin lines) per picture that are not objects.
        occlusion: Let objects overlap (each keeps at least 60% of its area visible).
        background: ``plain``, ``noisy`` (tinted, Gaussian pixel noise) or ``mixed`` (either, per picture).
        size: Picture width and height in pixels.
        kinds: Comma-separated question kinds to draw from (``all`` or some of: colour_shape, shape,
            colour, not_colour, not_shape, total).
        seed: Random seed; the same seed gives the same pictures, questions and answers.
        mode: ``image`` (the picture goes to a vision-language model) or ``detector`` (a detector's
            object list goes to a text model).
        image_dir: Where the pictures are written; default ``count-images/<settings>`` in the current directory.
        data: A JSONL of real ``image``/``question``/``answer`` rows instead of synthetic pictures.
    """

    name: ClassVar[str] = "count"
    default_verifier: ClassVar[str] = "count"
    prompt_template: ClassVar[str] = PROMPT

    def __init__(self, count: int = 100, min_objects: int = 3, max_objects: int = 10, distractors: int = 0,
                 occlusion: bool | str = False, background: str = "mixed", size: int = 256, kinds: str = "all",
                 seed: int = 0, mode: str = "image", image_dir: str | None = None, data: str | None = None,
                 prompt_template: str | None = None, system: str | None = None):
        super().__init__(data=data, prompt_template=prompt_template, system=system)
        self.count, self.min_objects, self.max_objects = int(count), int(min_objects), int(max_objects)
        self.distractors, self.size, self.seed = int(distractors), int(size), int(seed)
        self.occlusion = _bool(occlusion)
        if self.count < 1 or not 0 <= self.min_objects <= self.max_objects or self.distractors < 0:
            raise ValueError("count needs count >= 1, 0 <= min_objects <= max_objects and distractors >= 0")
        if self.size < 64:
            raise ValueError(f"size must be at least 64 pixels, got {self.size}")
        if background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, got {background!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.background, self.mode = background, mode
        self.kinds = KINDS if kinds == "all" else tuple(k.strip() for k in str(kinds).split(",") if k.strip())
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown or not self.kinds:
            raise ValueError(f"unknown question kinds {unknown}; choose from all, {', '.join(KINDS)}")
        self.image_dir = image_dir if image_dir is not None else str(Path("count-images") / self.settings_tag())

    def settings_tag(self) -> str:
        """The picture settings as a short name, e.g. ``s0-o3-10-d0-noocc-mixed-256px``."""
        occ = "occ" if self.occlusion else "noocc"
        return (f"s{self.seed}-o{self.min_objects}-{self.max_objects}-d{self.distractors}-{occ}"
                f"-{self.background}-{self.size}px")

    def config(self) -> dict[str, Any]:
        return {**super().config(), "count": self.count, "min_objects": self.min_objects,
                "max_objects": self.max_objects, "distractors": self.distractors, "occlusion": self.occlusion,
                "background": self.background, "size": self.size, "kinds": ",".join(self.kinds),
                "seed": self.seed, "mode": self.mode, "image_dir": self.image_dir}

    def format_image_prompt(self, question: str) -> Messages:
        """Chat messages with the picture as an image part before the question text."""
        text = self.prompt_template.replace("{question}", question)
        messages: Messages = []
        if self.system:
            messages.append({"role": "system", "content": [{"type": "text", "text": self.system}]})
        messages.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]})
        return messages

    def _problem(self, pid: str, question: str, answer: int, image: Path, metadata: dict[str, Any]) -> Problem:
        image = image.resolve()
        if self.mode == "image":
            return Problem(id=pid, prompt=self.format_image_prompt(question), answer=str(answer),
                           images=(str(image),), metadata=metadata)
        from PIL import Image

        from rft.tasks.shapes import describe, detect

        with Image.open(image) as img:
            report = describe(detect(img))
        intro = DETECTOR_INTRO.replace("{objects}", report)
        return Problem(id=f"{pid}/detector", prompt=self.format_prompt(intro + question), answer=str(answer),
                       metadata={**metadata, "image": str(image), "detections": report})

    def problems(self) -> Iterator[Problem]:
        if self.data:
            yield from self._from_data(Path(self.data))
        else:
            yield from self._synthetic()

    def _synthetic(self) -> Iterator[Problem]:
        import numpy as np

        from rft.tasks.shapes import make_scene, render

        tag = self.settings_tag()
        kinds = "" if self.kinds == KINDS else "-" + "+".join(self.kinds)
        for i in range(self.count):
            rng = random.Random(f"count/{tag}/{i}")
            try:
                scene = make_scene(rng, self.size, (self.min_objects, self.max_objects), self.distractors,
                                   self.occlusion)
            except ValueError as e:
                raise RftError(f"count task: {e}") from None
            background = rng.choice(["plain", "noisy"]) if self.background == "mixed" else self.background
            noise = np.random.default_rng(rng.getrandbits(64)) if background == "noisy" else None
            path = Path(self.image_dir) / f"{i:05d}.png"
            write_png(render(scene, noise), path)
            pairs = [(o.shape, o.colour) for o in scene.objects]
            question, answer, kind = ask(random.Random(f"count/{tag}/{i}/question{kinds}"), pairs, self.kinds)
            if scene.clutter and self.mode == "image":
                question += CLUTTER_NOTE
            yield self._problem(f"count/{tag}{kinds}/{i}", question, answer, path, {
                "question": question, "kind": kind, "background": background,
                "objects": [f"{c} {s}" for s, c in pairs], "clutter": len(scene.clutter)})

    def _from_data(self, path: Path) -> Iterator[Problem]:
        seen: set[str] = set()
        for lineno, row in numbered_jsonl(path):
            where = f"{path}:{lineno}"
            image, question, answer = row.get("image"), row.get("question"), row.get("answer")
            if not isinstance(image, str) or not isinstance(question, str) or answer is None:
                raise DataError(f"{where}: expected 'image' (path), 'question' and 'answer' fields, "
                                f"got keys {sorted(row)}")
            if isinstance(answer, bool) or not str(answer).strip().isdigit():
                raise DataError(f"{where}: answer must be a non-negative whole number, got {answer!r}")
            file = path.parent / image
            if not file.is_file():
                raise DataError(f"{where}: image not found: {file}")
            pid = f"count/{path.stem}/{row.get('id', lineno)}"
            if pid in seen:
                raise DataError(f"{where}: duplicate id {row.get('id')!r}; ids must be unique")
            seen.add(pid)
            yield self._problem(pid, question, int(str(answer).strip()), file,
                                {"question": question, "source": where})
