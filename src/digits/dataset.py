"""Turning raw MNIST arrays into model-ready splits, and their statistics."""

from pathlib import Path

import numpy as np

from digits.errors import MissingInputError, ParamsError
from digits.files import atomic_path
from digits.mnist import NUM_CLASSES


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def stratified_split(
    labels: np.ndarray, validation_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation) with every class in the same proportion in both parts.

    Each class gets its proportional share of `validation_size`, rounded by largest remainder
    so the total is exact. Both index arrays are sorted, keeping the original order.
    """
    if not 0 < validation_size < len(labels):
        raise ParamsError(f"validation_size must be in 1..{len(labels) - 1}, got {validation_size}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * validation_size / len(labels)
    shares = np.floor(exact).astype(int)
    leftover = validation_size - shares.sum()
    shares[np.argsort(exact - shares, kind="stable")[::-1][:leftover]] += 1
    validation = [
        rng.choice(np.flatnonzero(labels == cls), size=share, replace=False)
        for cls, share in zip(classes, shares, strict=True)
    ]
    val_index = np.sort(np.concatenate(validation))
    train_index = np.setdiff1d(np.arange(len(labels)), val_index)
    return train_index, val_index


def save_split(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write one split as a compressed .npz with arrays `x` and `y`, atomically."""
    with atomic_path(path) as part, part.open("wb") as file:
        np.savez_compressed(file, x=images, y=labels)


def load_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a split written by `save_split`."""
    if not path.exists():
        raise MissingInputError(f"{path} is missing; run `dvc repro preprocess` to create it")
    with np.load(path) as arrays:
        return arrays["x"], arrays["y"]


def split_stats(images: np.ndarray, labels: np.ndarray) -> dict:
    """Size, class counts and pixel mean/std of one split (images as model input)."""
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    return {
        "size": len(labels),
        "class_counts": {str(digit): int(count) for digit, count in enumerate(counts)},
        "pixel_mean": round(float(images.mean(dtype=np.float64)), 6),
        "pixel_std": round(float(images.std(dtype=np.float64)), 6),
    }
