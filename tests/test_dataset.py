from pathlib import Path

import numpy as np
import pytest

from digits.dataset import load_split, save_split, split_stats, stratified_split, to_model_input


def test_model_input_is_float32_in_unit_range_with_a_channel() -> None:
    images = np.array([[[0, 255], [128, 64]]], dtype=np.uint8)
    x = to_model_input(images)
    assert x.shape == (1, 2, 2, 1) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0 and x[0, 1, 0, 0] == pytest.approx(128 / 255)


def test_split_is_stratified_exact_disjoint_and_seeded() -> None:
    labels = np.repeat(np.arange(10), [100, 200, 50, 150, 100, 100, 90, 110, 60, 40])
    train, val = stratified_split(labels, validation_size=100, seed=7)
    assert len(val) == 100 and len(train) + len(val) == len(labels)
    assert not set(train) & set(val)
    expected = np.bincount(labels) / len(labels) * 100
    assert np.all(np.abs(np.bincount(labels[val], minlength=10) - expected) < 1)
    again_train, again_val = stratified_split(labels, validation_size=100, seed=7)
    np.testing.assert_array_equal(val, again_val)
    np.testing.assert_array_equal(train, again_train)
    _, other_val = stratified_split(labels, validation_size=100, seed=8)
    assert not np.array_equal(val, other_val)


@pytest.mark.parametrize("size", [0, 1000, -5])
def test_split_size_must_fit(size: int) -> None:
    with pytest.raises(ValueError, match=r"validation_size must be in 1..999"):
        stratified_split(np.zeros(1000, dtype=np.uint8), validation_size=size, seed=0)


def test_split_round_trip_and_stats(tmp_path: Path) -> None:
    x = to_model_input(np.full((4, 28, 28), 51, dtype=np.uint8))
    y = np.array([0, 1, 1, 9], dtype=np.uint8)
    path = tmp_path / "train.npz"
    save_split(path, x, y)
    x_back, y_back = load_split(path)
    np.testing.assert_array_equal(x_back, x)
    np.testing.assert_array_equal(y_back, y)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.npz"]  # no temporary left
    stats = split_stats(x, y)
    assert stats["size"] == 4
    assert stats["class_counts"] == {"0": 1, "1": 2, **{str(d): 0 for d in range(2, 9)}, "9": 1}
    assert stats["pixel_mean"] == pytest.approx(0.2) and stats["pixel_std"] == pytest.approx(0)


def test_missing_split_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="dvc repro preprocess"):
        load_split(tmp_path / "val.npz")
