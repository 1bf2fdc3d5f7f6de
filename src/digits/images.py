"""Turning a user's image of a digit (photo, scan, canvas drawing) into an MNIST-style input.

MNIST digits are light strokes on black, size-normalised into a 20x20 box keeping the aspect
ratio and centred by centre of mass in a 28x28 frame. User images come in any format, size,
orientation, polarity and lighting; `to_mnist` applies the same normalisation to them.
"""

import functools
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from digits.errors import DigitsError
from digits.mnist import FRAME_SIDE

FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "ICO")
MAX_PIXELS = 40_000_000  # decoded size limit: refuses decompression bombs before decoding
WORK_SIDE = 200  # images are reduced to at most this side before the pixel work
BOX_SIDE = 20  # MNIST: digit fitted into 20x20, centred by mass in FRAME_SIDE
MIN_CONTRAST = 0.08  # below this the image holds no visible digit
TARGET_STROKE = 2.2  # MNIST stroke width in pixels of the 20x20 box


class ImageError(DigitsError, ValueError):
    """The bytes are not an image we can read; the message says why."""


class UnsupportedFormatError(ImageError):
    """The bytes are not in any image format we read."""


class BlankImageError(ImageError):
    """The image decodes but shows nothing that could be a digit."""


@dataclass(frozen=True)
class Prepared:
    """An MNIST-style image, float32 (28, 28) in [0, 1], and how it was read."""

    pixels: np.ndarray
    inverted: bool  # the input was dark-on-light
    format: str  # the decoded format, e.g. "PNG"
    width: int  # of the upright image, in pixels
    height: int
    ink: float  # share of the image covered by the digit's strokes


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # upright; JPEGs decoded at a reduced scale
    format: str
    width: int  # as uploaded
    height: int


def decode(data: bytes, max_pixels: int = MAX_PIXELS, work_side: int = WORK_SIDE) -> Decoded:
    """Decode image bytes (first frame of animations), upright per EXIF, without alpha loss;
    JPEGs at the smallest scale that keeps `work_side` pixels."""
    if not data:
        raise ImageError("the upload is empty")
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        width, height = image.size
        if width * height > max_pixels:
            raise ImageError(
                f"the image is {width}x{height} = {width * height} pixels, over the limit of"
                f" {max_pixels}"
            )
        if width < 1 or height < 1:
            raise ImageError(f"the image has no pixels ({width}x{height})")
        image.seek(0)
        # libjpeg decodes JPEGs at a reduced scale, colour ones as their luma alone: the grey
        # we want, for less work than decoding colour (docs/serving.md).
        if image.format == "JPEG":
            image.draft("L", (work_side, work_side))
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
        upright = ImageOps.exif_transpose(image) or image
        return Decoded(upright, image.format, width, height)
    except ImageError:
        raise
    except UnidentifiedImageError as error:
        claimed = signature_format(data)
        if claimed:  # the signature of a format we read, but Pillow cannot parse its header
            raise ImageError(
                f"the {claimed} image is corrupt (its header cannot be read)"
            ) from error
        message = f"not a supported image (expected one of {', '.join(FORMATS)})"
        raise UnsupportedFormatError(message) from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"the image is too large to decode safely ({error})") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"the image is corrupt or truncated ({error})") from error


def signature_format(data: bytes) -> str | None:
    """Which supported format the leading bytes claim to be (Pillow's own signature checks)."""
    Image.init()
    for name in FORMATS:
        accept = Image.OPEN[name][1]
        if accept and accept(data[:16]):
            return name
    return None


def pixel_count(data: bytes) -> int:
    """Width x height as the image's header declares it, without decoding; 0 if unreadable."""
    try:
        width, height = Image.open(io.BytesIO(data), formats=FORMATS).size
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return 0
    return width * height


