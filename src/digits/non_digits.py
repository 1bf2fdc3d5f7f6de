"""Images that show no digit: letters, symbols, shapes, doodles, scribbles and marks, drawn as a
hand would draw them, laid out in 28x28 as the service lays out what it reads.

Kinds come in two sets. TRAINED kinds teach the model what a digit is not (outlier exposure:
train targets them at the uniform distribution). HELD_OUT kinds are never trained on: the
share of them the service flags measures whether that lesson carries to shapes it has not
seen, rather than memory of the ones it has.
"""

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digits.errors import ParamsError
from digits.images import frame_ink

Stroke = list[tuple[float, float]]  # points in a unit box, x right and y down
CANVAS = 112  # pixels of the drawing, before the 28x28 layout


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> Stroke:
    """Points along an ellipse from `start` to `end` degrees (0: right, 90: down)."""
    angles = np.radians(np.linspace(start, end, 16))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


_P = [[(0, 1), (0, 0), (0.5, 0)], _arc(0.5, 0.25, 0.4, 0.25, -90, 90), [(0.5, 0.5), (0, 0.5)]]
# Capital letters as a hand writes them, one list of strokes each. None of them can pass for a
# digit: no O, I, S, Z, B, G, J, D or Q.
LETTER_STROKES: dict[str, list[Stroke]] = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.25, 0.55), (0.75, 0.55)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.7, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.7, 0.5)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(1, 0), (0, 0.55), (1, 1)]],
    "M": [[(0, 1), (0, 0), (0.5, 0.6), (1, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.3), (0.75, 1), (1, 0)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "C": [_arc(0.55, 0.5, 0.45, 0.5, 40, 320)],
    "L": [[(0, 0), (0, 1), (0.8, 1)]],
    "P": _P,
    "R": [*_P, [(0.4, 0.5), (1, 1)]],
    "T": [[(0, 0), (1, 0)], [(0.5, 0), (0.5, 1)]],
    "U": [[(0, 0), *_arc(0.5, 0.5, 0.5, 0.5, 180, 0), (1, 0)]],
    "V": [[(0, 0), (0.5, 1), (1, 0)]],
}
TRAINED_LETTERS = "AEFHKMNWXY"
HELD_OUT_LETTERS = "CLPRTUV"
SYMBOLS = "+=#%&@$?*<>~"  # typed with a font, never trained on
TYPED_LETTERS = "ACEFHKMNPRTUVWXYacefhkmnrtuvwxy"


def _jitter(stroke: Stroke, rng: np.random.Generator, amount: float) -> np.ndarray:
    return np.asarray(stroke, np.float64) + rng.normal(0, amount, (len(stroke), 2))


def _draw(strokes: list[np.ndarray], rng: np.random.Generator, filled: bool = False) -> np.ndarray:
    """Strokes in a unit box, drawn with a random pen, narrowed at random and slightly rotated:
    light ink on black, floats in [0, 1]."""
    width = rng.uniform(0.45, 1.1)
    size = CANVAS * 0.7
    angle = math.radians(rng.uniform(-15, 15))
    cos, sin = math.cos(angle), math.sin(angle)
    image = Image.new("L", (CANVAS, CANVAS))
    draw = ImageDraw.Draw(image)
    pen = int(rng.integers(4, 13))
    for stroke in strokes:
        x = (stroke[:, 0] - 0.5) * size * width
        y = (stroke[:, 1] - 0.5) * size
        points = list(
            zip(CANVAS / 2 + cos * x - sin * y, CANVAS / 2 + sin * x + cos * y, strict=True)
        )
        if filled and len(points) > 2:
            draw.polygon(points, fill=255)
        elif len(points) == 1:
            (px, py), radius = points[0], pen
            draw.ellipse((px - radius, py - radius, px + radius, py + radius), fill=255)
        else:
            draw.line(points, fill=255, width=pen, joint="curve")
    return np.asarray(image, np.float32) / 255


def _corners(count: int, start: float, step: int) -> Stroke:
    """A closed path over `count` points evenly round a circle, visiting every `step`-th."""
    angles = np.radians(start + 360 / count * step * np.arange(count + 1))
    return [(0.5 + 0.5 * math.cos(a), 0.5 + 0.5 * math.sin(a)) for a in angles]


def letter(rng: np.random.Generator, letters: str) -> np.ndarray:
    strokes = LETTER_STROKES[letters[int(rng.integers(len(letters)))]]
    return _draw([_jitter(s, rng, 0.03) for s in strokes], rng)


def scribble(rng: np.random.Generator) -> np.ndarray:
    """A smooth random curve through a few points, as when testing a pen."""
    anchors = rng.uniform(0, 1, (int(rng.integers(6, 11)), 2))
    t = np.linspace(0, len(anchors) - 1, 12 * len(anchors))
    curve = np.stack([np.interp(t, np.arange(len(anchors)), anchors[:, k]) for k in (0, 1)], 1)
    kernel = np.ones(9) / 9  # round the corners
    smooth = np.stack([np.convolve(curve[:, k], kernel, mode="valid") for k in (0, 1)], 1)
    return _draw([smooth], rng)


def polygon(rng: np.random.Generator) -> np.ndarray:
    """A triangle, square, pentagon or hexagon, outlined or filled."""
    sides = int(rng.integers(3, 7))
    points = _corners(sides, rng.uniform(0, 360), step=1)
    filled = rng.random() < 0.3
    return _draw([_jitter(points, rng, 0.02)], rng, filled)


def hatching(rng: np.random.Generator) -> np.ndarray:
    """Parallel lines, or a grid of them."""
    count = int(rng.integers(3, 6))  # two would be "=", a held-out symbol
    offsets = np.linspace(0, 1, count)
    strokes = [_jitter([(0, o), (1, o)], rng, 0.03) for o in offsets]
    if rng.random() < 0.6:
        strokes += [_jitter([(o, 0), (o, 1)], rng, 0.03) for o in np.linspace(0, 1, count)]
    return _draw(strokes, rng)


def mark(rng: np.random.Generator) -> np.ndarray:
    """A dash, a few dots, or a tick: what a stray pen leaves."""
    choice = int(rng.integers(3))
    if choice == 0:
        y = rng.uniform(0.3, 0.7)
        return _draw([_jitter([(0, y), (1, y + rng.uniform(-0.2, 0.2))], rng, 0.02)], rng)
    if choice == 1:
        dots = rng.uniform(0, 1, (int(rng.integers(2, 6)), 2))
        return _draw([dot[None, :] for dot in dots], rng)
    return _draw([_jitter([(0, 0.6), (0.35, 1), (1, 0)], rng, 0.03)], rng)


def glyph(rng: np.random.Generator) -> np.ndarray:
    """Two to four random straight or curved strokes: the letters and signs of no alphabet."""
    strokes = []
    for _ in range(int(rng.integers(2, 5))):
        if rng.random() < 0.5:
            strokes.append(rng.uniform(0, 1, (2, 2)))
        else:
            cx, cy = rng.uniform(0.25, 0.75, 2)
            start = rng.uniform(0, 360)
            arc = _arc(cx, cy, *rng.uniform(0.15, 0.5, 2), start, start + rng.uniform(90, 270))
            strokes.append(np.asarray(arc))
    return _draw(strokes, rng)


def doodle(rng: np.random.Generator) -> np.ndarray:
    """A heart, a star, a smiling face, an arrow, a spiral or a wave."""
    choice = int(rng.integers(6))
    if choice == 0:
        t = np.linspace(0, 2 * np.pi, 60)
        x, y = 16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t))
        strokes = [np.stack([x / 34 + 0.5, y / 34 + 0.45], 1)]
    elif choice == 1:
        strokes = [np.asarray(_corners(5, -90, step=2))]  # a pentagram
    elif choice == 2:
        strokes = [np.asarray(_arc(0.5, 0.5, 0.5, 0.5, 0, 360)),
                   np.asarray([(0.35, 0.35)]), np.asarray([(0.65, 0.35)]),
                   np.asarray(_arc(0.5, 0.55, 0.25, 0.2, 20, 160))]  # fmt: skip
    elif choice == 3:
        strokes = [
            np.asarray([(0, 0.5), (1, 0.5)]),
            np.asarray([(0.7, 0.25), (1, 0.5), (0.7, 0.75)]),
        ]
    elif choice == 4:
        t = np.linspace(0, 4 * np.pi, 80)
        strokes = [np.stack([0.5 + t / 30 * np.cos(t), 0.5 + t / 30 * np.sin(t)], 1)]
    else:
        t = np.linspace(0, 1, 40)
        strokes = [np.stack([t, 0.5 + 0.2 * np.sin(t * 4 * np.pi)], 1)]
    return _draw([s + rng.normal(0, 0.015, s.shape) for s in strokes], rng)


