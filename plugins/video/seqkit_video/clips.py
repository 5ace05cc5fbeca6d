"""The built-in data: generated clips of shapes that enter, move, bounce and leave.

A shape enters through one side of a textured background, moves in a straight line at its own
speed, bounces off the walls a few times, and leaves through whichever wall it meets next. Each
frame is tagged with what each visible shape does::

    empty            no shape on screen
    circle enter     partly visible, coming in
    circle move      wholly visible
    circle bounce    within one frame of a wall reflection
    circle exit      partly visible, going out

Without ``overlap`` shapes follow one another, so every frame has exactly one tag (single-label);
with it they share the screen and a frame carries one tag per visible shape (multi-label).

Generation is deterministic: clip ``i`` of a split depends only on the seed, the split and ``i``.
Every kind of shape has one colour that never appears on it in the training and validation
clips; every test clip shows at least one shape in its held-out colour, so test accuracy measures
whether a model tags a kind by its form, whatever colour it wears.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

from seqkit.errors import SeqkitError
from seqkit_video.config import ClipConfig

KINDS = ("circle", "square", "triangle", "diamond")
COLOURS = {"red": (220, 50, 47), "green": (60, 175, 60), "blue": (60, 100, 235),
           "yellow": (235, 205, 40), "purple": (160, 80, 210)}
EVENTS = ("enter", "move", "bounce", "exit")
EMPTY = "empty"
TEXTURES = ("stripes", "checks", "dots", "noise")
_SPLIT_SEEDS = {"train": 1, "valid": 2, "test": 3}


def tag_names(config: ClipConfig) -> list[str]:
    """Every tag the clips can carry: ``empty`` first, then ``kind event``."""
    return [EMPTY] + [f"{kind} {event}" for kind in KINDS[:config.kinds] for event in EVENTS]


def held_out_colour(kind: int, config: ClipConfig) -> str:
    """The colour kind number ``kind`` never wears in training (a property of the data, not
    of a seed): kinds hold out different colours, so every colour is still seen in training."""
    return list(COLOURS)[kind % config.colours]


@dataclass
class Track:
    """One shape's path: its centre and tag per frame of the clip (None: off screen)."""

    kind: int  # index into KINDS
    colour: str  # key of COLOURS
    radius: float  # fraction of the canvas side
    centres: list[tuple[float, float] | None]  # (x, y) fractions, one per frame
    events: list[str | None]  # one of EVENTS per frame, None when off screen


def _visible(x: float, y: float, r: float) -> tuple[bool, bool]:
    """(partly visible, wholly visible) for a shape centred at (x, y) of radius r."""
    partly = -r < x < 1 + r and -r < y < 1 + r
    whole = r <= x <= 1 - r and r <= y <= 1 - r
    return partly, whole


def _path(rng: random.Random, start: int, frames: int, radius: float, speed: float,
          bounces: int) -> tuple[list, list]:
    """Simulate one shape from ``start``: enter, bounce ``bounces`` times, leave."""
    side = rng.randrange(4)  # 0 left, 1 right, 2 top, 3 bottom
    along, angle = rng.uniform(0.35, 0.65), rng.uniform(-0.5, 0.5)
    direction = (0.0, math.pi, math.pi / 2, -math.pi / 2)[side] + angle
    x, y = [(-radius, along), (1 + radius, along), (along, -radius), (along, 1 + radius)][side]
    vx, vy = speed * math.cos(direction), speed * math.sin(direction)
    centres, events = [None] * frames, [None] * frames
    x, y = x + vx * 0.5, y + vy * 0.5  # half a frame in: the first frame shows an edge
    phase, reflections = "enter", []
    for t in range(start, frames):
        partly, whole = _visible(x, y, radius)
        if phase == "enter" and whole:
            phase = "inside"
        if phase == "inside" and len(reflections) >= bounces and not whole:
            phase = "exit"
        if not partly:  # gone (or slid past a corner while entering)
            break
        centres[t] = (x, y)
        events[t] = {"enter": "enter", "inside": "move", "exit": "exit"}[phase]
        x, y, vx, vy, hit = _step(x, y, vx, vy, radius, t,
                                  reflect=phase == "inside" and len(reflections) < bounces)
        if hit is not None:
            reflections.append(hit)
    for hit in reflections:  # frames within one frame of a reflection
        for t in range(math.ceil(hit - 1), math.floor(hit + 1) + 1):
            if 0 <= t < frames and events[t] == "move":
                events[t] = "bounce"
    return centres, events


def _step(x, y, vx, vy, r, t, reflect: bool):
    """Advance one frame; reflect off the walls when asked. Returns the reflection's time."""
    nx, ny, hit = x + vx, y + vy, None
    if reflect:
        for axis in (0, 1):
            pos, vel = (nx, vx) if axis == 0 else (ny, vy)
            wall = r if pos < r else 1 - r if pos > 1 - r else None
            if wall is None:
                continue
            fraction = (wall - (pos - vel)) / vel if vel else 0.0
            hit = t + min(max(fraction, 0.0), 1.0)
            pos, vel = 2 * wall - pos, -vel
            nx, vx = (pos, vel) if axis == 0 else (nx, vx)
            ny, vy = (pos, vel) if axis == 1 else (ny, vy)
            reflect = False  # one reflection per frame keeps the count exact
            break
    return nx, ny, vx, vy, hit


