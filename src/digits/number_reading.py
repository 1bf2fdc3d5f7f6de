"""Reading a whole written number from image bytes: the service's /read, and what the evaluate
stage scores numbers with.

The digits are found by digits.segmentation; a glyph wide enough to be touching digits is also
tried cut in two at each candidate column, and the classifier chooses: every candidate goes
through the model in one batched call, and the reading whose pieces the model is surest of wins.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from digits.images import MAX_PIXELS, BlankImageError, Ink, Prepared, frame_ink, prepared, read_ink
from digits.policy import Policy
from digits.segmentation import (
    Glyph,
    candidate_cuts,
    cut,
    digit_height,
    glyphs_of,
    may_be_touching,
)
from digits.serving import UnreadableImage, answer, read_image_with

WORK_SIDE = 400  # numbers are read at up to this many pixels on the longer side
MAX_DIGITS = 16  # more separate marks than this are not one number
# Cut or not is ambiguous when the reading that loses is at least this sure in comparison: the
# answer is then flagged uncertain.
AMBIGUOUS_RATIO = 0.95
ALWAYS_CUT = 1.4  # a glyph wider than this share of the digits' height is read as two
Classify = Callable[[np.ndarray], np.ndarray]


@dataclass
class NumberReading:
    """One image's number: the JSON answer, and what the model saw of each digit (the log)."""

    answer: dict
    status: int = 200  # 400 or 415 for an unreadable image
    digits: list[Prepared] = field(default_factory=list)


@dataclass(frozen=True)
class Option:
    """One way of reading a glyph: as these pieces, each a digit."""

    pieces: tuple[Glyph, ...]


def options(glyph: Glyph, height: float) -> list[Option]:
    """The glyph as one digit, and, when it is wide enough to be two touching digits, cut in
    two at each candidate column."""
    found = [Option((glyph,))]
    if may_be_touching(glyph, height):
        found += [Option(cut(glyph, column)) for column in candidate_cuts(glyph)]
    return found


def frame(ink: np.ndarray, glyph: Glyph) -> np.ndarray:
    """The 28x28 frame the model reads for one glyph: its strokes only, fitted and centred."""
    return frame_ink(glyph.crop(ink), glyph.mask)


def box(glyph: Glyph, scale: float) -> list[int]:
    """[x, y, width, height] of the glyph in the uploaded image's pixels."""
    return [round(glyph.left * scale), round(glyph.top * scale),
            max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))]  # fmt: skip


def no_number(reason: str, why: str = "no_digit") -> dict:
    return {"number": None, "digits": [], "uncertain": True, "why": why, "reason": reason}


def read_number(
    classify: Classify, data: bytes, policy: Policy, max_pixels: int = MAX_PIXELS
) -> NumberReading:
    """Image bytes -> the number written in it, each digit with its box and confidence; the
    answer of /read. Unreadable bytes: {"error"} and the status that says why."""
    try:
        read = read_image_with(read_ink, data, max_pixels, WORK_SIDE)
    except BlankImageError as blank:
        return NumberReading(no_number(str(blank)))
    except UnreadableImage as failure:
        return NumberReading({"error": str(failure)}, failure.status)
    glyphs = glyphs_of(read.ink)
    if not glyphs:
        return NumberReading(no_number("no digit found: nothing stands out from the background"))
    if len(glyphs) > MAX_DIGITS:
        reason = f"{len(glyphs)} separate marks: more than the {MAX_DIGITS} digits of one number"
        return NumberReading(no_number(reason, "too_many_marks"))
    return choose(classify, read, glyphs, policy)


def choose(classify: Classify, read: Ink, glyphs: list[Glyph], policy: Policy) -> NumberReading:
    """Classify every candidate piece in one call, keep each glyph's likeliest reading."""
    height = digit_height(glyphs)
    per_glyph = [options(glyph, height) for glyph in glyphs]
    pieces = [piece for found in per_glyph for option in found for piece in option.pieces]
    frames = np.stack([frame(read.ink, piece) for piece in pieces])
    probabilities = dict(zip(map(id, pieces), classify(frames), strict=True))
    framed = dict(zip(map(id, pieces), frames, strict=True))

    digits, seen, ambiguous = [], [], False
    for glyph, found in zip(glyphs, per_glyph, strict=True):
        best, close = _likeliest(glyph, height, found, probabilities)
        ambiguous |= close
        for piece in best.pieces:
            given = answer(probabilities[id(piece)], policy)
            given.pop("probabilities")
            digits.append({**given, "box": box(piece, read.scale)})
            seen.append(prepared(read, framed[id(piece)], piece.area / read.ink.size))
    return NumberReading(_number(digits, ambiguous), digits=seen)


def _likeliest(
    glyph: Glyph, height: float, found: list[Option], probabilities: dict[int, np.ndarray]
) -> tuple[Option, bool]:
    """A glyph's reading, and whether the other way of reading it was nearly as likely.

    The likeliest cut is the one whose pieces' probabilities have the largest product. The
    widest glyphs are always cut (single digits are seldom that wide); narrower ones only
    when both pieces are surer digits than the whole glyph (rules chosen on validation
    numbers: docs/numbers.md)."""
    if len(found) == 1:
        return found[0], False
    sure = {id(p): float(probabilities[id(p)].max()) for option in found for p in option.pieces}
    whole = sure[id(glyph)]
    best = max(found[1:], key=lambda option: float(np.prod([sure[id(p)] for p in option.pieces])))
    split = min(sure[id(p)] for p in best.pieces)
    if glyph.width > ALWAYS_CUT * max(glyph.height, height):
        return best, False
    chosen = best if split > whole else found[0]
    return chosen, abs(np.log(split) - np.log(whole)) < np.log(1 / AMBIGUOUS_RATIO)


def _number(digits: list[dict], ambiguous: bool) -> dict:
    """The answer of /read from its digits, left to right."""
    result = {"number": "".join(str(d["digit"]) for d in digits), "digits": digits}
    unsure = [d for d in digits if d["uncertain"]]
    result["uncertain"] = bool(unsure) or ambiguous
    if unsure:
        result["why"] = unsure[0]["why"]
        result["reason"] = f"digit {digits.index(unsure[0]) + 1}: {unsure[0]['reason']}"
    elif ambiguous:
        result["why"] = "ambiguous_cut"
        result["reason"] = "the digits touch and could be cut more than one way"
    return result
