"""Reading a whole written number from image bytes: the service's /read, and what the evaluate
stage scores numbers with.

The glyphs that digits.segmentation finds go through the model in one batched call. A glyph
wide enough to be two touching digits that the model does not read as one digit (it learnt
that two digits are not one: digits.compose) is tried cut in two at each candidate column: the
pieces of every such glyph go through the model in a second call. The cuts are ranked by the
policy's CutRanking of what each shows (cut_features); the first is taken when both its pieces
read as surer digits than the whole.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from digits.images import MAX_PIXELS, BlankImageError, Ink, Prepared, frame_ink, prepared, read_ink
from digits.policy import CutRanking, Policy
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
TINY = 1e-12  # the least probability taken a logarithm of
Classify = Callable[[np.ndarray], np.ndarray]
Cut = tuple[int, Glyph, Glyph]  # the column of the glyph's box cut at, and the two pieces


@dataclass
class NumberReading:
    """One image's number: the JSON answer, and what the model saw of each digit (the log)."""

    answer: dict
    status: int = 200  # 400 or 415 for an unreadable image
    digits: list[Prepared] = field(default_factory=list)


def cuts(glyph: Glyph) -> list[Cut]:
    """The glyph cut in two at each candidate column."""
    return [(column, *cut(glyph, column)) for column in candidate_cuts(glyph)]


def cut_features(glyph: Glyph, tried: Cut, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """What a cut shows, in CutRanking's order, from its pieces' probabilities `left`, `right`."""
    column, left_piece, right_piece = tried
    first, second = np.sort(np.stack([left, right]), axis=1)[:, :-3:-1].T
    first, second = np.log(np.maximum(first, TINY)), np.log(np.maximum(second, TINY))
    return np.array([
        first.min(),
        (first - second).sum(),
        glyph.mask[:, column].sum() / glyph.height,
        abs(np.log(left_piece.width / right_piece.width)),
    ])  # fmt: skip


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
    """Read the glyphs in one call; try cutting the wide ones the model does not read as one
    digit, their pieces in one more call; keep each glyph's likeliest reading."""
    height = digit_height(glyphs)
    shown = {id(glyph): frame(read.ink, glyph) for glyph in glyphs}
    read_as = dict(zip(shown, classify(np.stack(list(shown.values()))), strict=True))
    tried = {
        id(glyph): cuts(glyph)
        for glyph in glyphs
        if may_be_touching(glyph, height) and read_as[id(glyph)].max() < policy.one_digit_above
    }
    pieces = {id(piece): piece for found in tried.values() for _, *pair in found for piece in pair}
    if pieces:
        shown |= {key: frame(read.ink, piece) for key, piece in pieces.items()}
        read_as |= dict(
            zip(pieces, classify(np.stack([shown[key] for key in pieces])), strict=True)
        )

    digits, seen, ambiguous = [], [], False
    for glyph in glyphs:
        chosen: tuple[Glyph, ...] = (glyph,)
        if tried.get(id(glyph)):
            pair, close = _likeliest_cut(glyph, tried[id(glyph)], read_as, policy.cut_ranking)
            chosen, ambiguous = pair or chosen, ambiguous or close
        for piece in chosen:
            given = answer(read_as[id(piece)], policy)
            given.pop("probabilities")
            digits.append({**given, "box": box(piece, read.scale)})
            seen.append(prepared(read, shown[id(piece)], piece.area / read.ink.size))
    return NumberReading(_number(digits, ambiguous), digits=seen)


def _likeliest_cut(
    glyph: Glyph, found: list[Cut], read_as: dict[int, np.ndarray], ranking: CutRanking
) -> tuple[tuple[Glyph, Glyph] | None, bool]:
    """The pieces to read a glyph by (None: read it whole), and whether the other reading was
    nearly as sure. The cut ranked first is taken when both its pieces are surer digits than
    the whole glyph (the rules were chosen on validation numbers: docs/numbers.md)."""
    _, left, right = max(
        found,
        key=lambda tried: ranking.score(
            cut_features(glyph, tried, read_as[id(tried[1])], read_as[id(tried[2])])
        ),
    )
    split = min(float(read_as[id(left)].max()), float(read_as[id(right)].max()))
    whole = float(read_as[id(glyph)].max())
    close = bool(abs(np.log(split) - np.log(whole)) < np.log(1 / AMBIGUOUS_RATIO))
    return ((left, right) if split > whole else None), close


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
