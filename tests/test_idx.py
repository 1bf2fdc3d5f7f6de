import gzip
from pathlib import Path

import numpy as np
import pytest
from support.data import idx_bytes

from digits.idx import IdxFormatError, parse_idx, read_images, read_labels, read_pair


def write(path: Path, data: bytes, compress: bool = True) -> Path:
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_reads_valid_images_and_labels(tmp_path: Path) -> None:
    images = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28) % 256
    labels = np.array([0, 9, 4])
    images_path = write(tmp_path / "images.gz", idx_bytes(images))
    labels_path = write(tmp_path / "labels", idx_bytes(labels), compress=False)
    read_back, read_labels_back = read_pair(images_path, labels_path)
    assert read_back.dtype == np.uint8 and read_back.shape == (3, 28, 28)
    np.testing.assert_array_equal(read_back, images)
    np.testing.assert_array_equal(read_labels_back, labels)


def test_truncated_data_is_refused(tmp_path: Path) -> None:
    data = idx_bytes(np.zeros((2, 28, 28)))
    with pytest.raises(IdxFormatError, match=r"truncated.*need 1568 data bytes, found 1000"):
        read_images(write(tmp_path / "images.gz", data[: 16 + 1000]))


def test_truncated_gzip_is_refused(tmp_path: Path) -> None:
    data = gzip.compress(idx_bytes(np.zeros((2, 28, 28))))
    path = tmp_path / "images.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IdxFormatError, match="corrupt or truncated gzip"):
        read_images(path)


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(IdxFormatError, match="trailing bytes"):
        parse_idx(idx_bytes(np.zeros(5)) + b"\0", "labels", expected_ndim=1)


@pytest.mark.parametrize(
    "header",
    [b"\x00\x00\x08\x01", b"\x01\x00\x08\x03", b"\x00\x00\x0d\x03", b"PK\x03\x04"],
    ids=["labels-magic-for-images", "nonzero-prefix", "float-type", "zip-file"],
)
def test_wrong_magic_is_refused(header: bytes) -> None:
    data = header + idx_bytes(np.zeros((1, 28, 28)))[4:]
    with pytest.raises(IdxFormatError, match=r"wrong magic number .* expected 0x00000803"):
        parse_idx(data, "images", expected_ndim=3)


def test_too_short_file_is_refused() -> None:
    with pytest.raises(IdxFormatError, match="too short"):
        parse_idx(b"\x00\x00", "labels", expected_ndim=1)


def test_wrong_image_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IdxFormatError, match="images are 32x32, expected 28x28"):
        read_images(write(tmp_path / "images.gz", idx_bytes(np.zeros((1, 32, 32)))))


def test_labels_out_of_range_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "labels.gz", idx_bytes(np.array([1, 2, 10, 3])))
    with pytest.raises(IdxFormatError, match=r"label 10 at index 2 is out of range 0..9"):
        read_labels(path)


def test_image_and_label_counts_must_match(tmp_path: Path) -> None:
    images = write(tmp_path / "images.gz", idx_bytes(np.zeros((3, 28, 28))))
    labels = write(tmp_path / "labels.gz", idx_bytes(np.array([1, 2])))
    with pytest.raises(IdxFormatError, match=r"has 3 images but labels.gz has 2 labels"):
        read_pair(images, labels)
