"""The project itself under test: copied into a new git repository and reproduced with
`dvc repro` on small generated data, and copies of such a reproduced project."""

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from support.data import write_mnist_files
from support.mirror import MirrorServer, serve_directory
from support.processes import run

PROJECT_ROOT = Path(__file__).resolve().parents[2]


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
    params["evaluate"].update(wild_per_style=10, non_digits_per_kind=3, numbers_per_group=4)
    params["evaluate"]["min_accuracy"] = 0.5
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (project / "dvc.lock").unlink(missing_ok=True)

    with MirrorServer() as server:
        server.routes["mnist"] = serve_directory(root / "mirror")
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
        result = run(["dvc", "repro"], project, env)
        yield Project(project, env, result.stdout + result.stderr)


def copied(project: Project, target: Path) -> Project:
    """A copy of a reproduced project (git, DVC cache, MLflow store and all) at `target`."""
    shutil.copytree(project.path, target, symlinks=True)
    return Project(target, project.env, project.log)
