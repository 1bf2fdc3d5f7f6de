import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage
from support.data import synthetic_digits

from digits.augment import AugmentConfig, augment_batch
from digits.dataset import to_model_input

IMAGES = tf.constant(to_model_input(synthetic_digits(16, seed=4)[0]))
NONE = AugmentConfig(rotation_degrees=0, scale=0, shift_pixels=0, stroke=0, blur=0)


def _seed(value: int) -> tf.Tensor:
    return tf.constant([7, value], tf.int64)


def test_no_distortion_leaves_the_images_as_they_are() -> None:
    out = augment_batch(IMAGES, _seed(0), NONE).numpy()
    np.testing.assert_allclose(out, IMAGES.numpy(), atol=1e-6)


def test_the_same_seed_gives_the_same_batch_and_another_seed_another() -> None:
    config = AugmentConfig()
    first = augment_batch(IMAGES, _seed(1), config).numpy()
    np.testing.assert_array_equal(first, augment_batch(IMAGES, _seed(1), config).numpy())
    assert not np.allclose(first, augment_batch(IMAGES, _seed(2), config).numpy())
    assert first.shape == IMAGES.shape and first.min() >= 0 and first.max() <= 1


def test_every_image_gets_its_own_distortion() -> None:
    same = tf.repeat(IMAGES[:1], 8, axis=0)
    out = augment_batch(same, _seed(3), AugmentConfig()).numpy()
    assert len({out[i].tobytes() for i in range(8)}) == 8


def test_shift_moves_the_centre_of_mass_by_at_most_the_limit() -> None:
    config = AugmentConfig(rotation_degrees=0, scale=0, shift_pixels=3, stroke=0, blur=0)
    out = augment_batch(IMAGES, _seed(4), config).numpy()
    moves = [
        np.subtract(ndimage.center_of_mass(after[..., 0]), ndimage.center_of_mass(before[..., 0]))
        for before, after in zip(IMAGES.numpy(), out, strict=True)
    ]
    assert np.abs(moves).max() <= 3.3 and np.abs(moves).max() > 1


def test_pen_changes_make_strokes_thicker_and_thinner() -> None:
    config = AugmentConfig(rotation_degrees=0, scale=0, shift_pixels=0, stroke=1, blur=0)
    ratios = augment_batch(IMAGES, _seed(5), config).numpy().sum(
        axis=(1, 2, 3)
    ) / IMAGES.numpy().sum(axis=(1, 2, 3))
    assert ratios.min() < 0.9 and ratios.max() > 1.1


@pytest.mark.parametrize("bad", [{"scale": 1.0}, {"stroke": 1.5}, {"blur": -0.1}])
def test_bad_amounts_are_value_errors(bad: dict) -> None:
    with pytest.raises(ValueError):
        AugmentConfig(**bad)
