"""The tests' pytest fixtures; the plain helpers they are built on are in tests/support/."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.data import write_mnist_files
from support.mirror import MirrorServer
from support.processes import serving
from support.project import Project, copied, reproduced_project


@pytest.fixture
def mnist_dir(tmp_path: Path) -> tuple[Path, dict]:
    """A directory mirror with small generated MNIST files, and their sha256 by name."""
    directory = tmp_path / "mirror"
    return directory, write_mnist_files(directory)


@pytest.fixture
def mirror_server() -> Iterator[MirrorServer]:
    """A loopback HTTP mirror server with no routes yet; a test adds the mirrors it needs."""
    with MirrorServer() as server:
        yield server


@pytest.fixture(scope="session")
def pipeline_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The project reproduced once for the session, with its own SQLite MLflow store. Tests
    only read it; a test that changes a project works on `own_project`."""
    with reproduced_project(tmp_path_factory.mktemp("pipeline")) as project:
        yield project


@pytest.fixture
def own_project(pipeline_project: Project, tmp_path: Path) -> Project:
    """The reproduced project copied for one test that changes it (commits, experiments,
    reruns), so that no test depends on another's order."""
    return copied(pipeline_project, tmp_path / "project")


@pytest.fixture(scope="session")
def served_bento(
    pipeline_project: Project, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The exported .bento served from a directory without the project, with its own BentoML
    home: what a deployment machine does. Yields its URL."""
    bento = pipeline_project.path / "dist/digits.bento"
    env = dict(pipeline_project.env, DIGITS_PREDICTION_LOG=str(served_log(tmp_path_factory)))
    with serving(bento, tmp_path_factory.mktemp("deploy"), env) as url:
        yield url


def served_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The prediction log of `served_bento`."""
    return tmp_path_factory.getbasetemp() / "served_predictions.db"


@pytest.fixture(scope="session")
def served_bento_log(served_bento: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite prediction log that `served_bento` writes."""
    return served_log(tmp_path_factory)
