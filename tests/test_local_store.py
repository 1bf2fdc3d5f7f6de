"""The default SQLite store follows its checkout: a copy rewrites every artifact location to
itself and never reads or writes the original's artifacts (checked with the original gone)."""

import shutil
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from digits.local_store import ARTIFACTS, follow_checkout, moved_from


def make_store(root: Path) -> str:
    """A store like the pipeline's: an experiment with artifacts under root, a run with an
    artifact and a logged model, registered as version 1."""
    root.mkdir()
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.create_experiment("e", artifact_location=(root / ARTIFACTS).as_uri())
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_text("hello", "notes/hello.txt")
        model = mlflow.pyfunc.log_model(name="model", python_model=Echo())
    mlflow.register_model(model.model_uri, "m")
    return run.info.run_id


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def test_a_moved_store_reads_and_writes_only_its_own_artifacts(tmp_path: Path) -> None:
    original, copy = tmp_path / "original", tmp_path / "copy"
    previous = mlflow.get_tracking_uri()
    try:
        run_id = make_store(original)
        shutil.copytree(original, copy)
        shutil.rmtree(original)  # anything still pointing there now fails
        assert moved_from(copy / "mlflow.db", copy) == original
        follow_checkout(copy / "mlflow.db", copy)
        assert moved_from(copy / "mlflow.db", copy) is None
        follow_checkout(copy / "mlflow.db", copy)  # a second time changes nothing

        mlflow.set_tracking_uri(f"sqlite:///{copy / 'mlflow.db'}")
        client = MlflowClient()
        assert client.get_experiment_by_name("e").artifact_location == (copy / ARTIFACTS).as_uri()
        assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/hello.txt") == "hello"
        assert mlflow.pyfunc.load_model("models:/m/1").predict([1]) == [1]
        with mlflow.start_run(experiment_id=client.get_experiment_by_name("e").experiment_id):
            mlflow.log_text("new", "new.txt")
            assert mlflow.get_artifact_uri().startswith((copy / ARTIFACTS).as_uri())
        assert not original.exists()
    finally:
        mlflow.set_tracking_uri(previous)
