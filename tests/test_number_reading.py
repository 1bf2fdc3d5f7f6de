"""Reading whole numbers: segmentation of drawn strokes, and read_number's answers."""

import json

import numpy as np
import pytest
from support.writing import BoxReader, five_with_a_loose_bar, one, page, seven

from digits.compose import compose_number, touching_pairs, touching_pieces
from digits.images import read_ink
from digits.number_reading import MAX_DIGITS, WORK_SIDE, cut_features, cuts, read_number
from digits.policy import CutRanking, Policy
from digits.segmentation import candidate_cuts, cut, glyphs_of, union
from digits.wild import NUMBER_STYLES, make_number_set

POLICY = Policy(0.6, 0.6)


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


def test_what_a_cut_shows_is_measured_on_its_pieces() -> None:
    [glyph] = glyphs_of(ink_of(page([seven(100), seven(152)])))
    tried = cuts(glyph)[0]
    column, left, right = tried
    sure, torn = np.full(10, 0.01), np.full(10, 0.01)
    sure[1], torn[2], torn[3] = 0.91, 0.46, 0.45
    features = cut_features(glyph, tried, sure, torn)
    assert features[0] == pytest.approx(np.log(0.46))  # the less sure piece
    assert features[1] == pytest.approx(np.log(0.91 / 0.01) + np.log(0.46 / 0.45))
    assert features[2] == pytest.approx(glyph.mask[:, column].sum() / glyph.height)
    assert features[3] == pytest.approx(abs(np.log(left.width / right.width)))


def test_the_policy_ranking_chooses_among_equally_sure_cuts() -> None:
    data = page([seven(100), seven(152)])  # every cut into narrow pieces reads 1 at 0.99
    widths = {}
    for name, weight in (("even", -5.0), ("uneven", 5.0)):
        policy = Policy(0.6, 0.6, cut_ranking=CutRanking(uneven_widths=weight))
        answer = read_number(BoxReader(), data, policy).answer
        assert answer["number"] == "11"
        widths[name] = [digit["box"][2] for digit in answer["digits"]]
    ratio = {name: max(w) / min(w) for name, w in widths.items()}
    assert ratio["even"] < ratio["uneven"]


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
    chosen = [sample.data for sample in samples if sample.style == style]
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


def test_pieces_of_touching_pairs_for_training_are_one_digit_each_with_its_label() -> None:
    digits = np.zeros((4, 28, 28, 1), np.float32)
    digits[:2, 4:24, 4:24] = 1.0  # "zeros": blocks 20 pixels wide and high
    digits[2:, 4:24, 10:17] = 1.0  # "ones": bars 7 pixels wide
    labels = np.array([0, 0, 1, 1])
    frames, wanted = touching_pieces(digits, labels, 9, seed=0)
    assert frames.shape == (9, 28, 28) and wanted.shape == (9,)
    assert set(wanted.tolist()) == {0, 1} and frames.min() >= 0 and frames.max() <= 1
    for framed, label in zip(frames, wanted, strict=True):
        rows = np.flatnonzero(framed.max(axis=1) > 0.5)
        columns = np.flatnonzero(framed.max(axis=0) > 0.5)
        assert (len(columns) < 0.6 * len(rows)) == (label == 1)  # each piece is its own shape
