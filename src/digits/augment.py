"""Random distortions of training batches: how real handwriting and real photos vary.

Every image of a batch gets its own rotation, scale, shift, pen width and blur, drawn from a
stateless generator keyed by (seed, step) so a training run is reproducible.
"""

import math
from dataclasses import dataclass

import tensorflow as tf

from digits.errors import ParamsError


@dataclass(frozen=True)
class AugmentConfig:
    rotation_degrees: float = 10.0  # uniform in +-this
    scale: float = 0.1  # zoom factor uniform in 1 +- this
    shift_pixels: float = 2.0  # uniform in +-this, each axis
    stroke: float = 0.6  # blend of up to this towards a thicker (3x3 max) or thinner (3x3 min) pen
    blur: float = 0.5  # blend of up to this towards a 3x3 box blur

    def __post_init__(self) -> None:
        if min(self.rotation_degrees, self.scale, self.shift_pixels, self.stroke, self.blur) < 0:
            raise ParamsError("augmentation amounts must be >= 0")
        if self.scale >= 1 or self.stroke > 1 or self.blur > 1:
            raise ParamsError("augment scale must be < 1, stroke and blur <= 1")


def _affine(shape: tf.Tensor, seeds: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """Per-image transforms mapping output to input coordinates (ImageProjectiveTransformV3)."""
    count, height, width = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)

    def uniform(index: int, limit: float, size: tuple = ()) -> tf.Tensor:
        return tf.random.stateless_uniform((count, *size), seeds[index], -limit, limit)

    angle = uniform(0, math.radians(config.rotation_degrees))
    zoom = 1.0 + uniform(1, config.scale)
    shift = uniform(2, config.shift_pixels, (2,))
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    # input = A (output - centre - shift) + centre with A the inverse rotation-and-zoom
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    from_x, from_y = centre_x + shift[:, 0], centre_y + shift[:, 1]
    offset_x = centre_x - (cos * from_x + sin * from_y)
    offset_y = centre_y - (-sin * from_x + cos * from_y)
    zeros = tf.zeros_like(angle)
    return tf.stack([cos, sin, offset_x, -sin, cos, offset_y, zeros, zeros], axis=1)


def _blend(images: tf.Tensor, target: tf.Tensor, amount: tf.Tensor) -> tf.Tensor:
    return images + amount[:, None, None, None] * (target - images)


def augment_batch(images: tf.Tensor, seed: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """Distort a (N, 28, 28, 1) float batch; `seed` is a shape-(2,) int tensor."""
    seeds = tf.random.experimental.stateless_split(seed, 5)
    shape = tf.shape(images)
    images = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=_affine(shape, seeds, config),
        output_shape=shape[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    pen = tf.random.stateless_uniform((shape[0],), seeds[3], -config.stroke, config.stroke)
    thicker = tf.nn.max_pool2d(images, 3, 1, "SAME")
    thinner = -tf.nn.max_pool2d(-images, 3, 1, "SAME")
    images = tf.where(
        pen[:, None, None, None] > 0,
        _blend(images, thicker, tf.abs(pen)),
        _blend(images, thinner, tf.abs(pen)),
    )
    blur = tf.random.stateless_uniform((shape[0],), seeds[4], 0.0, config.blur)
    images = _blend(images, tf.nn.avg_pool2d(images, 3, 1, "SAME"), blur)
    return tf.clip_by_value(images, 0.0, 1.0)
