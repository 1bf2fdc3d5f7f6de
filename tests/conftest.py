"""Shared fixtures: small generated MNIST-format data and loopback HTTP mirrors."""

import contextlib
import gzip
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest
import yaml

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


# --- the whole pipeline, run once per test session --------------------------------------------

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run(
    command: list[str], cwd: Path, env: dict, check: bool = True
) -> subprocess.CompletedProcess:
    """Run a command; on failure show its output in the test report."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def copy_project(target: Path) -> None:
    """Copy the files git knows about (committed or not yet), as a fresh clone would have them."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@dataclass(frozen=True)
class Project:
    """A reproduced copy of the project: its root, the environment it ran in, dvc's output."""

    path: Path
    env: dict
    log: str

    @property
    def bentoml_home(self) -> Path:
        return Path(self.env["BENTOML_HOME"])


@contextlib.contextmanager
def reproduced_project(root: Path, **extra_env: str) -> Iterator[Project]:
    """The project copied into a new git repository under `root` and reproduced with
    `dvc repro`: small generated data from a loopback mirror, the seed preset for 1 epoch, its
    own BentoML home and (unless `extra_env` names another) its own MLflow store."""
    hashes = write_mnist_files(root / "mirror", train_count=600, test_count=200)
    project = root / "project"
    copy_project(project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["download"]["files"] = hashes
    params["preprocess"]["validation_size"] = 100
    params["train"]["preset"] = "seed"  # the tutorials' CNN: seconds on this small data
    params["train"]["presets"]["seed"].update(epochs=1, batch_size=32)
    params["evaluate"].update(wild_per_style=25, non_digits=20)
    params["evaluate"]["min_accuracy"] = 0.5
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (project / "dvc.lock").unlink(missing_ok=True)

    server = MirrorServer()
    server.routes["mnist"] = serve_directory(root / "mirror")
    server.thread.start()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLFLOW_", "MNIST_", "DVC_", "BENTOML_"))
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        MNIST_MIRROR=server.url("mnist"),
        BENTOML_HOME=str(root / "bentoml"),
        BENTOML_DO_NOT_TRACK="True",
        GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.com",
        **extra_env,
    )  # fmt: skip
    run(["git", "init", "-q", "-b", "main"], project, env)
    run(["git", "add", "-A"], project, env)
    run(["git", "commit", "-q", "-m", "pipeline under test"], project, env)
    try:
        result = run(["dvc", "repro"], project, env)
        yield Project(project, env, result.stdout + result.stderr)
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture(scope="session")
def pipeline_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The project reproduced once for the session, with its own SQLite MLflow store. Tests
    only read it; a test that changes a project works on `own_project`."""
    with reproduced_project(tmp_path_factory.mktemp("pipeline")) as project:
        yield project


def copied(project: Project, target: Path) -> Project:
    """A copy of a reproduced project (git, DVC cache, MLflow store and all) at `target`."""
    shutil.copytree(project.path, target, symlinks=True)
    return Project(target, project.env, project.log)


@pytest.fixture
def own_project(pipeline_project: Project, tmp_path: Path) -> Project:
    """The reproduced project copied for one test that changes it (commits, experiments,
    reruns), so that no test depends on another's order."""
    return copied(pipeline_project, tmp_path / "project")


# --- the packaged bento, served for real ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening_on(port: int) -> psutil.Process:
    """The process psutil names as the owner of the socket listening on `port` (one,
    even when several processes share the socket, as BentoML's workers do)."""
    [pid] = {
        connection.pid
        for connection in psutil.net_connections("tcp")
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
    }
    return psutil.Process(pid)


def wait_ready(
    url: str, process: subprocess.Popen, timeout: float = 240, path: str = "/readyz"
) -> None:
    """Poll `path` until it answers 200; fail early if the server process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode} before it was ready")
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} not ready after {timeout} s")


@contextlib.contextmanager
def serving(bento: Path, workdir: Path, env: dict) -> Iterator[str]:
    """An exported .bento imported into an empty BentoML home under `workdir` and served with
    `bentoml serve` on 127.0.0.1 from there; yields its URL, stops it afterwards."""
    env = dict(env, BENTOML_HOME=str(workdir / "bentoml"))
    env.pop("PYTHONPATH", None)
    tag = json.loads(bento.with_name("bento.json").read_text())["bento_tag"]
    run(["bentoml", "import", str(bento.resolve())], workdir, env)
    port = free_port()
    command = ["bentoml", "serve", tag, "--host", "127.0.0.1", "--port", str(port)]
    with running(command, workdir, env, f"http://127.0.0.1:{port}", "/readyz") as url:
        yield url


@contextlib.contextmanager
def running(command: list[str], cwd: Path, env: dict, url: str, ready_path: str) -> Iterator[str]:
    """A server process, logged to cwd/server.log, yielded once `ready_path` answers 200; the
    process group is stopped afterwards."""
    log = (cwd / "server.log").open("w")
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_ready(url, process, path=ready_path)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):  # unless the test killed it already
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="session")
def served_bento(
    pipeline_project: Project, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The exported .bento served from a directory without the project, with its own BentoML
    home: what a deployment machine does. Yields its URL."""
    bento = pipeline_project.path / "dist/digits.bento"
    with serving(bento, tmp_path_factory.mktemp("deploy"), pipeline_project.env) as url:
        yield url
