"""Fuzzing decode + preprocessing with mutated images: every input gives a 28x28 image or an
ImageError (a 4xx in the service), never another exception.

Brief in CI; longer on demand: `make fuzz` (FUZZ_EXAMPLES=20000).
"""

import io
import os
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from digits.images import FORMATS, ImageError, to_mnist

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 300))
MODES = {"PNG": ["L", "RGB", "RGBA", "P", "LA", "I;16"], "JPEG": ["L", "RGB", "CMYK"],
         "GIF": ["P", "L"], "BMP": ["RGB", "L"], "WEBP": ["RGB", "RGBA"],
         "TIFF": ["L", "RGB", "F", "I;16"], "ICO": ["RGBA"]}  # fmt: skip


def seed_image(fmt: str, mode: str, width: int, height: int) -> bytes:
    """A small valid file with a dark stroke on light ground, to be mutated."""
    image = Image.new("L", (width, height), 220)
    ImageDraw.Draw(image).line([(1, 1), (width - 2, height - 2)], fill=10, width=2)
    if mode == "F":
        image = Image.fromarray(np.asarray(image, np.float32) / 255.0)
    elif mode == "I;16":
        image = Image.fromarray(np.asarray(image, np.uint16) * 257)
    else:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    fmt = draw(st.sampled_from(FORMATS))
    mode = draw(st.sampled_from(MODES[fmt]))
    data = bytearray(seed_image(fmt, mode, draw(st.integers(3, 48)), draw(st.integers(3, 48))))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "repeat"]))
        if kind == "flip" and position < len(data):
            data[position] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 16))]
        elif kind == "repeat":  # duplicated chunks and markers
            data[position:position] = data[position : position + draw(st.integers(1, 64))]
    return bytes(data)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
@settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=10),  # a hang shows up as a deadline failure
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_images())
def test_mutated_images_give_a_digit_image_or_an_image_error(data: bytes) -> None:
    try:
        pixels = to_mnist(data, max_pixels=4_000_000).pixels
    except ImageError:
        return
    assert pixels.shape == (28, 28) and pixels.dtype == np.float32
    assert np.isfinite(pixels).all() and pixels.min() >= 0.0 and pixels.max() <= 1.0