def typed(rng: np.random.Generator, characters: str) -> np.ndarray:
    """A character in the bundled font, with a random weight."""
    font = ImageFont.load_default(size=80)
    image = Image.new("L", (CANVAS, CANVAS))
    character = characters[int(rng.integers(len(characters)))]
    ImageDraw.Draw(image).text(
        (CANVAS / 2, CANVAS / 2), character, fill=255, font=font, anchor="mm",
        stroke_width=int(rng.integers(0, 5)), stroke_fill=255,
    )  # fmt: skip
    return np.asarray(image.rotate(rng.uniform(-10, 10)), np.float32) / 255


Drawer = Callable[[np.random.Generator], np.ndarray]
CharacterDrawer = Callable[[np.random.Generator, str], np.ndarray]

# Kinds that are characters of a set: a drawing of the kind is one of them at random;
# benchmarks/held_out_characters.py draws each in turn.
CHARACTER_KINDS: dict[str, tuple[str, CharacterDrawer]] = {
    "letter": (TRAINED_LETTERS, letter),
    "symbol": (SYMBOLS, typed),
    "typed_letter": (TYPED_LETTERS, typed),
    "other_letter": (HELD_OUT_LETTERS, letter),
}


def _one_of(characters: str, draw: CharacterDrawer) -> Drawer:
    return lambda rng: draw(rng, characters)


