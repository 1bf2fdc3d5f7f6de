import io

import numpy as np
import pytest
from PIL import Image
from support.data import synthetic_digits

from digits.images import BlankImageError, to_mnist
from digits.non_digits import HELD_OUT, TRAINED
from digits.wild import NOTHING, STYLES, make_non_digit_set, make_wild_set

DIGITS = synthetic_digits(4, seed=2)[0].astype(np.float32) / 255.0
FORMATS = {"canvas": {"PNG"}, "chalk": {"JPEG"}, "ink_photo": {"JPEG"}, "scan": {"PNG", "JPEG"},
           "low_resolution": {"PNG", "JPEG"}, "upscaled": {"JPEG"}, "blurred": {"JPEG"},
           "pen_width": {"PNG"}, "slanted": {"JPEG"}}  # fmt: skip


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((pixels * 255).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_every_style_makes_a_readable_image_of_varied_size() -> None:
    samples = make_wild_set(DIGITS, per_style=4, seed=0)
    assert [style for style, _, _ in samples] == [s for s in STYLES for _ in range(4)]
    sizes = set()
    for style, index, data in samples:
        image = Image.open(io.BytesIO(data))
        sizes.add(image.size)
        assert image.format in FORMATS[style], (style, image.format)
        if style == "canvas":
            assert image.mode == "RGBA" and np.asarray(image)[..., 3].min() == 0
        assert 0 <= index < len(DIGITS)
        # Read back by the service's preprocessing, it still looks like the digit it was made from.
        source = to_mnist(png(DIGITS[index])).pixels
        assert similarity(to_mnist(data).pixels, source) > 0.6, (style, index)
    assert len(sizes) > 8


def test_each_style_draws_its_own_digits_while_there_are_enough() -> None:
    many = synthetic_digits(4 * len(STYLES) + 1, seed=3)[0].astype(np.float32) / 255.0
    samples = make_wild_set(many, per_style=4, seed=0)
    assert len({index for _, index, _ in samples}) == len(samples)
    few = make_wild_set(many[:10], per_style=4, seed=0)  # too few: digits come round again
    assert len(few) == 4 * len(STYLES)
    assert {index for _, index, _ in few} == set(range(10))


def test_the_same_seed_makes_the_same_set() -> None:
    assert make_wild_set(DIGITS, 2, seed=5) == make_wild_set(DIGITS, 2, seed=5)
    assert make_wild_set(DIGITS, 2, seed=5) != make_wild_set(DIGITS, 2, seed=6)


def test_non_digit_set_holds_every_kind_and_photos_of_nothing() -> None:
    samples = make_non_digit_set(3, seed=3)
    kinds = (*TRAINED, *HELD_OUT, NOTHING)
    assert [kind for kind, _, _ in samples] == [kind for kind in kinds for _ in range(3)]
    assert len({style for _, style, _ in samples}) > 1
    for kind, _, data in samples:
        if kind != NOTHING:
            assert to_mnist(data).pixels.max() > 0.5  # a drawing is read like a digit
        else:
            with pytest.raises(BlankImageError):  # nothing stands out: no digit to name
                to_mnist(data)
    assert make_non_digit_set(3, seed=3) == samples