def luminance_and_alpha(
    image: Image.Image, work_side: int = WORK_SIDE
) -> tuple[np.ndarray, np.ndarray]:
    """Grey levels and opacity, both float32 in [0, 1], at most `work_side` on the longer side."""
    if image.mode in ("I", "F") or image.mode.startswith("I;"):  # 16-bit and float images
        values = np.nan_to_num(np.asarray(image, dtype=np.float32))
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / max(high - low, 1e-6) * 255.0
        image = Image.fromarray(scaled.astype(np.uint8), mode="L")
    if image.mode in ("L", "RGB", "CMYK", "YCbCr"):  # opaque: Pillow's own luma (ITU-R 601-2)
        image = image.convert("L")
        image.thumbnail((work_side, work_side), Image.Resampling.BOX)
        grey = np.asarray(image, dtype=np.float32) / 255.0
        return grey, np.ones_like(grey)
    image = image.convert("RGBA")  # palette, LA, transparency...: resizing respects alpha
    image.thumbnail((work_side, work_side), Image.Resampling.BOX)
    rgba = np.asarray(image, dtype=np.float32) / 255.0
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return grey, rgba[..., 3]


def composite(grey: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Flatten transparency onto the background that contrasts with the opaque strokes.

    A canvas export is strokes on fully transparent pixels whose colour is meaningless (often
    black, like dark strokes): compositing on a fixed colour would erase one polarity.
    """
    if alpha.min() >= 1.0:
        return grey
    opaque = alpha > 0.5
    strokes_are_dark = not opaque.any() or float(np.median(grey[opaque])) < 0.5
    background = 1.0 if strokes_are_dark else 0.0
    return grey * alpha + background * (1.0 - alpha)


def quantile(values: np.ndarray, q: float) -> float:
    """The value at fraction q of the sorted values (no interpolation), by one partial sort:
    np.median and np.percentile cost several times more on the small arrays used here."""
    flat = values.ravel()
    k = round(q * (flat.size - 1))
    return float(np.partition(flat, k)[k])


SURFACE_DEGREE = 3  # of the polynomial lighting surface: a gradient times a vignette is cubic
SURFACE_TERMS = [
    (i, j) for i in range(SURFACE_DEGREE + 1) for j in range(SURFACE_DEGREE + 1 - i)
]  # x^i y^j with i + j <= degree
_RIDGE = 1e-9 * np.eye(len(SURFACE_TERMS))  # keeps the normal equations solvable


@functools.lru_cache(maxsize=64)
def _powers(size: int) -> np.ndarray:
    """(size, degree + 1): a grid over [-1, 1] raised to the powers 0..degree."""
    grid = np.linspace(-1, 1, size, dtype=np.float32)
    return grid[:, None] ** np.arange(SURFACE_DEGREE + 1, dtype=np.float32)


@functools.lru_cache(maxsize=64)  # reduced copies come in few sizes: build each grid once
def _surface_terms(height: int, width: int) -> np.ndarray:
    """The polynomial terms at every pixel, (pixels, terms), for the least-squares fit."""
    rows, columns = _powers(height), _powers(width)
    terms = np.stack([np.outer(rows[:, i], columns[:, j]).ravel() for i, j in SURFACE_TERMS], 1)
    return terms.astype(np.float64)


def _surface(coefficients: np.ndarray, height: int, width: int) -> np.ndarray:
    """The fitted surface at full size, as rows^i @ C @ columns^j: no per-pixel term arrays."""
    matrix = np.zeros((SURFACE_DEGREE + 1, SURFACE_DEGREE + 1), np.float32)
    for (i, j), coefficient in zip(SURFACE_TERMS, coefficients, strict=True):
        matrix[i, j] = coefficient
    return _powers(height) @ matrix @ _powers(width).T


def flatten_lighting(grey: np.ndarray) -> np.ndarray:
    """The image minus its background: a smooth cubic surface fitted to the background pixels.

    The fit runs on a reduced copy and drops the pixels far from the surface (strokes, light or
    dark) a few times over. A smooth surface follows a vignette or a shadow's gradient to the
    corners, where a morphological estimate leaves rims that pass for strokes.
    """
    height, width = grey.shape
    factor = max(1, min(height, width) // 24)
    small = np.asarray(Image.fromarray(grey, mode="F").reduce(factor), dtype=np.float32)
    values = small.ravel()
    level = quantile(values, 0.5)
    if min(small.shape) < 8:  # too few rows or columns to see a gradient: a flat level
        return grey - level
    terms = _surface_terms(*small.shape)
    distance = np.abs(values - level)
    background = distance <= quantile(distance, 0.6)
    for _ in range(4):
        chosen = terms[background]  # least squares by the normal equations: 10x10, in float64
        coefficients = np.linalg.solve(chosen.T @ chosen + _RIDGE, chosen.T @ values[background])
        residual = values - terms @ coefficients
        spread = 1.4826 * quantile(np.abs(residual[background]), 0.5) + 0.01
        background = np.abs(residual) < 2.5 * spread
    fitted = terms @ coefficients
    if float(fitted.max() - fitted.min()) < 0.1:  # even lighting: a flat level is safer
        return grey - quantile(values[background], 0.5)
    return grey - _surface(coefficients, height, width)


def strokes_are_dark(flat: np.ndarray) -> bool:
    """Polarity: whether the pixels standing out from the flattened background are darker.

    Strokes are the few pixels far from the background level; noise is symmetric around it.
    """
    spread = 1.4826 * quantile(np.abs(flat[::2, ::2]), 0.5) + 0.01  # a quarter is plenty
    light = np.clip(flat - 3 * spread, 0.0, None).sum()
    dark = np.clip(-flat - 3 * spread, 0.0, None).sum()
    return bool(dark > light)


def otsu_threshold(values: np.ndarray, bins: int = 64) -> float:
    """The threshold that best separates two classes of values (Otsu's method)."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return low
    which = np.minimum(((values.ravel() - low) * (bins / (high - low))).astype(np.intp), bins - 1)
    histogram = np.bincount(which, minlength=bins)  # np.histogram's bins, without its sorting
    centres = low + (np.arange(bins) + 0.5) * ((high - low) / bins)
    weight_low = np.cumsum(histogram)
    weight_high = weight_low[-1] - weight_low
    mass_low = np.cumsum(histogram * centres)
    mean_low = mass_low / np.maximum(weight_low, 1)
    mean_high = (mass_low[-1] - mass_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centres[int(np.argmax(between))])


def stroke_mask(ink: np.ndarray) -> np.ndarray:
    """Pixels of strokes: above Otsu's threshold (and the least contrast a stroke has)."""
    return ink > max(otsu_threshold(ink), MIN_CONTRAST)


def digit_mask(ink: np.ndarray) -> np.ndarray:
    """Pixels of the digit: strokes, in components big enough not to be noise."""
    mask = stroke_mask(ink)
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))  # diagonal neighbours too
    if count > 1:
        areas = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
        keep = np.flatnonzero(areas >= 0.04 * areas.max()) + 1
        mask = np.isin(labels, keep)
    return mask


