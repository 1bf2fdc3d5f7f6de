"""MLflow: where the store is, which experiment, and the run shared by train and evaluate."""

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keras
import mlflow
import numpy as np
import tensorflow as tf
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from digits.files import read_json, write_json
from digits.local_store import ARTIFACTS, follow_checkout
from digits.paths import PROJECT_ROOT, shared_project_root


def default_store() -> Path:
    """The SQLite file of the default store, at the root of the user's checkout."""
    return shared_project_root() / "mlflow.db"


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI if set, else the default store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{default_store()}"


def use_experiment(name: str) -> str:
    """Point MLflow at the store and the named experiment, creating it if needed, and end its
    runs orphaned by killed processes (end_orphaned_runs); return its id.

    With the default store, artifacts go to <checkout>/mlartifacts; MLflow's own default
    (./mlruns at creation time) would land inside a temporary experiment workspace and vanish
    with it. A store copied from another checkout is first made to point into this one.
    """
    local = not os.environ.get("MLFLOW_TRACKING_URI")  # set_tracking_uri sets it
    if local:
        follow_checkout(default_store(), shared_project_root())
    mlflow.set_tracking_uri(tracking_uri())
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        location = (shared_project_root() / ARTIFACTS).as_uri() if local else None
        with contextlib.suppress(MlflowException):  # created meanwhile by a parallel experiment
            mlflow.create_experiment(name, artifact_location=location)
        experiment = mlflow.get_experiment_by_name(name)
    mlflow.set_experiment(experiment_id=experiment.experiment_id)
    end_orphaned_runs(experiment.experiment_id)
    return experiment.experiment_id


OWNER_TAG = "digits.owner"  # host:pid of the process that has the run open
EVALUATION_TAG = "evaluation_digest"  # what the run's scores were measured on (evaluate stage)


@contextlib.contextmanager
def tracked_run(run_id: str | None = None) -> Iterator[mlflow.ActiveRun]:
    """A new MLflow run, or an earlier one resumed by id, owned by this process.

    It ends FINISHED, or FAILED on any error or SIGTERM (see digits.cli). A process killed
    outright cannot end it: its host:pid tag lets the next stage on this host find it still
    RUNNING with its owner gone and end it as FAILED (use_experiment does).
    """
    # The tag goes in with the run itself: set afterwards, a kill in between would leave a
    # RUNNING run that names no owner and so is never ended.
    owner = {OWNER_TAG: f"{socket.gethostname()}:{os.getpid()}"}
    with mlflow.start_run(run_id=run_id, tags=owner) as run:
        yield run


def end_orphaned_runs(experiment_id: str) -> list[str]:
    """End as FAILED the experiment's RUNNING runs whose owner process on this host is gone;
    return their ids."""
    client = MlflowClient()
    running = client.search_runs([experiment_id], "attributes.status = 'RUNNING'")
    host = socket.gethostname()
    ended = []
    for run in running:
        owner_host, _, pid = run.data.tags.get(OWNER_TAG, "").rpartition(":")
        if owner_host == host and pid.isdigit() and not _alive(int(pid)):
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
            ended.append(run.info.run_id)
            print(
                f"MLflow run {run.info.run_id} was left RUNNING by process {pid}, which no"
                " longer exists (killed?): marked FAILED",
                file=sys.stderr,
            )
    return ended


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def git_commit(root: Path = PROJECT_ROOT) -> str:
    """The checked-out commit, with '-dirty' when tracked files have uncommitted changes."""
    try:
        commit = _git(root, "rev-parse", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30
    )
    return result.stdout.strip()


class EpochLogger(keras.callbacks.Callback):
    """Logs each epoch's metrics to the active MLflow run, step = epoch number from 1."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = {key: float(value) for key, value in (logs or {}).items()}
        mlflow.log_metrics(metrics, step=epoch + 1)


def log_keras_model(model: keras.Model, sample: np.ndarray) -> None:
    """Log the model in the keras flavour with a signature inferred from a few inputs."""
    signature = infer_signature(sample, model(sample, training=False).numpy())
    # Stating the requirements skips MLflow's inference, which reloads the model in a
    # subprocess (a TensorFlow start-up per run) to discover what we already know; the
    # time it took is in docs/recipe.md.
    requirements = [f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}"]
    mlflow.keras.log_model(model, name="model", signature=signature, pip_requirements=requirements)


def write_run_file(path: Path, run: mlflow.ActiveRun) -> None:
    """Record the run so later stages log into it."""
    write_json(path, {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id})


def read_run_id(path: Path) -> str:
    """The MLflow run id written by the train stage."""
    return read_json(path)["run_id"]
