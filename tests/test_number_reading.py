"""Reading whole numbers: segmentation of drawn strokes, and read_number's answers."""

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digits.compose import compose_number, touching_pairs
from digits.images import read_ink
from digits.number_reading import MAX_DIGITS, WORK_SIDE, read_number
from digits.policy import Policy
from digits.segmentation import candidate_cuts, cut, glyphs_of, union
from digits.wild import NUMBER_STYLES, make_number_set

POLICY = Policy(0.6, 0.6)
PEN = 9


def page(strokes: list[list[tuple[int, int]]], size: tuple[int, int] = (400, 160)) -> bytes:
    """Dark pen strokes (polylines) on white paper, PNG."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    for line in strokes:
        draw.line(line, fill=0, width=PEN, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def one(left: int) -> list[tuple[int, int]]:
    return [(left, 30), (left, 130)]


def seven(left: int) -> list[tuple[int, int]]:
    return [(left, 30), (left + 50, 30), (left + 15, 130)]


def five_with_a_loose_bar(left: int) -> list[list[tuple[int, int]]]:
    bar = [(left + 8, 30), (left + 50, 30)]  # not touching the body
    body = [(left, 44), (left, 75), (left + 45, 80), (left + 45, 125), (left, 128)]
    return [bar, body]


def ink_of(data: bytes) -> np.ndarray:
    return read_ink(data, work_side=WORK_SIDE).ink


def test_digits_apart_are_found_left_to_right_and_specks_dropped() -> None:
    specks = [[(x, y), (x + 1, y)] for x, y in ((30, 20), (200, 145), (380, 60))]
    data = page([seven(260), one(60), seven(140), *specks])
    glyphs = glyphs_of(ink_of(data))
    assert len(glyphs) == 3
    lefts = [g.left for g in glyphs]
    assert lefts == sorted(lefts)
    assert all(g.height > 0.8 * max(h.height for h in glyphs) for g in glyphs)


def test_the_loose_bar_of_a_five_is_part_of_it() -> None:
    data = page([*five_with_a_loose_bar(60), *five_with_a_loose_bar(200)])
    glyphs = glyphs_of(ink_of(data))
    assert len(glyphs) == 2  # not four parts
    assert all(g.height > 0.8 * glyphs[0].height for g in glyphs)


def test_touching_digits_are_cut_where_they_meet() -> None:
    data = page([seven(100), seven(152)])  # the first 7's bar runs into the second
    [glyph] = glyphs_of(ink_of(data))
    scale = 400 / ink_of(data).shape[1]
    meeting = 152 / scale - glyph.left  # where they meet, in the glyph's box
    columns = candidate_cuts(glyph)
    assert min(abs(column - meeting) for column in columns) < 0.1 * glyph.width
    left, right = cut(glyph, min(columns, key=lambda column: abs(column - meeting)))
    assert right.left > left.left and left.area + right.area <= glyph.area
    assert union([left, right]).area <= glyph.area


class BoxReader:
    """A stand-in classifier for the reading logic: sure of a 1 in frames whose ink is no
    wider than tall (one digit in MNIST's framing), and for wider ones (two digits framed
    together) unsure of every digit, as the model trained on touching pairs is."""

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        self.calls = getattr(self, "calls", 0) + 1
        self.frames = len(frames)
        columns = (frames > 0.3).any(axis=1).sum(axis=1)
        probabilities = np.full((len(frames), 10), 0.1)
        one = columns <= 16
        probabilities[one] = 0.01 / 9
        probabilities[one, 1] = 0.99
        return probabilities


def test_read_number_answers_each_digit_with_its_box_in_upload_pixels() -> None:
    reader = BoxReader()
    data = page([one(60), one(140), one(220), one(300)], size=(800, 160))
    answer = read_number(reader, data, POLICY).answer
    assert answer["number"] == "1111" and answer["uncertain"] is False
    single = read_number(BoxReader(), page([one(200)]), POLICY).answer
    assert single["number"] == "1" and len(single["digits"]) == 1
    assert reader.calls == 1  # all its digits in one batched call
    for digit, left in zip(answer["digits"], (60, 140, 220, 300), strict=True):
        x, y, width, height = digit["box"]
        assert abs(x + width / 2 - left) <= 6 and 20 <= y <= 30 and 95 <= height <= 115


def test_a_wide_glyph_that_reads_better_cut_is_read_as_two_digits() -> None:
    reader = BoxReader()
    answer = read_number(reader, page([seven(100), seven(152)]), POLICY).answer
    assert answer["number"] == "11"
    json.dumps(answer)  # plain Python values only: the service sends it as it is
    assert reader.calls == 2 and reader.frames > 2  # the glyph, then its candidate cuts
    [first, second] = answer["digits"]
    assert first["box"][0] + first["box"][2] <= second["box"][0] + 12


def test_blank_unreadable_and_crowded_images_are_answered_clearly() -> None:
    reader = BoxReader()
    blank = read_number(reader, page([]), POLICY)
    assert blank.answer["number"] is None and blank.answer["why"] == "no_digit"
    junk = read_number(reader, b"not an image", POLICY)
    assert junk.status == 415 and "not a supported image" in junk.answer["error"]
    many = [one(x) for x in range(20, 20 + 40 * (MAX_DIGITS + 2), 40)]
    crowded = read_number(reader, page(many, size=(40 * (MAX_DIGITS + 3), 160)), POLICY)
    assert crowded.answer["number"] is None and crowded.answer["why"] == "too_many_marks"


def test_numbers_are_composed_with_touching_pairs_that_really_touch() -> None:
    rng = np.random.default_rng(3)
    digit = np.zeros((28, 28), np.float32)
    digit[4:24, 8:20] = 1.0  # a block: any two touch once slid together
    touching = None
    while touching is None:
        touching = compose_number([digit, digit, digit], rng, touching=1)
    mask = touching > 0.5
    columns = np.flatnonzero(mask.any(axis=0))
    gaps = np.flatnonzero(np.diff(columns) > 1)
    assert len(gaps) == 1  # the first digit stands apart, the other two are one run of ink


@pytest.mark.parametrize("style", list(NUMBER_STYLES))
def test_number_styles_are_images_the_reader_reads(style: str) -> None:
    images = np.zeros((6, 28, 28), np.float32)
    images[:, 4:24, 12:16] = 1.0  # ones
    samples = make_number_set(images, np.ones(6, int), 10, seed=1, touching=False)
    chosen = [data for name, _, data in samples if name == style]
    assert chosen
    for data in chosen:
        assert read_number(BoxReader(), data, POLICY).status == 200


def test_touching_pairs_for_training_are_two_digits_in_one_frame() -> None:
    digits = np.zeros((4, 28, 28, 1), np.float32)
    digits[:, 6:22, 7:21] = 1.0  # blocks, 14 pixels wide and 16 high
    frames = touching_pairs(digits, 3, seed=0)
    assert frames.shape == (3, 28, 28) and frames.min() >= 0 and frames.max() <= 1
    for framed in frames:
        columns = np.flatnonzero(framed.max(axis=0) > 0.5)
        rows = np.flatnonzero(framed.max(axis=1) > 0.5)
        assert len(columns) > len(rows)  # wider than tall: two blocks side by side, framed
