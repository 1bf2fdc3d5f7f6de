"""Small generated MNIST-format data: learnable fake digits and their gzipped IDX files."""

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np

FILE_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def synthetic_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable fake digits: class k is a bright bar at a class-specific place, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count, dtype=np.uint8) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 40, size=(count, 28, 28), dtype=np.uint8)
    for image, label in zip(images, labels, strict=True):
        row = 3 + 2 * int(label)
        image[row : row + 3, 4:24] = 255
    return images, labels


def write_mnist_files(directory: Path, train_count: int = 600, test_count: int = 200) -> dict:
    """Write the four gzipped IDX files; return {file name: sha256}."""
    directory.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = synthetic_digits(train_count, seed=1)
    test_images, test_labels = synthetic_digits(test_count, seed=2)
    arrays = {
        FILE_NAMES["train_images"]: train_images,
        FILE_NAMES["train_labels"]: train_labels,
        FILE_NAMES["test_images"]: test_images,
        FILE_NAMES["test_labels"]: test_labels,
    }
    hashes = {}
    for name, array in arrays.items():
        data = gzip.compress(idx_bytes(array), mtime=0)
        (directory / name).write_bytes(data)
        hashes[name] = hashlib.sha256(data).hexdigest()
    return hashes
