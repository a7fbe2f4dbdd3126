"""The synthetic shapes world of the ``count`` task: draw scenes with exact ground truth, and see them again.

`make_scene` places coloured circles, squares, triangles and stars (several sizes, random rotation,
a dark outline) plus optional clutter (small dots and thin lines that are not objects); `render`
draws a scene with Pillow on a plain or noisy background. Everything is driven by the caller's
seeded generators, so a seed gives byte-identical PNGs.

`detect` is a classical detector for these images that looks only at pixels: saturated pixels are
assigned the nearest palette hue, each colour mask is split into connected components
(`scipy.ndimage.label`), specks and thin lines are dropped, and each blob is classified by two
rotation-invariant features: solidity (area / convex-hull area; stars are concave) and fill of its
circumscribed circle (circle ~1.0, square ~0.64, triangle ~0.41). `describe` turns detections into
the text a language model reads in the task's ``mode=detector``.

    >>> import random, numpy as np
    >>> scene = make_scene(random.Random(0), size=256, objects=(3, 3))
    >>> len(scene.objects)
    3
"""

from __future__ import annotations

import colorsys
import math
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "star")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40), "orange": (245, 120, 20), "yellow": (230, 215, 20),
    "green": (44, 160, 44), "blue": (31, 90, 220), "purple": (150, 60, 200),
}
OUTLINE = (35, 35, 35)
STAR_INNER = 0.45  # inner / outer radius of the five-pointed star
RADIUS = (0.055, 0.11)  # object circumradius range, as a fraction of the canvas size
NOISE_SIGMA = 12.0  # per-channel Gaussian noise of the "noisy" background (applied to the whole image)


@dataclass(frozen=True)
class Shape:
    """One object: kind, colour name, centre, circumradius in pixels and rotation in degrees."""

    shape: str
    colour: str
    x: float
    y: float
    r: float
    angle: float = 0.0


@dataclass(frozen=True)
class Clutter:
    """A mark that is not an object: a dot (``length == 0``) or a thin line segment."""

    colour: str
    x: float
    y: float
    length: float
    angle: float


@dataclass(frozen=True)
class Scene:
    """What is in one picture; the ground truth of every question about it."""

    size: int
    objects: tuple[Shape, ...]
    clutter: tuple[Clutter, ...] = field(default=())


def polygon(s: Shape) -> list[tuple[float, float]]:
    """Vertices of a square, triangle or star (circles are drawn as ellipses)."""
    if s.shape == "square":
        radii, start, k = [s.r], 45.0, 4
    elif s.shape == "triangle":
        radii, start, k = [s.r], -90.0, 3
    elif s.shape == "star":
        radii, start, k = [s.r, s.r * STAR_INNER], -90.0, 10
    else:
        raise ValueError(f"no polygon for {s.shape!r}")
    step = 360.0 / k
    return [(s.x + radii[i % len(radii)] * math.cos(math.radians(start + s.angle + i * step)),
             s.y + radii[i % len(radii)] * math.sin(math.radians(start + s.angle + i * step))) for i in range(k)]


def _draw_shape(draw: ImageDraw.ImageDraw, s: Shape, fill: tuple[int, ...] | int,
                outline: tuple[int, ...] | int | None) -> None:
    if s.shape == "circle":
        draw.ellipse((s.x - s.r, s.y - s.r, s.x + s.r, s.y + s.r), fill=fill, outline=outline, width=2)
    else:
        draw.polygon(polygon(s), fill=fill, outline=outline, width=2)


def _mask(s: Shape, size: int) -> np.ndarray:
    img = Image.new("1", (size, size), 0)
    _draw_shape(ImageDraw.Draw(img), s, 1, None)
    return np.asarray(img, dtype=bool)


def _visible_enough(objects: list[Shape], size: int, min_visible: float) -> bool:
    """True if every object keeps at least ``min_visible`` of its pixels when drawn in order."""
    masks = [_mask(s, size) for s in objects]
    covered = np.zeros((size, size), dtype=bool)
    for m in reversed(masks):  # later objects are drawn on top
        if (m & ~covered).sum() < min_visible * m.sum():
            return False
        covered |= m
    return True


def make_scene(rng: random.Random, size: int = 256, objects: tuple[int, int] = (3, 10), distractors: int = 0,
               occlusion: bool = False, min_visible: float = 0.6) -> Scene:
    """A random scene: ``objects`` = (min, max) shapes, ``distractors`` clutter marks.

    Without occlusion objects keep a 3-pixel gap; with occlusion they may overlap, but each keeps at
    least ``min_visible`` of its area visible (so the ground truth stays answerable).

    Raises:
        ValueError: The objects do not fit on the canvas (lower the object count or raise the size).
    """
    n = rng.randint(*objects)
    placed: list[Shape] = []
    for _ in range(n):
        for _attempt in range(500):
            r = rng.uniform(RADIUS[0] * size, RADIUS[1] * size)
            s = Shape(shape=rng.choice(SHAPES), colour=rng.choice(list(COLOURS)),
                      x=rng.uniform(r + 2, size - r - 2), y=rng.uniform(r + 2, size - r - 2), r=r,
                      angle=rng.uniform(0, 360))
            gap = [math.dist((s.x, s.y), (o.x, o.y)) - (s.r + o.r) for o in placed]
            if occlusion:
                ok = all(g > -0.6 * min(s.r, o.r) for g, o in zip(gap, placed)) and \
                    _visible_enough([*placed, s], size, min_visible)
            else:
                ok = all(g > 3 for g in gap)
            if ok:
                placed.append(s)
                break
        else:
            raise ValueError(f"cannot place {n} objects on a {size}x{size} canvas; lower the object count or "
                             f"raise the image size")
    marks: list[Clutter] = []
    for _ in range(distractors):
        for _attempt in range(500):
            length = rng.choice([0.0, rng.uniform(0.06 * size, 0.14 * size)])
            c = Clutter(colour=rng.choice(list(COLOURS)), x=rng.uniform(6, size - 6), y=rng.uniform(6, size - 6),
                        length=length, angle=rng.uniform(0, 180))
            ends = _clutter_ends(c)
            if all(0 <= v <= size - 1 for p in ends for v in p) and \
                    all(math.dist((c.x, c.y), (o.x, o.y)) > o.r + length / 2 + 5 for o in placed):
                marks.append(c)
                break
    return Scene(size=size, objects=tuple(placed), clutter=tuple(marks))