def _coverage(kind: str, dx: np.ndarray, dy: np.ndarray, r: float, pixel: float) -> np.ndarray:
    """How much of each pixel a shape of half-extent ``r`` covers, 0 to 1, from the signed
    distance to its edge (every kind fills the box [-r, r] squared). Edges are smooth, so a
    shape's position shows to a fraction of a pixel: where it crosses a border is visible."""
    ax, ay = np.abs(dx), np.abs(dy)
    if kind == "circle":
        inside = np.sqrt(dx * dx + dy * dy) - r
    elif kind == "square":
        inside = np.maximum(ax, ay) - r
    elif kind == "triangle":  # apex at the top, base at the bottom: |dx| <= (dy + r) / 2
        inside = np.maximum((2 * ax - dy - r) / np.sqrt(5.0), ay - r)
    else:  # diamond
        inside = (ax + ay - r) / np.sqrt(2.0)
    return np.clip(0.5 - inside / pixel, 0.0, 1.0)


def _background(rng: random.Random, side: int) -> np.ndarray:
    """A low-contrast texture ``(side, side, 3)`` float32 in [0, 255]."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    base = np.array([rng.uniform(30, 90) for _ in range(3)], dtype=np.float32)
    texture, period = rng.choice(TEXTURES), rng.uniform(0.08, 0.2)
    if texture == "stripes":
        a = rng.uniform(0, math.pi)
        pattern = np.sin((xx * math.cos(a) + yy * math.sin(a)) * 2 * math.pi / period)
    elif texture == "checks":
        pattern = np.sign(np.sin(xx * math.pi / period) * np.sin(yy * math.pi / period))
    elif texture == "dots":
        pattern = (np.sin(xx * 2 * math.pi / period) * np.sin(yy * 2 * math.pi / period) > 0.7) * 2.0 - 1
    else:
        pattern = np.random.default_rng(rng.randrange(2**31)).uniform(-1, 1, (side, side))
    return base + 18.0 * pattern[..., None].astype(np.float32)


@dataclass
class Clip:
    """A generated clip: its shapes' tracks and how to draw it."""

    frames: int
    tracks: list[Track]
    background_seed: int
    tags: list[list[str]]  # per frame, the tags that hold (``[empty]`` when none)
    grey: bool = False  # drawn in shades of grey

    def render(self, side: int) -> np.ndarray:
        """The frames as ``(T, side, side, 3)`` uint8."""
        background = _background(random.Random(self.background_seed), side)
        video = np.repeat(background[None], self.frames, axis=0)
        grid = (np.arange(side, dtype=np.float32) + 0.5) / side
        for track in self.tracks:
            shown = [t for t, centre in enumerate(track.centres) if centre is not None]
            if not shown:
                continue
            centres = np.array([track.centres[t] for t in shown], dtype=np.float32)  # (n, 2)
            dx = grid[None, None, :] - centres[:, 0, None, None]  # (n, 1, side)
            dy = grid[None, :, None] - centres[:, 1, None, None]  # (n, side, 1)
            alpha = _coverage(KINDS[track.kind], dx, dy, track.radius, 1 / side)[..., None]
            colour = np.array(COLOURS[track.colour], dtype=np.float32)
            video[shown] = video[shown] * (1 - alpha) + colour * alpha  # (n, side, side, 3)
        if self.grey:  # luminance (ITU-R BT.601) in every channel
            video[:] = (video @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
        return video.clip(0, 255).astype(np.uint8)


def make_clip(config: ClipConfig, split: str, index: int) -> Clip:
    """Clip ``index`` of ``split`` (deterministic)."""
    if split not in _SPLIT_SEEDS:
        raise SeqkitError(f"unknown clip split '{split}'")
    if not 1 <= config.kinds <= len(KINDS) or not 2 <= config.colours <= len(COLOURS):
        raise SeqkitError(f"clips.kinds must be 1-{len(KINDS)} and clips.colours 2-{len(COLOURS)}")
    rng = random.Random(config.seed * 1_000_003 + _SPLIT_SEEDS[split] * 100_003 + index)
    frames = rng.randint(config.min_frames, config.max_frames)
    tracks, start = [], rng.randint(0, 6)
    while start < frames - 4:
        busy = {tr.kind for tr in tracks if any(c is not None for c in tr.centres[start:])}
        if len(busy) >= config.kinds:
            break
        track = _track(rng, config, split, start, frames, busy, first=not tracks)
        tracks.append(track)
        last = max((t for t, c in enumerate(track.centres) if c is not None), default=start)
        start = (rng.randint(start + 4, max(start + 5, last)) if config.overlap
                 else last + 1 + rng.randint(0, 6))
    tags = [[f"{KINDS[tr.kind]} {tr.events[t]}" for tr in tracks if tr.events[t]] or [EMPTY]
            for t in range(frames)]
    grey = split == "train" and rng.random() < config.grey
    return Clip(frames, tracks, rng.randrange(2**31), tags, grey)


def _track(rng: random.Random, config: ClipConfig, split: str, start: int, frames: int,
           busy: set[int], first: bool) -> Track:
    """A shape of a kind not on screen (``busy``), in a colour that respects the split's
    held-out rule."""
    kind = rng.choice([k for k in range(config.kinds) if k not in busy])
    colours = list(COLOURS)[:config.colours]
    held = held_out_colour(kind, config)
    if split == "test" and first:
        colour = held  # the first shape of every test clip wears its kind's held-out colour
    else:
        colour = rng.choice([c for c in colours if c != held])
    radius, speed = rng.uniform(0.12, 0.18), rng.uniform(0.035, 0.075)
    centres, events = _path(rng, start, frames, radius, speed,
                            rng.randint(0, config.max_bounces))
    return Track(kind, colour, radius, centres, events)
