"""A team's MLflow: `mlflow server` on a PostgreSQL store with a separate artifact location.

A real PostgreSQL (Debian's package, `make postgres`) in a temporary data directory on a
loopback port, a real MLflow server in front of it; the pipeline runs against it with
MLFLOW_TRACKING_URI alone; the run, its metrics, the model version and its alias are checked
through MLflow's REST API, and the bento the package stage built from that registry is served.
"""

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hostile_uploads import encode
from PIL import Image
from support.data import synthetic_digits
from support.ports import free_port
from support.postgres import postgres_server
from support.processes import running, serving
from support.project import reproduced_project

from digits.images import to_mnist
from digits.serving import DigitClassifier

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1; yields the URI of its `mlflow` database."""
    with postgres_server("mlflow", "mlflow") as server:
        yield server.url


@pytest.fixture(scope="module")
def mlflow_server(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """`mlflow server` on the PostgreSQL store, artifacts in their own directory; yields its
    URL and that directory."""
    artifacts = tmp_path_factory.mktemp("artifacts")
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow), "server", "--backend-store-uri", postgres,
               "--artifacts-destination", str(artifacts), "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with running(command, artifacts.parent, dict(os.environ), url, "/health"):
        yield url, artifacts


def test_pipeline_logs_and_registers_on_the_team_server_and_the_service_serves_it(
    mlflow_server: tuple, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url, artifacts = mlflow_server
    root = tmp_path_factory.mktemp("team")
    with reproduced_project(root, MLFLOW_TRACKING_URI=url) as project:
        api = httpx.Client(base_url=f"{url}/api/2.0/mlflow", timeout=30)
        experiment = api.get(
            "/experiments/get-by-name", params={"experiment_name": "mnist-cnn"}
        ).json()["experiment"]
        (run,) = api.post(
            "/runs/search", json={"experiment_ids": [experiment["experiment_id"]]}
        ).json()["runs"]
        run_id = run["info"]["run_id"]
        assert run["info"]["status"] == "FINISHED"
        metrics = {metric["key"]: metric["value"] for metric in run["data"]["metrics"]}
        local = json.loads((project.path / "reports/metrics.json").read_text())
        assert metrics["test_accuracy"] == pytest.approx(local["test_accuracy"])
        history = api.get("/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"})
        assert [point["step"] for point in history.json()["metrics"]] == [1]
        version = api.get(
            "/registered-models/alias", params={"name": "mnist-cnn", "alias": "champion"}
        ).json()["model_version"]
        assert version["run_id"] == run_id
        info = json.loads((project.path / "dist/bento.json").read_text())
        assert info["mlflow_run_id"] == run_id and info["mlflow_version"] == int(version["version"])
        # Artifacts went to the server's store; nothing was written to a local store.
        assert list(artifacts.rglob("MLmodel")) and list(artifacts.rglob("confusion_matrix.png"))
        assert not (project.path / "mlflow.db").exists()
        assert not (project.path / "mlartifacts").exists()

        digit = Image.fromarray(synthetic_digits(1, seed=4)[0][0]).resize((112, 112))
        deploy = tmp_path_factory.mktemp("team-deploy")  # a BentoML home without the bento
        with serving(project.path / "dist/digits.bento", deploy, project.env) as service:
            served = httpx.get(f"{service}/model", timeout=30).json()
            answer = httpx.post(f"{service}/predict", timeout=60,
                                files={"image": ("d.png", encode(digit, "PNG"))})  # fmt: skip
        assert served["mlflow_run_id"] == run_id
        assert served["mlflow_version"] == version["version"]
        assert answer.status_code == 200, answer.text
        model = DigitClassifier(project.path / "data/model/model.tflite")
        expected = model.probabilities(to_mnist(encode(digit, "PNG")).pixels[None])[0]
        assert answer.json()["digit"] == int(expected.argmax())
