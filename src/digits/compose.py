"""Numbers written with MNIST digits: side by side with uneven gaps, sizes and baselines and a
slight slope, two of them touching when asked. The evaluate stage writes test digits so
(digits.wild renders them as photos, scans...); training writes pairs of training digits
touching, to teach the model that two digits are not one (outlier exposure, as for
non-digits)."""

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


def compose_number(
    digits: list[np.ndarray], rng: np.random.Generator, touching: int | None = None
) -> np.ndarray | None:
    """28x28 digits written side by side as one number, light on black at MNIST's scale: sizes
    up to 15% apart, baselines up to 8% of the height apart, uneven gaps (10 to 60% of a digit's
    height), a slight slope; the digits `touching` and `touching + 1` overlap by 1 or 2 pixels
    where they come closest; None when they would touch only with their boxes overlapping by
    more than MAX_OVERLAP of the narrower one (one written inside the other)."""
    glyphs = [_cropped(digit, rng) for digit in digits]
    tops = [round(24 - g.shape[0] + rng.uniform(-1.6, 1.6)) for g in glyphs]
    lefts = [0]
    for index in range(1, len(glyphs)):
        before = lefts[-1]
        if index - 1 == touching:
            meet = _touching_offset(glyphs[index - 1], tops[index - 1], glyphs[index], tops[index])
            lefts.append(before + meet - int(rng.integers(1, 3)))
            narrower = min(glyphs[index - 1].shape[1], glyphs[index].shape[1])
            if before + glyphs[index - 1].shape[1] - lefts[-1] > MAX_OVERLAP * narrower:
                return None  # they would touch only written one inside the other
        else:
            lefts.append(before + glyphs[index - 1].shape[1] + round(rng.uniform(2, 12)))
    top, shift = min(tops), -min(lefts)  # a touching digit may reach left of the first
    lefts = [left + shift for left in lefts]
    height = max(t + g.shape[0] for t, g in zip(tops, glyphs, strict=True)) - top
    width = max(left + g.shape[1] for left, g in zip(lefts, glyphs, strict=True))
    ink = np.zeros((height, width), np.float32)
    for glyph, row, column in zip(glyphs, tops, lefts, strict=True):
        placed = ink[row - top : row - top + glyph.shape[0], column : column + glyph.shape[1]]
        np.maximum(placed, glyph, out=placed)
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