DRAWERS: dict[str, Drawer] = {
    "scribble": scribble,
    "polygon": polygon,
    "hatching": hatching,
    "mark": mark,
    "glyph": glyph,
    "doodle": doodle,
    **{kind: _one_of(*drawn) for kind, drawn in CHARACTER_KINDS.items()},
}
TRAINED = ("letter", "scribble", "polygon", "hatching", "mark", "glyph")
HELD_OUT = ("other_letter", "doodle", "symbol", "typed_letter")


def non_digit(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One drawing of `kind`, laid out in 28x28 as the service lays out what it reads."""
    return frame_ink(DRAWERS[kind](rng))


# Turns of a 28x28 digit and the digits each leaves no digit: a quarter turn leaves none but a
# 0 one (an 8 lies as an infinity sign, a 1 as a dash); a mirror image is a digit again for the
# symmetric 0, 1 and 8 and turns 2 and 5 into each other; upside down, 0 1 3 8 stay themselves
# and 2 5 6 9 come close to a digit (a 6 to a 9 with a curl); a half turn leaves 0 1 8 and,
# near enough, 2 and 5 themselves and swaps 6 and 9.
TURNS = (
    (lambda image: np.rot90(image, 1), (1, 2, 3, 4, 5, 6, 7, 8, 9)),
    (lambda image: np.rot90(image, 3), (1, 2, 3, 4, 5, 6, 7, 8, 9)),
    (lambda image: image[:, ::-1], (3, 4, 6, 7, 9)),
    (lambda image: image[::-1, :], (4, 7)),
    (lambda image: np.rot90(image, 2), (3, 4, 7)),
)


def turned_digits(images: np.ndarray, labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` of `images` turned or mirrored (TURNS), only where that leaves no digit:
    shapes made of a digit's own strokes that are not one (a near outlier, which the drawn
    kinds cannot give). (N, 28, 28[, 1]) in, (count, 28, 28) float32 out."""
    if count and not np.isin(labels, TURNS[0][1]).any():  # only 0s: nothing to turn
        raise ParamsError("turned_digits needs training digits other than 0")
    rng = np.random.default_rng(seed)
    turned = np.empty((count, 28, 28), np.float32)
    made = 0
    while made < count:
        index = int(rng.integers(len(images)))
        turn, leaves_no_digit = TURNS[int(rng.integers(len(TURNS)))]
        if int(labels[index]) in leaves_no_digit:
            turned[made] = turn(images[index].reshape(28, 28))
            made += 1
    return turned


def make_non_digits(
    count: int, seed: int, kinds: tuple[str, ...] = TRAINED
) -> tuple[np.ndarray, list[str]]:
    """`count` drawings, the kinds in turn: (count, 28, 28) float32 images and their kinds."""
    rng = np.random.default_rng(seed)
    chosen = [kinds[number % len(kinds)] for number in range(count)]
    images = np.stack([non_digit(kind, rng) for kind in chosen]) if count else np.zeros((0, 28, 28))
    return images.astype(np.float32), chosen
