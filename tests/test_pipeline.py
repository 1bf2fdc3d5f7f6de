"""Integration: real `dvc repro` of the whole pipeline in a temporary git copy of the project,
on small generated data served by a loopback HTTP mirror, logging into a real MLflow store."""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import yaml
from conftest import MirrorServer, serve_directory, write_mnist_files
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run(
    command: list[str], cwd: Path, env: dict, check: bool = True
) -> subprocess.CompletedProcess:
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


def declared_outputs(project: Path) -> list[Path]:
    """Every out, metric and plot file that dvc.yaml's stages declare."""
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    paths = []
    for stage in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                paths.append(project / (entry if isinstance(entry, str) else next(iter(entry))))
    return paths


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    """The project copied into a new git repository, set up for a 1-epoch run on small data."""
    root = tmp_path_factory.mktemp("pipeline")
    hashes = write_mnist_files(root / "mirror", train_count=600, test_count=200)
    project = root / "project"
    copy_project(project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["download"]["files"] = hashes
    params["preprocess"]["validation_size"] = 100
    params["train"].update(epochs=1, batch_size=32)
    params["evaluate"]["min_accuracy"] = 0.5
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (project / "dvc.lock").unlink(missing_ok=True)

    server = MirrorServer()
    server.routes["mnist"] = serve_directory(root / "mirror")
    server.thread.start()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLFLOW_", "MNIST_", "DVC_"))
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        MNIST_MIRROR=server.url("mnist"),
        GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.com",
    )  # fmt: skip
    run(["git", "init", "-q", "-b", "main"], project, env)
    run(["git", "add", "-A"], project, env)
    run(["git", "commit", "-q", "-m", "pipeline under test"], project, env)
    try:
        yield project, env
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture(scope="module")
def reproduced(project: tuple[Path, dict]) -> tuple[Path, dict, str]:
    path, env = project
    result = run(["dvc", "repro"], path, env)
    return path, env, result.stdout + result.stderr


def mlflow_client(project: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def test_repro_writes_every_declared_output(reproduced: tuple[Path, dict, str]) -> None:
    project, _, log = reproduced
    for stage in ("download", "preprocess", "train", "evaluate"):
        assert f"Running stage '{stage}'" in log
    missing = [str(p) for p in declared_outputs(project) if not p.exists()]
    assert not missing, f"declared outputs not written: {missing}"
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert 0.5 <= metrics["test_accuracy"] <= 1.0
    assert (project / "dvc.lock").exists()


def test_mlflow_holds_the_run_with_params_metrics_and_model(
    reproduced: tuple[Path, dict, str],
) -> None:
    project, _, _ = reproduced
    client = mlflow_client(project)
    experiment = client.get_experiment_by_name("mnist-cnn")
    assert experiment.artifact_location == (project / "mlartifacts").as_uri()
    (run_info,) = client.search_runs([experiment.experiment_id])
    run_id = run_info.info.run_id
    assert json.loads((project / "data/model/mlflow_run.json").read_text())["run_id"] == run_id
    assert run_info.info.status == "FINISHED"
    assert run_info.data.params["epochs"] == "1" and run_info.data.params["batch_size"] == "32"
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [m.step for m in client.get_metric_history(run_id, name)] == [1]
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert run_info.data.metrics["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert "test_f1_9" in run_info.data.metrics and "test_loss" in run_info.data.metrics
    stats = json.loads((project / "reports/data_stats.json").read_text())
    assert run_info.data.tags["data_digest"] == stats["source"]["digest"]
    assert run_info.data.tags["evaluate_gate"] == "passed"
    artifacts = {a.path for a in client.list_artifacts(run_id, "evaluation")}
    assert "evaluation/confusion_matrix.png" in artifacts

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    (logged,) = mlflow.search_logged_models(
        experiment_ids=[experiment.experiment_id], output_format="list"
    )
    assert logged.source_run_id == run_id
    model = mlflow.keras.load_model(f"models:/{logged.model_id}")
    assert model.output_shape == (None, 10)
    assert logged.model_id in {m.model_id for m in client.get_run(run_id).outputs.model_outputs}


def test_after_repro_status_is_clean_and_nothing_reruns(
    reproduced: tuple[Path, dict, str],
) -> None:
    project, env, _ = reproduced
    status = run(["dvc", "status"], project, env).stdout
    assert "Data and pipelines are up to date" in status
    again = run(["dvc", "repro"], project, env)
    assert "Running stage" not in again.stdout + again.stderr


def test_temporary_experiment_logs_into_the_checkout_store(
    reproduced: tuple[Path, dict, str],
) -> None:
    project, env, _ = reproduced
    run(["git", "add", "-A"], project, env)
    run(["git", "commit", "-q", "-m", "first run"], project, env)
    run(["dvc", "exp", "run", "--temp", "-S", "train.batch_size=64"], project, env)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project, env).stdout)
    (baseline,) = [entry for entry in shown if entry["rev"] != "workspace"]
    assert len(baseline["experiments"]) == 1
    client = mlflow_client(project)
    experiment = client.get_experiment_by_name("mnist-cnn")
    runs = client.search_runs([experiment.experiment_id], "params.batch_size = '64'")
    assert len(runs) == 1 and "test_accuracy" in runs[0].data.metrics


def test_gate_fails_evaluate_below_min_accuracy(reproduced: tuple[Path, dict, str]) -> None:
    project, env, _ = reproduced
    result = run(
        ["dvc", "exp", "run", "--temp", "-S", "evaluate.min_accuracy=1.01"],
        project,
        env,
        check=False,
    )
    assert result.returncode != 0
    assert "is below evaluate.min_accuracy 1.01" in result.stdout + result.stderr
