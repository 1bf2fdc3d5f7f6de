"""Realistic user images made from MNIST digits, to measure the service where people use it.

Each style turns one 28x28 digit (light on dark, floats in [0, 1]) into the encoded bytes of
an image as a user would send it: a phone photo of ink on paper, chalk on a board, a browser
canvas export, a scan. Sizes, positions, pen widths, lighting and compression vary with the
random generator, so a seed gives the same set every time.
"""

import io
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from PIL import Image
from scipy import ndimage

from digits.compose import compose_number
from digits.non_digits import HELD_OUT, TRAINED, non_digit

Style = Callable[[np.ndarray, np.random.Generator], bytes]
NOTHING = "nothing"  # the non-digit kind of an image with nothing on it


def _strokes(digit: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """The digit enlarged to `side` pixels, slightly rotated, with a thinner or thicker pen."""
    image = Image.fromarray((np.clip(digit, 0, 1) * 255).astype(np.uint8))
    image = image.rotate(float(rng.uniform(-12, 12)), resample=Image.Resampling.BICUBIC)
    strokes = np.asarray(image.resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255
    pen = int(rng.integers(-1, 3)) * max(1, side // 80)  # < 0 thinner, > 0 thicker
    if pen > 0:
        strokes = ndimage.grey_dilation(strokes, size=pen + 1)
    elif pen < 0:
        strokes = ndimage.grey_erosion(strokes, size=-pen + 1)
    return np.clip(strokes, 0, 1)


def _place(strokes: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Put the strokes somewhere on an empty canvas of the given size."""
    canvas = np.zeros((height, width), np.float32)
    side = strokes.shape[0]
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    canvas[top : top + side, left : left + side] = strokes
    return canvas


def _layout(digit: np.ndarray, rng: np.random.Generator, sides: tuple[int, int]) -> np.ndarray:
    height, width = (int(v) for v in rng.integers(sides[0], sides[1], size=2))
    side = int(min(height, width) * rng.uniform(0.3, 0.8))
    return _place(_strokes(digit, side, rng), height, width, rng)


def _encode(pixels: np.ndarray, fmt: str, **options: object) -> bytes:
    mode = "RGBA" if pixels.ndim == 3 and pixels.shape[2] == 4 else None
    image = Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8), mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _lighting(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Uneven light: a linear gradient in a random direction times a vignette."""
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * columns / width + np.sin(angle) * rows / height + 1) / 2
    centre = ((rows / height - 0.5) ** 2 + (columns / width - 0.5) ** 2) * 2
    return (rng.uniform(0.55, 0.8) + rng.uniform(0.1, 0.4) * ramp) * (1 - 0.3 * centre)


def ink_photo(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A phone photo of dark ink on paper: tinted paper, uneven light, noise, blur, JPEG."""
    return _photo(_layout(digit, rng, (160, 640)), rng)


def _photo(ink: np.ndarray, rng: np.random.Generator) -> bytes:
    height, width = ink.shape
    paper = _lighting(height, width, rng) * (1 - rng.uniform(0.6, 0.9) * ink)
    tint = rng.uniform(0.85, 1.0, size=3).astype(np.float32)
    photo = paper[..., None] * tint + rng.normal(0, rng.uniform(0.01, 0.05), (height, width, 3))
    photo = ndimage.gaussian_filter(photo, sigma=(rng.uniform(0, 1.2),) * 2 + (0,))
    return _encode(photo, "JPEG", quality=int(rng.integers(35, 92)))


def chalk(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Chalk on a dark board: broken light strokes, board texture and smudges, JPEG."""
    return _chalk(_layout(digit, rng, (160, 560)), rng)


def _chalk(strokes: np.ndarray, rng: np.random.Generator) -> bytes:
    height, width = strokes.shape
    grain = rng.uniform(0.45, 1.0, strokes.shape).astype(np.float32)
    board = 0.12 + 0.08 * _lighting(height, width, rng)
    board += ndimage.gaussian_filter(rng.normal(0, 0.08, strokes.shape), 6)  # smudges
    picture = board + strokes * grain * rng.uniform(0.6, 0.85)
    colour = np.array([0.8, 1.0, 0.85], np.float32) * rng.uniform(0.9, 1.1)
    return _encode(picture[..., None] * colour, "JPEG", quality=int(rng.integers(50, 90)))


def canvas(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A browser canvas export: coloured strokes, alpha only on the strokes, PNG."""
    return _canvas(_layout(digit, rng, (200, 420)), rng)


def _canvas(strokes: np.ndarray, rng: np.random.Generator) -> bytes:
    height, width = strokes.shape
    rgba = np.zeros((height, width, 4), np.float32)
    rgba[..., :3] = rng.uniform(0, 0.35, size=3)  # a dark pen colour, also under transparent pixels
    rgba[..., 3] = np.clip(strokes * 1.3, 0, 1)
    return _encode(rgba, "PNG")


def scan(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A flat-bed scan: a small black-on-white digit on a larger page, PNG or JPEG."""
    return _on_paper(_layout(digit, rng, (300, 900)), rng, str(rng.choice(["PNG", "JPEG"])))


def _on_paper(ink: np.ndarray, rng: np.random.Generator, fmt: str = "PNG") -> bytes:
    """Dark ink on white paper with a little noise: a scan or an export, PNG or JPEG."""
    page = 0.95 - rng.uniform(0.6, 0.9) * ink + rng.normal(0, 0.01, ink.shape)
    if fmt == "PNG":
        return _encode(page, "PNG")
    return _encode(page, "JPEG", quality=int(rng.integers(60, 95)))


def _shrunk(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """The 28x28 frame at 17 to 28 pixels: its digit (20 of 28) then 12 to 20 pixels high, as in
    a scan of a 5 mm digit at 60 to 100 dpi."""
    side = int(rng.integers(17, 29))
    image = Image.fromarray((np.clip(digit, 0, 1) * 255).astype(np.uint8))
    return image.resize((side, side), Image.Resampling.BILINEAR)


def low_resolution(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A scan or screenshot at low resolution: the digit only 12 to 20 pixels high."""
    small = _shrunk(digit, rng)
    side = small.width
    ink = _place(np.asarray(small, np.float32) / 255, side * 3, side * 4, rng)
    return _on_paper(ink, rng, str(rng.choice(["PNG", "JPEG"])))


def upscaled(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A tiny image blown up: a 12 to 20 pixel digit enlarged 6 to 16 times, blocky or smeared."""
    tiny = _shrunk(digit, rng)
    side = tiny.width
    factor = int(rng.integers(6, 17))
    resample = Image.Resampling.NEAREST if rng.random() < 0.5 else Image.Resampling.BILINEAR
    big = tiny.resize((side * factor, side * factor), resample)
    return _on_paper(np.asarray(big, np.float32) / 255, rng, "JPEG")


def blurred(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """An out-of-focus photo: the strokes blurred by 2 to 5% of the digit's size."""
    side = int(rng.integers(120, 320))
    ink = _place(_strokes(digit, side, rng), int(side * 1.4), int(side * 1.6), rng)
    ink = ndimage.gaussian_filter(ink, side * rng.uniform(0.02, 0.05))
    return _on_paper(ink / max(float(ink.max()), 1e-6), rng, "JPEG")


def pen_width(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A hairline pen or a thick marker, on white paper (PNG)."""
    side = int(rng.integers(150, 300))
    strokes = _strokes(digit, side, rng)
    if rng.random() < 0.5:
        strokes = ndimage.grey_erosion(strokes, size=max(2, side // 40))
    else:
        strokes = ndimage.grey_dilation(strokes, size=side // int(rng.integers(14, 22)))
    ink = _place(strokes, int(side * 1.3), int(side * 1.5), rng)
    return _on_paper(np.clip(ink, 0, 1), rng)


def slanted(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Handwriting slanted like italics: sheared by 15 to 25 degrees either way."""
    shear = np.tan(np.radians(rng.uniform(15, 25))) * rng.choice([-1, 1])
    side = int(rng.integers(120, 300))
    strokes = _strokes(digit, side, rng)
    centre = side / 2
    sheared = ndimage.affine_transform(
        strokes, [[1, 0], [shear, 1]], offset=[0, -shear * centre], order=1
    )
    ink = _place(sheared, int(side * 1.3), int(side * 1.5), rng)
    return _on_paper(ink, rng, "JPEG")


STYLES: dict[str, Style] = {
    "ink_photo": ink_photo, "chalk": chalk, "canvas": canvas, "scan": scan,
    "low_resolution": low_resolution, "upscaled": upscaled, "blurred": blurred,
    "pen_width": pen_width, "slanted": slanted,
}  # fmt: skip


def make_wild_set(images: np.ndarray, per_style: int, seed: int) -> list[tuple[str, int, bytes]]:
    """(style, index into `images`, encoded image) for `per_style` digits in every style. Each
    style draws digits of its own while `images` has enough: shared digits would make the set's
    score hang on a few hard ones, each counted once per style."""
    rng = np.random.default_rng(seed)
    per_style = min(per_style, len(images))
    drawn = np.resize(rng.permutation(len(images)), (len(STYLES), per_style))
    return [
        (name, int(index), style(images[index].squeeze(), rng))
        for (name, style), chosen in zip(STYLES.items(), drawn, strict=True)
        for index in chosen
    ]


def make_non_digit_set(
    per_kind: int, seed: int, kinds: tuple[str, ...] = (*TRAINED, *HELD_OUT, NOTHING)
) -> list[tuple[str, str, bytes]]:
    """(kind, style, encoded image) for images that show no digit: `per_kind` drawings of each
    of `kinds` (digits.non_digits: trained and held-out) or of nothing at all (blank paper, an
    empty board or canvas), each in a random realistic style."""
    rng = np.random.default_rng(seed)
    samples = []
    for kind in kinds:
        for _ in range(per_kind):
            shown = np.zeros((28, 28)) if kind == NOTHING else non_digit(kind, rng)
            samples.append((kind, *in_a_random_style(shown, rng)))
    return samples


def in_a_random_style(shown: np.ndarray, rng: np.random.Generator) -> tuple[str, bytes]:
    """A 28x28 image shown in one of STYLES, drawn at random: (style, encoded image)."""
    style = str(rng.choice(list(STYLES)))
    return style, STYLES[style](shown, rng)


def _written(
    number: np.ndarray, rng: np.random.Generator, digit_pixels: tuple[int, int]
) -> np.ndarray:
    """The number enlarged to digits of `digit_pixels` height, with margins around it."""
    factor = rng.uniform(*digit_pixels) / 20
    height, width = (max(1, round(side * factor)) for side in number.shape)
    image = Image.fromarray(number, mode="F").resize((width, height), Image.Resampling.BICUBIC)
    margin = [round(m * 20 * factor) for m in rng.uniform(0.3, 1.2, size=4)]
    page = np.zeros((height + margin[0] + margin[1], width + margin[2] + margin[3]), np.float32)
    page[margin[0] : margin[0] + height, margin[2] : margin[2] + width] = np.asarray(image)
    return np.clip(page, 0, 1)


def _sheared(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Handwriting slanted like italics: sheared by 10 to 20 degrees either way."""
    shear = np.tan(np.radians(rng.uniform(10, 20))) * rng.choice([-1, 1])
    height = ink.shape[0]
    padded = np.pad(ink, ((0, 0), (height // 2, height // 2)))
    return ndimage.affine_transform(
        padded, [[1, 0], [shear, 1]], offset=[0, -shear * height / 2], order=1
    )


NumberStyle = Callable[[np.ndarray, np.random.Generator], bytes]
NUMBER_STYLES: dict[str, NumberStyle] = {
    "ink_photo": lambda number, rng: _photo(_written(number, rng, (30, 110)), rng),
    "chalk": lambda number, rng: _chalk(_written(number, rng, (40, 110)), rng),
    "canvas": lambda number, rng: _canvas(_written(number, rng, (40, 120)), rng),
    "scan": lambda number, rng: _on_paper(
        _written(number, rng, (25, 80)), rng, str(rng.choice(["PNG", "JPEG"]))
    ),
    "slanted": lambda number, rng: _on_paper(
        _sheared(_written(number, rng, (30, 100)), rng), rng, "JPEG"
    ),
}


class NumberSample(NamedTuple):
    style: str
    number: str  # the number written
    data: bytes  # the encoded image
    pair: int | None  # where the touching pair starts (digits `pair` and `pair + 1`)


def make_number_set(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int, touching: bool
) -> list[NumberSample]:
    """`count` numbers of 1 to 6 of `images` (with a touching pair, 2 to 6), in the realistic
    number styles in turn."""
    rng = np.random.default_rng(seed)
    samples = []
    for index in range(count):
        number = None
        while number is None:  # touching pairs that can only touch nested are drawn again
            length = int(rng.integers(2 if touching else 1, 7))
            chosen = rng.choice(len(images), size=length, replace=False)
            pair = int(rng.integers(0, length - 1)) if touching else None
            number = compose_number([images[i].squeeze() for i in chosen], rng, pair)
        style = list(NUMBER_STYLES)[index % len(NUMBER_STYLES)]
        written = "".join(str(int(labels[i])) for i in chosen)
        samples.append(NumberSample(style, written, NUMBER_STYLES[style](number, rng), pair))
    return samples


def number_photo(number: np.ndarray, rng: np.random.Generator, width: int, height: int) -> bytes:
    """A phone photo of exactly `width` x `height` pixels of a number (compose_number), which
    fills 60 to 80% of it."""
    scale = min(width / number.shape[1], height / number.shape[0]) * rng.uniform(0.6, 0.8)
    size = (max(1, round(number.shape[1] * scale)), max(1, round(number.shape[0] * scale)))
    ink = Image.fromarray(number, mode="F").resize(size, Image.Resampling.BICUBIC)
    page = np.zeros((height, width), np.float32)
    top, left = (height - size[1]) // 2, (width - size[0]) // 2
    page[top : top + size[1], left : left + size[0]] = np.clip(np.asarray(ink), 0, 1)
    return _photo(page, rng)
