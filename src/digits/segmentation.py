"""Finding the digits of a written number: the strokes' connected parts, specks dropped, parts of
one digit merged (the bar of a 5, a broken 4), left to right; and the candidate cuts of a part
that may hold touching digits, for the classifier to choose from (digits.number_reading).

Everything here works on the light-on-black `ink` of digits.images.read_ink, in its pixels.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from digits.images import stroke_mask

SPECK_AREA = 0.05  # parts under this share of the largest part's area...
SPECK_HEIGHT = 0.4  # ...or under this share of the digits' height are noise, dots or dashes
OVERLAP_TO_MERGE = 0.5  # a short part overlapping another by this share of its width...
PART_HEIGHT = 0.75  # ...short: under this share of the digits' height; they are one digit
ALMOST_ALL = 0.8  # so are parts of any height overlapping by this share of the narrower one
WIDE = 0.7  # a part wider than this share of the digits' height may be touching digits
CUTS = 15  # candidate cuts tried per glyph that may be touching digits
EIGHT_NEIGHBOURS = np.ones((3, 3), bool)


@dataclass(frozen=True)
class Glyph:
    """Strokes that may be one digit: their bounding box in ink pixels and their mask there."""

    top: int
    left: int
    mask: np.ndarray  # bool, the box's size: which pixels of the box are these strokes

    @property
    def bottom(self) -> int:
        return self.top + self.mask.shape[0]

    @property
    def right(self) -> int:
        return self.left + self.mask.shape[1]

    @property
    def height(self) -> int:
        return self.mask.shape[0]

    @property
    def width(self) -> int:
        return self.mask.shape[1]

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    def crop(self, ink: np.ndarray) -> np.ndarray:
        """The ink under the box, other strokes in it included: framing it with `mask` keeps
        these strokes alone (and the one pixel around them)."""
        return ink[self.top : self.bottom, self.left : self.right]


def parts(mask: np.ndarray) -> list[Glyph]:
    """The connected parts of a mask (diagonal neighbours touch), as glyphs."""
    labels, _ = ndimage.label(mask, structure=EIGHT_NEIGHBOURS)
    glyphs = []
    for label, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is not None:
            rows, columns = found
            glyphs.append(Glyph(rows.start, columns.start, labels[found] == label))
    return glyphs


def union(glyphs: list[Glyph]) -> Glyph:
    """One glyph of all the strokes of `glyphs`."""
    top, left = min(g.top for g in glyphs), min(g.left for g in glyphs)
    bottom, right = max(g.bottom for g in glyphs), max(g.right for g in glyphs)
    mask = np.zeros((bottom - top, right - left), bool)
    for g in glyphs:
        mask[g.top - top : g.bottom - top, g.left - left : g.right - left] |= g.mask
    return Glyph(top, left, mask)


def drop_specks(glyphs: list[Glyph]) -> list[Glyph]:
    """The parts big enough to be (part of) a digit: specks of noise or paper texture, dots
    and short dashes go."""
    if not glyphs:
        return []
    largest = max(g.area for g in glyphs)
    kept = [g for g in glyphs if g.area >= SPECK_AREA * largest]
    height = digit_height(kept)
    return [g for g in kept if g.height >= SPECK_HEIGHT * height or _bar_like(g, kept)]


def _bar_like(glyph: Glyph, glyphs: list[Glyph]) -> bool:
    """A short part lying over or under another part (the bar of a 5 or a 7): kept to merge."""
    return any(
        other is not glyph and _overlap(glyph, other) >= OVERLAP_TO_MERGE * glyph.width
        for other in glyphs
    )


def _overlap(a: Glyph, b: Glyph) -> int:
    """Columns shared by the two boxes."""
    return max(0, min(a.right, b.right) - max(a.left, b.left))


def merge_parts(glyphs: list[Glyph]) -> list[Glyph]:
    """Parts of one digit joined, left to right: a part shorter than PART_HEIGHT of the digits
    under or over another (a 5's bar, the halves of a broken 4) by OVERLAP_TO_MERGE of its
    width, or any part almost all under or over another. Whole digits side by side overlap
    less: a 7's bar over the next digit is not enough."""
    height = digit_height(glyphs) if glyphs else 0.0
    merged: list[Glyph] = []
    for glyph in sorted(glyphs, key=lambda g: (g.left, g.top)):
        for index, other in enumerate(merged):
            if _same_digit(glyph, other, height):
                merged[index] = union([other, glyph])
                break
        else:
            merged.append(glyph)
    return sorted(merged, key=lambda g: g.left)


def _same_digit(a: Glyph, b: Glyph, height: float) -> bool:
    narrower = min(a.width, b.width)
    shared = _overlap(a, b)
    if shared >= ALMOST_ALL * narrower:
        return True
    part = a if a.height <= b.height else b
    return part.height < PART_HEIGHT * height and shared >= OVERLAP_TO_MERGE * part.width


def glyphs_of(ink: np.ndarray) -> list[Glyph]:
    """The digits (or runs of touching digits) of a number, left to right."""
    return merge_parts(drop_specks(parts(stroke_mask(ink))))


def digit_height(glyphs: list[Glyph]) -> float:
    """The height of the number's digits: the median of the taller glyphs."""
    tallest = max(g.height for g in glyphs)
    return float(np.median([g.height for g in glyphs if g.height >= 0.5 * tallest]))


def may_be_touching(glyph: Glyph, height: float) -> bool:
    """Wide enough for two digits side by side."""
    return glyph.width > WIDE * max(glyph.height, height)


def cut(glyph: Glyph, column: int) -> tuple[Glyph, Glyph]:
    """The glyph split at `column` (of its box) into left and right, each trimmed to its strokes
    and rid of slivers the cut left of its neighbour."""
    left_of_cut = np.arange(glyph.width)[None, :] < column
    return _trimmed(glyph, glyph.mask & left_of_cut), _trimmed(glyph, glyph.mask & ~left_of_cut)


def _trimmed(glyph: Glyph, mask: np.ndarray) -> Glyph:
    """The strokes of `mask` (the glyph's box) but slivers, in a box of their own."""
    pieces = parts(mask)
    largest = max((p.area for p in pieces), default=0)
    kept = [p for p in pieces if p.area >= 0.15 * largest]
    if not kept:
        return Glyph(glyph.top, glyph.left, mask)
    whole = union(kept)
    return Glyph(glyph.top + whole.top, glyph.left + whole.left, whole.mask)


def candidate_cuts(glyph: Glyph) -> list[int]:
    """Columns of the box where touching digits may meet: the CUTS columns with the least ink
    in the middle 60% of the box (where strokes touch, few pixels are set)."""
    width = glyph.width
    low, high = max(1, round(0.2 * width)), min(width - 1, round(0.8 * width))
    if high <= low:
        return []
    profile = glyph.mask[:, low:high].sum(axis=0).astype(float)
    # prefer the middle among equally thin columns: digits of a pair are alike in width
    middle = np.abs(np.arange(low, high) - width / 2) / width
    order = np.argsort(profile + middle, kind="stable")
    chosen: list[int] = []
    for index in order:
        column = low + int(index)
        if all(abs(column - other) >= max(2, width // 20) for other in chosen):
            chosen.append(column)
        if len(chosen) == CUTS:
            break
    return sorted(chosen)
