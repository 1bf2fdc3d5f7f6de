"""Shared fixtures: small generated MNIST-format data and loopback HTTP mirrors."""

import gzip
import hashlib
import http.server
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

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


@pytest.fixture
def mnist_dir(tmp_path: Path) -> tuple[Path, dict]:
    """A directory mirror with small generated MNIST files, and their sha256 by name."""
    directory = tmp_path / "mirror"
    return directory, write_mnist_files(directory)


# A route answers a GET for one file name: (status, body) or None to drop the connection.
Route = Callable[[str], tuple[int, bytes] | None]


class MirrorServer:
    """A loopback HTTP server whose first path segment picks a mirror's behaviour."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        routes, requests = self.routes, self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                mirror, _, name = self.path.strip("/").partition("/")
                answer = routes[mirror](name) if mirror in routes else (404, b"no such mirror")
                if answer is None:  # promise a full file, send half of it, hang up
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"x" * 500)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                status, body = answer
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, mirror: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/{mirror}/"


@pytest.fixture
def mirror_server() -> Iterator[MirrorServer]:
    server = MirrorServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def serve_directory(directory: Path) -> Route:
    """A route serving the files of a directory, 404 for others."""

    def route(name: str) -> tuple[int, bytes]:
        path = directory / name
        return (200, path.read_bytes()) if name and path.is_file() else (404, b"not found")

    return route
