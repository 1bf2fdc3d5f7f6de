"""Integration: real `dvc repro` of the whole pipeline in a temporary git copy of the project,
on small generated data served by a loopback HTTP mirror, logging into a real MLflow store."""

import contextlib
import csv
import hashlib
import json
import os
import signal
import subprocess
import tarfile
import zipfile
from pathlib import Path

import mlflow
import psutil
import pytest
import yaml
from mlflow.tracking import MlflowClient
from support.polling import poll_until
from support.processes import run
from support.project import Project

from digits.tracking import OWNER_TAG

pytestmark = pytest.mark.integration


def declared_outputs(project: Path) -> list[Path]:
    """Every out, metric and plot file that dvc.yaml's stages declare."""
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    paths = []
    for stage in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                paths.append(project / (entry if isinstance(entry, str) else next(iter(entry))))
    return paths


def mlflow_client(project: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def test_repro_writes_every_declared_output(pipeline_project: Project) -> None:
    project, log = pipeline_project.path, pipeline_project.log
    for stage in ("download", "preprocess", "train", "evaluate", "package"):
        assert f"Running stage '{stage}'" in log
    missing = [str(p) for p in declared_outputs(project) if not p.exists()]
    assert not missing, f"declared outputs not written: {missing}"
    # The gate passed (repro would have failed otherwise): the scores are of the whole test set.
    metrics = json.loads((project / "reports/metrics.json").read_text())
    test_size = json.loads((project / "reports/data_stats.json").read_text())["test"]["size"]
    assert test_size == 200  # all of the mirror's test file
    assert metrics["test_errors"] == round((1 - metrics["test_accuracy"]) * test_size)
    assert (project / "dvc.lock").exists()


def test_evaluate_chooses_the_policy_on_validation_data_by_the_rule(
    pipeline_project: Project,
) -> None:
    project = pipeline_project.path
    rule = yaml.safe_load((project / "params.yaml").read_text())["evaluate"]["policy_rule"]
    with (project / "reports/policy_validation.csv").open() as rows:
        curve = [{key: float(value) for key, value in row.items()} for row in csv.DictReader(rows)]
    policy = json.loads((project / "reports/policy.json").read_text())
    chosen = {"uncertain_below": ("digits_flagged", rule["max_digits_flagged"]),
              "not_digit_below": ("digits_called_not_a_digit",
                                  rule["max_digits_called_not_a_digit"])}  # fmt: skip
    for name, (share, limit) in chosen.items():
        at = [row["threshold"] for row in curve].index(policy[name])
        # within the rule (or the lowest candidate, if none is), and the next one is not
        assert curve[at][share] <= limit or at == 0
        assert at == len(curve) - 1 or curve[at + 1][share] > limit
    assert f"uncertain below {policy['uncertain_below']}" in pipeline_project.log


def test_mlflow_holds_the_run_with_params_metrics_and_model(
    pipeline_project: Project,
) -> None:
    project = pipeline_project.path
    client = mlflow_client(project)
    experiment = client.get_experiment_by_name("mnist-cnn")
    assert experiment.artifact_location == (project / "mlartifacts").as_uri()
    (run_info,) = client.search_runs([experiment.experiment_id])
    run_id = run_info.info.run_id
    assert json.loads((project / "data/model/mlflow_run.json").read_text())["run_id"] == run_id
    assert run_info.info.status == "FINISHED"
    assert run_info.data.params["epochs"] == "1" and run_info.data.params["batch_size"] == "32"
    assert run_info.data.params["preset"] == "seed"
    summary = json.loads((project / "reports/train.json").read_text())
    assert summary["best_epoch"] == 1 and summary["train_seconds"] > 0
    assert run_info.data.metrics["best_val_accuracy"] == pytest.approx(summary["best_val_accuracy"])
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [m.step for m in client.get_metric_history(run_id, name)] == [1]
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert run_info.data.metrics["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert "test_f1_9" in run_info.data.metrics and "test_loss" in run_info.data.metrics
    for name in ("test_ece", "wild_accuracy_chalk", "wild_uncertain", "non_digit_flagged_letter"):
        assert run_info.data.metrics[name] == pytest.approx(metrics[name])
    stats = json.loads((project / "reports/data_stats.json").read_text())
    assert run_info.data.tags["data_digest"] == stats["source"]["digest"]
    assert run_info.data.tags["evaluate_gate"] == "passed"
    artifacts = {a.path for a in client.list_artifacts(run_id, "evaluation")}
    assert {"evaluation/confusion_matrix.png", "evaluation/non_digits_missed.png",
            "evaluation/policy.json"} <= artifacts  # fmt: skip
    policy = json.loads((project / "reports/policy.json").read_text())
    assert run_info.data.metrics["policy_uncertain_below"] == policy["uncertain_below"]

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    logged = mlflow.search_logged_models(
        experiment_ids=[experiment.experiment_id], output_format="list"
    )
    by_name = {model.name: model for model in logged}
    assert set(by_name) == {"model", "image_model"}  # train's Keras model, package's image model
    assert {model.source_run_id for model in logged} == {run_id}
    model = mlflow.keras.load_model(f"models:/{by_name['model'].model_id}")
    assert model.output_shape == (None, 10)
    outputs = {m.model_id for m in client.get_run(run_id).outputs.model_outputs}
    assert {model.model_id for model in logged} <= outputs


def test_package_registers_the_champion_and_exports_a_bento(pipeline_project: Project) -> None:
    project = pipeline_project.path
    run_id = json.loads((project / "data/model/mlflow_run.json").read_text())["run_id"]
    info = json.loads((project / "dist/bento.json").read_text())
    client = mlflow_client(project)
    champion = client.get_model_version_by_alias("mnist-cnn", "champion")
    assert champion.run_id == run_id and info["mlflow_run_id"] == run_id
    assert int(champion.version) == info["mlflow_version"]
    assert info["promoted"] and info["promotion_reason"] == "there is no champion yet"
    assert champion.tags["promotion.decision"] == "promoted"
    assert champion.tags["bento_tag"] == info["bento_tag"]
    # The logged image model knows its registered version (the UI's "registered" link).
    model_id = champion.source.removeprefix("models:/")
    links = json.loads(client.get_logged_model(model_id).tags["mlflow.modelVersions"])
    assert links == [{"name": "mnist-cnn", "version": int(champion.version)}]
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert float(champion.tags["test_accuracy"]) == metrics["test_accuracy"]
    assert info["bento_tag"].startswith("digits:")
    bento = project / "dist/digits.bento"
    assert hashlib.sha256(bento.read_bytes()).hexdigest() == info["bento_sha256"]
    models = json.loads(
        run(["bentoml", "models", "get", info["bento_model"], "-o", "json"], project,
            pipeline_project.env).stdout
    )  # fmt: skip
    assert models["labels"]["mlflow_version"] == str(champion.version)
    assert models["labels"]["mlflow_run_id"] == run_id
    assert not (project / "bentoml").exists()  # the BentoML home stays outside the build context


def test_after_repro_status_is_clean_and_nothing_reruns(
    pipeline_project: Project,
) -> None:
    project, env = pipeline_project.path, pipeline_project.env
    status = run(["dvc", "status"], project, env).stdout
    assert "Data and pipelines are up to date" in status
    again = run(["dvc", "repro"], project, env)
    assert "Running stage" not in again.stdout + again.stderr


def test_temporary_experiment_logs_into_the_checkout_store(own_project: Project) -> None:
    project, env = own_project.path, own_project.env
    run(["git", "add", "-A"], project, env)
    run(["git", "commit", "-q", "-m", "first run"], project, env)
    run(["dvc", "exp", "run", "--temp", "-S", "train.presets.seed.batch_size=64"], project, env)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project, env).stdout)
    (baseline,) = [entry for entry in shown if entry["rev"] != "workspace"]
    assert len(baseline["experiments"]) == 1
    client = mlflow_client(project)
    experiment = client.get_experiment_by_name("mnist-cnn")
    runs = client.search_runs([experiment.experiment_id], "params.batch_size = '64'")
    assert len(runs) == 1 and "test_accuracy" in runs[0].data.metrics


