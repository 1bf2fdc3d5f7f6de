"""The non-digit drawings: every kind draws something the service would read, the same seed
draws the same set, and training aims them at no digit."""

import numpy as np
import pytest

from digits.errors import ParamsError
from digits.mnist import NOT_A_DIGIT, NUM_CLASSES
from digits.non_digits import DRAWERS, HELD_OUT, TRAINED, make_non_digits, turned_digits
from digits.recipe import TrainConfig, training_batches, with_generated


def test_trained_and_held_out_kinds_are_apart_and_cover_every_drawer() -> None:
    assert not set(TRAINED) & set(HELD_OUT)
    assert set(TRAINED) | set(HELD_OUT) == set(DRAWERS)


@pytest.mark.parametrize("kind", [*TRAINED, *HELD_OUT])
def test_every_kind_is_laid_out_like_a_digit(kind: str) -> None:
    images, kinds = make_non_digits(6, seed=1, kinds=(kind,))
    assert images.shape == (6, 28, 28) and images.dtype == np.float32 and kinds == [kind] * 6
    for image in images:
        assert image.max() > 0.5 and image.min() == 0.0
        rows, columns = np.nonzero(image > 0.05)
        assert rows.max() - rows.min() <= 21 and columns.max() - columns.min() <= 21  # 20x20 box
        assert abs(np.average(np.arange(28), weights=image.sum(axis=1)) - 14) < 1.5  # by mass
    assert len({image.tobytes() for image in images}) == 6  # no two alike


def test_the_same_seed_draws_the_same_set() -> None:
    first, kinds = make_non_digits(12, seed=4)
    again, _ = make_non_digits(12, seed=4)
    other, _ = make_non_digits(12, seed=5)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert kinds == [TRAINED[n % len(TRAINED)] for n in range(12)]  # trained kinds by default


def test_training_adds_the_drawings_aimed_at_no_digit() -> None:
    x, y = np.zeros((4, 28, 28, 1), np.float32), np.array([0, 1, 2, 3], np.uint8)
    config = TrainConfig(epochs=1, batch_size=10, non_digits=6)
    mixed_x, mixed_y = with_generated(x, y, config)
    assert mixed_x.shape == (10, 28, 28, 1) and mixed_x.dtype == np.float32
    assert mixed_y.tolist() == [0, 1, 2, 3, *[NOT_A_DIGIT] * 6]
    assert with_generated(x, y, TrainConfig()) == (x, y)  # none by default

    _, targets = next(iter(training_batches(mixed_x, mixed_y, config)))
    targets = targets.numpy()
    assert np.allclose(targets.sum(axis=1), 1.0)
    digits = targets.max(axis=1) == 1.0
    assert digits.sum() == 4  # one-hot for a digit
    assert np.allclose(targets[~digits], 1 / NUM_CLASSES)  # uniform for a non-digit


def test_training_adds_digits_cut_out_of_touching_pairs_as_those_digits() -> None:
    x = np.zeros((4, 28, 28, 1), np.float32)
    x[:, 4:24, 4:24] = 1.0
    y = np.array([5, 5, 7, 7], np.uint8)
    mixed_x, mixed_y = with_generated(x, y, TrainConfig(touching_pieces=3))
    assert mixed_x.shape == (7, 28, 28, 1) and mixed_x.dtype == np.float32
    assert mixed_y[:4].tolist() == [5, 5, 7, 7] and set(mixed_y[4:].tolist()) <= {5, 7}


def test_digits_are_turned_only_where_that_leaves_no_digit() -> None:
    ones = np.zeros((1, 28, 28, 1), np.float32)
    ones[0, 4:24, 13:15] = 1.0  # a stroke down: a 1
    sevens = np.zeros((1, 28, 28, 1), np.float32)
    sevens[0, 4:6, 8:20], sevens[0, 4:24, 18:20] = 1.0, 1.0  # a bar and a stem on its right
    zeros = np.zeros((1, 28, 28, 1), np.float32)
    zeros[0, 6:22, 10:18] = 1.0
    images = np.concatenate([ones, sevens, zeros])
    turned = turned_digits(images, np.array([1, 7, 0]), 60, seed=3)
    assert turned.shape == (60, 28, 28) and turned.dtype == np.float32
    seen = {image.tobytes() for image in turned}
    dash = np.rot90(ones[0, ..., 0])
    assert dash.tobytes() in seen and np.ptp(np.nonzero(dash)[0]) < 2  # the 1 lies as a dash
    seven = sevens[0, ..., 0]
    for way in (seven[:, ::-1], seven[::-1, :], np.rot90(seven, 2)):
        assert way.tobytes() in seen  # the 7 mirrored, upside down and half turned
    assert ones[0, ..., 0].tobytes() not in seen  # a 1 mirrored or upside down is still a 1
    for zero in (zeros[0, ..., 0], np.rot90(zeros[0, ..., 0]), zeros[0, :, ::-1, 0]):
        assert zero.tobytes() not in seen  # a 0 is never turned

    with pytest.raises(ParamsError, match="other than 0"):
        turned_digits(zeros, np.array([0]), 1, seed=3)  # an error, not an endless search

    x, y = images, np.array([1, 7, 0], np.uint8)
    mixed_x, mixed_y = with_generated(x, y, TrainConfig(turned_digits=4))
    assert mixed_x.shape == (7, 28, 28, 1) and mixed_y.tolist() == [1, 7, 0, *[NOT_A_DIGIT] * 4]
