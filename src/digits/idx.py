"""Strict reading of the IDX format that MNIST ships in (optionally gzip-compressed)."""

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from digits.errors import DigitsError
from digits.mnist import FRAME_SIDE, NUM_CLASSES

UNSIGNED_BYTE = 0x08


class IdxFormatError(DigitsError, ValueError):
    """The file is not a well-formed IDX file of the expected kind."""


def read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it is gzip-compressed."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise IdxFormatError(f"{path.name}: corrupt or truncated gzip data ({error})") from error


def parse_idx(data: bytes, source: str, expected_ndim: int) -> np.ndarray:
    """Parse IDX bytes into an unsigned-byte array, checking magic, dimensions and length."""
    if len(data) < 4:
        raise IdxFormatError(f"{source}: {len(data)} bytes is too short for an IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    expected_magic = (UNSIGNED_BYTE << 8) | expected_ndim
    if zero != 0 or dtype_code != UNSIGNED_BYTE or ndim != expected_ndim:
        raise IdxFormatError(
            f"{source}: wrong magic number 0x{int.from_bytes(data[:4], 'big'):08x},"
            f" expected 0x{expected_magic:08x} (unsigned bytes, {expected_ndim} dimensions)"
        )
    header_bytes = 4 + 4 * ndim
    if len(data) < header_bytes:
        raise IdxFormatError(f"{source}: truncated in the header ({len(data)} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header_bytes])
    expected_bytes = int(np.prod(shape, dtype=np.int64))
    found_bytes = len(data) - header_bytes
    if found_bytes != expected_bytes:
        problem = "truncated" if found_bytes < expected_bytes else "has trailing bytes"
        raise IdxFormatError(
            f"{source}: {problem}: dimensions {shape} need {expected_bytes} data bytes,"
            f" found {found_bytes}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_bytes).reshape(shape)


def read_images(path: Path) -> np.ndarray:
    """MNIST images as uint8 of shape (N, 28, 28)."""
    images = parse_idx(read_bytes(path), path.name, expected_ndim=3)
    if images.shape[1:] != (FRAME_SIDE, FRAME_SIDE):
        raise IdxFormatError(
            f"{path.name}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28"
        )
    return images


def read_labels(path: Path) -> np.ndarray:
    """MNIST labels as uint8 of shape (N,), each in 0..9."""
    labels = parse_idx(read_bytes(path), path.name, expected_ndim=1)
    if labels.size and labels.max() >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise IdxFormatError(
            f"{path.name}: label {labels[bad]} at index {bad} is out of range 0..{NUM_CLASSES - 1}"
        )
    return labels


def read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and their labels, checked to be the same count."""
    images, labels = read_images(images_path), read_labels(labels_path)
    if len(images) != len(labels):
        raise IdxFormatError(
            f"{images_path.name} has {len(images)} images but {labels_path.name}"
            f" has {len(labels)} labels"
        )
    return images, labels