def _clutter_ends(c: Clutter) -> list[tuple[float, float]]:
    dx = c.length / 2 * math.cos(math.radians(c.angle))
    dy = c.length / 2 * math.sin(math.radians(c.angle))
    return [(c.x - dx, c.y - dy), (c.x + dx, c.y + dy)]


def render(scene: Scene, noise: np.random.Generator | None = None) -> Image.Image:
    """Draw ``scene``; with a ``noise`` generator the background is tinted and the image gets Gaussian noise."""
    size = scene.size
    tint = (244, 244, 240) if noise is None else tuple(int(v) for v in noise.integers(200, 250, size=3))
    img = Image.new("RGB", (size, size), tint)
    draw = ImageDraw.Draw(img)
    for c in scene.clutter:
        colour = COLOURS[c.colour]
        if c.length == 0:
            draw.ellipse((c.x - 2.5, c.y - 2.5, c.x + 2.5, c.y + 2.5), fill=colour)
        else:
            draw.line(_clutter_ends(c), fill=colour, width=2)
    for s in scene.objects:
        _draw_shape(draw, s, COLOURS[s.colour], OUTLINE)
    if noise is None:
        return img
    pixels = np.asarray(img, dtype=np.float32) + noise.normal(0.0, NOISE_SIGMA, size=(size, size, 3))
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")


# --- seeing: a classical detector that reads the pixels back ----------------------------------------

_HUES = {name: colorsys.rgb_to_hsv(*(v / 255 for v in rgb))[0] * 360 for name, rgb in COLOURS.items()}
MIN_SATURATION = 100  # of 255: the light background stays far below, palette colours far above
MIN_AREA_FRACTION = 0.0012  # blobs smaller than this fraction of the image are specks (dots, noise)


@dataclass(frozen=True)
class Detection:
    """One object the detector found: shape, colour name, centre and approximate radius in pixels."""

    shape: str
    colour: str
    x: int
    y: int
    r: int


def _colour_labels(img: Image.Image) -> np.ndarray:
    """Per pixel: index into ``COLOURS`` of the nearest palette hue, or -1 for background and outlines."""
    hsv = np.asarray(img.convert("RGB").convert("HSV"), dtype=np.float32)
    hue, sat, val = hsv[..., 0] * (360 / 256), hsv[..., 1], hsv[..., 2]
    refs = np.array(list(_HUES.values()), dtype=np.float32)
    diff = np.abs(hue[..., None] - refs)
    nearest = np.argmin(np.minimum(diff, 360 - diff), axis=-1)
    return np.where((sat >= MIN_SATURATION) & (val >= 80), nearest, -1)


def _classify(ys: np.ndarray, xs: np.ndarray) -> tuple[str, float] | None:
    """Shape name and radius of one blob, or None for clutter (a thin line)."""
    from scipy.spatial import ConvexHull, QhullError

    area = float(len(xs))
    cx, cy = xs.mean(), ys.mean()
    r_max = float(np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2).max()) + 0.5  # + half a pixel: edge, not centre
    fill = area / (math.pi * r_max ** 2)
    if fill < 0.2:  # a line segment: long and thin
        return None
    corners = np.concatenate([np.stack([xs + dx, ys + dy], axis=1) for dx in (-0.5, 0.5) for dy in (-0.5, 0.5)])
    try:
        solidity = area / ConvexHull(corners).volume  # in 2-D, "volume" is the area
    except QhullError:
        return None
    if solidity < 0.78:
        return "star", r_max
    if fill > 0.8:
        return "circle", r_max
    return ("square" if fill > 0.555 else "triangle"), r_max


def detect(image: Image.Image) -> list[Detection]:
    """The objects in a rendered picture, found from its pixels alone, in reading order (top to bottom)."""
    from scipy import ndimage

    labels = _colour_labels(image)
    min_area = MIN_AREA_FRACTION * labels.size
    found = []
    for index, colour in enumerate(COLOURS):
        mask = ndimage.binary_opening(labels == index)  # drops one-pixel spurs that noise attaches to edges
        components, _ = ndimage.label(mask)  # 4-connectivity: outlines separate touching blobs
        for k, region in enumerate(ndimage.find_objects(components), start=1):
            ys, xs = np.nonzero(components[region] == k)
            if len(xs) < min_area:
                continue
            kind = _classify(ys + region[0].start, xs + region[1].start)
            if kind is not None:
                found.append(Detection(kind[0], colour, int(round(xs.mean() + region[1].start)),
                                       int(round(ys.mean() + region[0].start)), int(round(kind[1]))))
    return sorted(found, key=lambda d: (d.y // 16, d.x))


def describe(detections: list[Detection]) -> str:
    """A detector report a language model can read: one ``- colour shape`` line per object.

    Positions and sizes are left out: measured with the default 0.5B text model, they led it into
    geometry (areas, distances) instead of counting.
    """
    if not detections:
        return "(no objects found)"
    return "\n".join(f"- {d.colour} {d.shape}" for d in detections)