def _cross(mask: np.ndarray, grow: bool) -> np.ndarray:
    """Binary dilation (grow) or erosion by the 3x3 cross, outside the image counted as empty:
    ndimage.binary_dilation/erosion with their defaults, as four shifted in-place combinations."""
    combine = np.logical_or if grow else np.logical_and
    out = mask.copy()
    combine(out[1:], mask[:-1], out=out[1:])
    combine(out[:-1], mask[1:], out=out[:-1])
    combine(out[:, 1:], mask[:, :-1], out=out[:, 1:])
    combine(out[:, :-1], mask[:, 1:], out=out[:, :-1])
    if not grow:  # border pixels have an empty neighbour outside
        out[[0, -1], :] = False
        out[:, [0, -1]] = False
    return out


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels: area over half the perimeter of the strokes."""
    edge = mask & ~_cross(mask, grow=False)
    return 2.0 * float(mask.sum()) / max(float(edge.sum()), 1.0)


def fit_box(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Crop to the digit, normalise stroke width, scale into BOX_SIDE keeping the aspect ratio."""
    # One pixel around the strokes keeps their anti-aliased edges, as MNIST's 20x20 box does.
    around = _cross(mask, grow=True) & (ink > 0.02)
    rows, columns = np.flatnonzero(around.any(axis=1)), np.flatnonzero(around.any(axis=0))
    crop = slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1)
    digit = np.where(around, ink, 0.0)[crop]
    digit = digit / max(quantile(digit[mask[crop]], 0.9), 1e-6)
    scale = BOX_SIDE / max(digit.shape)
    thin_by = TARGET_STROKE / max(stroke_width(mask[crop]) * scale, 1e-6)
    if thin_by > 1.4:  # strokes would come out hairline: thicken them before shrinking
        digit = ndimage.grey_dilation(digit, size=round(thin_by))
    height = max(1, round(digit.shape[0] * scale))
    width = max(1, round(digit.shape[1] * scale))
    resized = Image.fromarray(np.clip(digit, 0, 1).astype(np.float32), mode="F").resize(
        (width, height), Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BILINEAR
    )
    return np.clip(np.asarray(resized), 0.0, 1.0)


