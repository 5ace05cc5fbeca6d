"""The built-in data: scenes of coloured shapes with captions from a small grammar.

A scene holds one to three shapes, each in its own column (left, middle, right) at a random
height. Its caption names the shapes from left to right::

    a large red circle on the left                       (one shape: its column)
    a small blue square left of a large green diamond    (two or three: "left of")

Generation is deterministic: the same seed gives the same scenes. A fixed fraction of the ordered
pairs of shape types (colour and kind) never stand side by side in the training and validation
scenes; every test scene holds at least one of them. Exact match on the test split thus measures
whether a model composes what it saw, not whether it recalls captions.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial
from typing import Callable

from PIL import Image, ImageDraw

from seqkit.errors import SeqkitError
from seqkit_caption.config import SceneConfig

COLOURS = {"red": (220, 50, 47), "green": (60, 175, 60), "blue": (60, 100, 235),
           "yellow": (235, 205, 40), "purple": (160, 80, 210)}
KINDS = ("circle", "square", "triangle", "diamond")
SIZES = {"small": 0.10, "large": 0.155}  # radius as a fraction of the canvas side
COLUMNS = ("on the left", "in the middle", "on the right")
BACKGROUND = (24, 24, 28)
HOLDOUT_SEED = 20_240_601  # the held-out pairs are a property of the grammar, not of a run


@dataclass(frozen=True)
class Shape:
    """One shape: what it is, and where its centre lies (fractions of the canvas side)."""

    kind: str  # one of KINDS
    colour: str  # a key of COLOURS
    size: str  # a key of SIZES
    column: int  # 0 left, 1 middle, 2 right
    x: float  # centre, 0 (left) to 1 (right)
    y: float  # centre, 0 (top) to 1 (bottom)

    @property
    def kind_colour(self) -> tuple[str, str]:
        """The shape's type, which the held-out pairs are made of."""
        return self.colour, self.kind

    def phrase(self) -> str:
        """``a small red circle``."""
        return f"a {self.size} {self.colour} {self.kind}"


@dataclass(frozen=True)
class Scene:
    """Shapes ordered from left to right."""

    shapes: tuple[Shape, ...]

    def caption(self) -> str:
        """The grammar's caption of the scene."""
        if len(self.shapes) == 1:
            return f"{self.shapes[0].phrase()} {COLUMNS[self.shapes[0].column]}"
        return " left of ".join(shape.phrase() for shape in self.shapes)

    def pairs(self) -> list[tuple]:
        """Ordered pairs of neighbouring shape types."""
        return [(a.kind_colour, b.kind_colour) for a, b in zip(self.shapes, self.shapes[1:])]

    def render(self, canvas: int = 64) -> Image.Image:
        """Draw the scene as an RGB image ``canvas`` pixels square (drawn at twice the size and
        reduced, for smooth edges)."""
        big = canvas * 2
        image = Image.new("RGB", (big, big), BACKGROUND)
        draw = ImageDraw.Draw(image)
        for shape in self.shapes:
            _draw(draw, shape, big)
        return image.reduce(2)


def _draw(draw: ImageDraw.ImageDraw, shape: Shape, side: int) -> None:
    cx, cy, r = shape.x * side, shape.y * side, SIZES[shape.size] * side
    fill = COLOURS[shape.colour]
    if shape.kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape.kind == "square":
        h = r * 0.86  # about the circle's area
        draw.rectangle([cx - h, cy - h, cx + h, cy + h], fill=fill)
    elif shape.kind == "triangle":
        draw.polygon([(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)], fill=fill)
    else:  # diamond
        draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=fill)


def shape_types(config: SceneConfig) -> list[tuple[str, str]]:
    """The (colour, kind) types the config allows."""
    if not 1 <= config.colours <= len(COLOURS) or not 1 <= config.kinds <= len(KINDS):
        raise SeqkitError(f"scenes.colours must be 1..{len(COLOURS)} and scenes.kinds "
                          f"1..{len(KINDS)}, not {config.colours} and {config.kinds}")
    return [(c, k) for c in list(COLOURS)[: config.colours] for k in KINDS[: config.kinds]]


def held_out_pairs(config: SceneConfig) -> set[tuple]:
    """The ordered pairs of shape types that only test scenes hold, side by side."""
    types = shape_types(config)
    pairs = [(a, b) for a in types for b in types]
    random.Random(HOLDOUT_SEED).shuffle(pairs)
    return set(pairs[: round(len(pairs) * config.holdout)])


def _sample(rng: random.Random, config: SceneConfig, types: list, count: int) -> Scene:
    columns = sorted(rng.sample(range(3), count))
    shapes = []
    for column in columns:
        colour, kind = rng.choice(types)
        size = rng.choice(list(SIZES))
        r = SIZES[size]
        room = 1 / 6 - r - 0.01  # horizontal jitter that keeps the shape inside its column
        x = (column + 0.5) / 3 + rng.uniform(-room, room)
        y = rng.uniform(r + 0.04, 1 - r - 0.04)
        shapes.append(Shape(kind, colour, size, column, x, y))
    return Scene(tuple(shapes))


def make_scenes(config: SceneConfig, split: str, count: int) -> list[Scene]:
    """``count`` scenes of a split (train, valid or test), the same for the same seed."""
    if not 1 <= config.min_shapes <= config.max_shapes <= 3:
        raise SeqkitError("scenes need 1 <= min_shapes <= max_shapes <= 3, not "
                          f"{config.min_shapes} and {config.max_shapes}")
    held, types = held_out_pairs(config), shape_types(config)
    test = split == "test"
    if test and (config.max_shapes < 2 or not held):
        raise SeqkitError("held-out test scenes need scenes.max_shapes >= 2 and "
                          "scenes.holdout > 0")
    rng = random.Random(f"seqkit-scenes/{config.seed}/{split}")
    counts = list(range(max(config.min_shapes, 2 if test else 1), config.max_shapes + 1))
    weights = [1 if n == 1 else 2 for n in counts]  # fewer single shapes: they say little
    scenes = []
    while len(scenes) < count:
        scene = _sample(rng, config, types, rng.choices(counts, weights)[0])
        if any(pair in held for pair in scene.pairs()) == test:
            scenes.append(scene)
    return scenes


def scene_refs(scenes: list[Scene], canvas: int) -> list[Callable[[], Image.Image]]:
    """Lazy image references: each call draws its scene."""
    return [partial(scene.render, canvas) for scene in scenes]


def example_scenes(count: int = 6, split: str = "test",
                   config: SceneConfig | None = None) -> list[tuple[Image.Image, str]]:
    """A few ``(image, caption)`` examples of the built-in data (e.g. for a demo); by default
    test scenes, whose compositions a model trained on the built-in data never saw."""
    config = config or SceneConfig()
    return [(s.render(config.canvas), s.caption()) for s in make_scenes(config, split, count)]