def test_gate_fails_evaluate_below_min_accuracy(own_project: Project) -> None:
    project, env = own_project.path, own_project.env
    result = run(
        ["dvc", "exp", "run", "--temp", "-S", "evaluate.min_accuracy=1.01"],
        project,
        env,
        check=False,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "is below evaluate.min_accuracy 1.01" in output
    # The temporary workspace is gone; the run it names keeps the scores.
    run_id = output.split("Its scores stay in MLflow run ", 1)[1].split()[0]
    failed = mlflow_client(project).get_run(run_id)
    assert failed.data.tags["evaluate_gate"] == "failed"
    assert "test_accuracy" in failed.data.metrics


def descendant(process: subprocess.Popen, *words: str) -> psutil.Process | None:
    """A running descendant of `process` whose command line holds all of `words`."""
    for child in psutil.Process(process.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if all(any(word in part for part in child.cmdline()) for word in words):
                return child
    return None


def start(command: list[str], cwd: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def intact_zip(path: Path) -> bool:
    return zipfile.is_zipfile(path) and zipfile.ZipFile(path).testzip() is None


def test_killed_train_and_package_leave_nothing_half_done_and_repro_recovers(
    own_project: Project,
) -> None:
    """Reproduces the pipeline again after each kill, as a user would after a crash."""
    project, env = own_project.path, own_project.env
    client = mlflow_client(project)
    experiment = client.get_experiment_by_name("mnist-cnn").experiment_id
    before = {r.info.run_id for r in client.search_runs([experiment])}

    # Train killed outright (SIGKILL: no clean-up possible) while its MLflow run is open.
    repro = start(["dvc", "repro", "-f", "-s", "train"], project, env)

    def new_running_runs() -> list:
        running = client.search_runs([experiment], "attributes.status = 'RUNNING'")
        return [r for r in running if r.info.run_id not in before]

    # Errors count as "not yet": the store may be busy being written.
    (killed_run,) = poll_until(
        new_running_runs, 600, "the train stage's MLflow run", interval=0.1, ignoring=(Exception,)
    )
    os.kill(int(killed_run.data.tags[OWNER_TAG].rpartition(":")[2]), signal.SIGKILL)
    assert repro.wait(300) != 0
    model = project / "data/model/model.keras"
    assert not model.exists() or intact_zip(model)

    # Package killed while `bentoml build` runs.
    repro = start(["dvc", "repro"], project, env)
    builder = poll_until(
        lambda: descendant(repro, "bentoml", "build"), 600, "bentoml build",
        interval=0.1, ignoring=(Exception,),
    )  # fmt: skip
    stage = descendant(repro, "stages/package.py")
    for process in (stage, builder):
        with contextlib.suppress(psutil.Error):
            process.kill()
    output = repro.communicate(timeout=300)[0]
    assert repro.returncode != 0
    assert f"MLflow run {killed_run.info.run_id} was left RUNNING" in output
    bento, info = project / "dist/digits.bento", project / "dist/bento.json"
    if bento.exists() and info.exists():  # the earlier, complete pair, or none at all
        assert (
            hashlib.sha256(bento.read_bytes()).hexdigest()
            == json.loads(info.read_text())["bento_sha256"]
        )

    # Rerunning recovers; no run is left RUNNING; the killed one is FAILED.
    run(["dvc", "repro"], project, env)
    assert "up to date" in run(["dvc", "status"], project, env).stdout
    assert client.get_run(killed_run.info.run_id).info.status == "FAILED"
    assert not client.search_runs([experiment], "attributes.status = 'RUNNING'")
    assert intact_zip(model) and tarfile.is_tarfile(bento)
    assert (
        hashlib.sha256(bento.read_bytes()).hexdigest()
        == json.loads(info.read_text())["bento_sha256"]
    )