def centre_by_mass(box: np.ndarray) -> np.ndarray:
    """Place the box in the 28x28 frame with its centre of mass at the frame's centre."""
    frame = np.zeros((FRAME_SIDE, FRAME_SIDE), dtype=np.float32)
    centre_row, centre_column = ndimage.center_of_mass(box)
    top = round(FRAME_SIDE / 2 - centre_row)
    left = round(FRAME_SIDE / 2 - centre_column)
    top = min(max(top, 0), FRAME_SIDE - box.shape[0])
    left = min(max(left, 0), FRAME_SIDE - box.shape[1])
    frame[top : top + box.shape[0], left : left + box.shape[1]] = box
    return frame


@dataclass(frozen=True)
class Ink:
    """An image's strokes as light on black, float32 in [0, 1], at most `work_side` pixels on
    the longer side, and how it was read."""

    ink: np.ndarray
    inverted: bool  # the input was dark-on-light
    decoded: Decoded

    @property
    def scale(self) -> float:
        """Uploaded pixels per pixel of `ink` (by the longer sides: EXIF may turn the image)."""
        return max(self.decoded.width, self.decoded.height) / max(self.ink.shape)


def read_ink(data: bytes, max_pixels: int = MAX_PIXELS, work_side: int = WORK_SIDE) -> Ink:
    """Image bytes -> the strokes standing out from the background, whatever the polarity,
    transparency and lighting. Raises ImageError for bytes that are not a readable image and
    BlankImageError when nothing stands out."""
    decoded = decode(data, max_pixels, work_side)
    grey, alpha = luminance_and_alpha(decoded.image, work_side)
    flat = flatten_lighting(composite(grey, alpha))
    inverted = strokes_are_dark(flat)
    ink = np.clip(-flat if inverted else flat, 0.0, None)
    if float(ink.max()) < MIN_CONTRAST:
        raise BlankImageError("no digit found: the image is blank or has almost no contrast")
    return Ink(ink, inverted, decoded)


def to_mnist(data: bytes, max_pixels: int = MAX_PIXELS) -> Prepared:
    """Image bytes -> MNIST-style float32 (28, 28) in [0, 1], light digit on black.

    Raises ImageError for bytes that are not a readable image and BlankImageError when no
    digit stands out from the background.
    """
    read = read_ink(data, max_pixels)
    mask = digit_mask(read.ink)
    if not mask.any():
        raise BlankImageError("no digit found: nothing stands out from the background")
    return prepared(read, frame_ink(read.ink, mask), float(mask.mean()))


def prepared(read: Ink, pixels: np.ndarray, ink_share: float) -> Prepared:
    """The Prepared record of a frame made from `read`."""
    decoded = read.decoded
    return Prepared(pixels, read.inverted, decoded.format, decoded.width, decoded.height, ink_share)


def frame_ink(ink: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Light strokes on black, any size -> the 28x28 float32 frame the model reads: the
    strokes fitted into the 20x20 box and centred by mass (`mask`: which pixels are strokes)."""
    mask = digit_mask(ink) if mask is None else mask
    return centre_by_mass(fit_box(ink, mask)).astype(np.float32)


def to_png(pixels: np.ndarray) -> bytes:
    """A float image in [0, 1] (what the model saw) as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8), "L").save(buffer, "PNG")
    return buffer.getvalue()
