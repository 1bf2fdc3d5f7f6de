"""Numbers written with MNIST digits: side by side with uneven gaps, sizes and baselines and a
slight slope, two of them touching when asked. The evaluate stage writes test digits so
(digits.wild renders them as photos, scans...); training writes pairs of training digits
touching, to teach the model that two digits are not one (outlier exposure, as for
non-digits), and the digits cut out of such pairs where they meet, to teach it to read the
pieces of a right cut, strokes of the neighbour included."""

import numpy as np
from PIL import Image

from digits.images import frame_ink


def _cropped(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The digit cut to its strokes and resized by up to 15% either way."""
    rows, columns = np.flatnonzero(digit.max(axis=1) > 0.1), np.flatnonzero(digit.max(axis=0) > 0.1)
    crop = digit[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    scale = rng.uniform(0.85, 1.15)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    image = Image.fromarray(crop.astype(np.float32), mode="F").resize(
        size, Image.Resampling.BILINEAR
    )
    return np.clip(np.asarray(image), 0, 1)


MAX_OVERLAP = 0.3  # of touching digits' boxes, as a share of the narrower one's width


def _touching_offset(left: np.ndarray, left_top: int, right: np.ndarray, right_top: int) -> int:
    """Where the right digit's box starts, relative to the left one's, for their strokes to
    meet: slid in from the right, the first row where its first stroke pixel lands on the left
    one's last."""
    closest = None
    for row in range(max(left_top, right_top), min(left_top + len(left), right_top + len(right))):
        left_ink = np.flatnonzero(left[row - left_top] > 0.5)
        right_ink = np.flatnonzero(right[row - right_top] > 0.5)
        if len(left_ink) and len(right_ink):
            start = int(left_ink[-1] - right_ink[0])
            closest = start if closest is None else max(closest, start)
    return left.shape[1] if closest is None else closest


def _top(glyph: np.ndarray, rng: np.random.Generator) -> int:
    """Where a digit's box starts: on a common baseline, give or take 8% of the height."""
    return round(24 - glyph.shape[0] + rng.uniform(-1.6, 1.6))


def _touching_start(
    left: np.ndarray, left_top: int, right: np.ndarray, right_top: int, rng: np.random.Generator
) -> int | None:
    """Where the right digit's box starts, relative to the left one's, for their strokes to
    overlap by 1 or 2 pixels where they come closest; None when they would touch only with
    their boxes overlapping by more than MAX_OVERLAP of the narrower one (one inside the
    other)."""
    start = _touching_offset(left, left_top, right, right_top) - int(rng.integers(1, 3))
    narrower = min(left.shape[1], right.shape[1])
    return None if left.shape[1] - start > MAX_OVERLAP * narrower else start


def _drawn(glyphs: list[np.ndarray], tops: list[int], lefts: list[int]) -> np.ndarray:
    """The glyphs drawn at their places (lefts from 0), light on black."""
    top = min(tops)
    height = max(t + g.shape[0] for t, g in zip(tops, glyphs, strict=True)) - top
    width = max(left + g.shape[1] for left, g in zip(lefts, glyphs, strict=True))
    ink = np.zeros((height, width), np.float32)
    for glyph, row, column in zip(glyphs, tops, lefts, strict=True):
        placed = ink[row - top : row - top + glyph.shape[0], column : column + glyph.shape[1]]
        np.maximum(placed, glyph, out=placed)
    return ink


def compose_number(
    digits: list[np.ndarray], rng: np.random.Generator, touching: int | None = None
) -> np.ndarray | None:
    """28x28 digits written side by side as one number, light on black at MNIST's scale: sizes
    up to 15% apart, baselines up to 8% of the height apart, uneven gaps (10 to 60% of a digit's
    height), a slight slope; the digits `touching` and `touching + 1` overlap by 1 or 2 pixels
    where they come closest; None when they could touch only written one inside the other."""
    glyphs = [_cropped(digit, rng) for digit in digits]
    tops = [_top(glyph, rng) for glyph in glyphs]
    lefts = [0]
    for index in range(1, len(glyphs)):
        before = lefts[-1]
        if index - 1 == touching:
            start = _touching_start(
                glyphs[index - 1], tops[index - 1], glyphs[index], tops[index], rng
            )
            if start is None:
                return None
            lefts.append(before + start)
        else:
            lefts.append(before + glyphs[index - 1].shape[1] + round(rng.uniform(2, 12)))
    shift = -min(lefts)  # a touching digit may reach left of the first
    ink = _drawn(glyphs, tops, [left + shift for left in lefts])
    sloped = Image.fromarray(ink, mode="F").rotate(
        float(rng.uniform(-4, 4)), resample=Image.Resampling.BILINEAR, expand=True
    )
    return np.clip(np.asarray(sloped), 0, 1)


def touching_pairs(images: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` 28x28 frames, each two of `images` written touching and framed as the service
    frames one glyph (digits.images.frame_ink): what /read must learn to cut."""
    rng = np.random.default_rng(seed)
    frames = np.empty((count, 28, 28), np.float32)
    for index in range(count):
        pair = None
        while pair is None:
            chosen = rng.choice(len(images), size=2, replace=False)
            pair = compose_number([images[i].reshape(28, 28) for i in chosen], rng, touching=0)
        frames[index] = frame_ink(pair)
    return frames


def touching_pieces(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """`count` 28x28 frames of digits cut out of touching pairs of `images` halfway across
    where their boxes overlap, framed as the service frames a piece, and their labels: what a
    right cut of /read shows the model, a stub of the neighbour included."""
    rng = np.random.default_rng(seed)
    frames, digits = [], []
    while len(frames) < count:
        chosen = rng.choice(len(images), size=2, replace=False)
        left, right = (_cropped(images[i].reshape(28, 28), rng) for i in chosen)
        left_top, right_top = _top(left, rng), _top(right, rng)
        start = _touching_start(left, left_top, right, right_top, rng)
        if start is None:
            continue
        lefts = [max(0, -start), max(0, start)]
        ink = _drawn([left, right], [left_top, right_top], lefts)
        ends = (lefts[0] + left.shape[1], lefts[1] + right.shape[1])
        column = (max(lefts) + min(ends) + 1) // 2
        pieces = (ink[:, :column], ink[:, column:])
        for piece, label in zip(pieces, labels[chosen], strict=True):
            if piece.max() > 0.5 and len(frames) < count:
                frames.append(frame_ink(np.pad(piece, 2)))  # some background, as in a photo
                digits.append(int(label))
    return np.stack(frames), np.array(digits, np.int64)
