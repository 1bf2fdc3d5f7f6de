"""Training under tf.distribute: the custom loop against Keras `fit`, and two real workers
forming a MultiWorkerMirroredStrategy cluster on 127.0.0.1."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml
from mlflow.tracking import MlflowClient
from support.data import synthetic_digits
from support.ports import free_port
from support.processes import run
from support.project import Project

from digits.augment import AugmentConfig
from digits.dataset import to_model_input
from digits.distributed import strategy_for
from digits.recipe import TrainConfig
from digits.train import train_model

# The default recipe's features on a tiny network, without dropout: replicas draw their own
# dropout masks, so with dropout runs are alike in distribution only.
SMALL_BN = TrainConfig(
    seed=4, epochs=2, batch_size=32, architecture="bn", conv_filters=(4, 8), dense_units=16,
    schedule="cosine", warmup_epochs=1, label_smoothing=0.1, augment=AugmentConfig(),
)  # fmt: skip
MODEL = Path("data/model/model.keras")
WORKER_OUTPUTS = (MODEL, Path("data/model/mlflow_run.json"), Path("reports/train.json"))


def test_the_distributed_loop_trains_as_fit_does() -> None:
    images, labels = synthetic_digits(250, seed=8)
    x = to_model_input(images)
    split = (x[:200], labels[:200], x[200:], labels[200:])  # 200 / 32: a short last batch
    fitted = train_model(*split, SMALL_BN)
    looped = train_model(*split, SMALL_BN, strategy=tf.distribute.MirroredStrategy(["/cpu:0"]))
    for key, values in fitted.history.items():
        np.testing.assert_allclose(looped.history[key], values, rtol=1e-4, err_msg=key)
    assert looped.best_epoch == fitted.best_epoch
    np.testing.assert_allclose(looped.model(x[200:]), fitted.model(x[200:]), atol=1e-4)
    assert {weight.dtype for weight in looped.model.weights} == {"float32"}


def test_unknown_or_unconfigured_distribution_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="must be one of"):
        strategy_for("horovod")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG has no 'TF_CONFIG'"):
        strategy_for("multi_worker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}}')
    with pytest.raises(ValueError, match="TF_CONFIG has no 'task'"):
        strategy_for("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{cluster")
    with pytest.raises(ValueError, match="not valid JSON"):
        strategy_for("multi_worker")


@pytest.mark.integration
def test_two_workers_train_and_only_the_chief_writes(
    pipeline_project: Project, tmp_path: Path
) -> None:
    """Two checkouts stand for two machines: the chief runs `dvc repro train`, worker 1 runs the
    stage; the model equals the single-process one the pipeline fixture trained."""
    machines = {name: tmp_path / name for name in ("chief", "worker")}
    for checkout in machines.values():
        shutil.copytree(pipeline_project.path, checkout, symlinks=True)
        params = yaml.safe_load((checkout / "params.yaml").read_text())
        params["train"]["distribute"] = "multi_worker"
        (checkout / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for output in WORKER_OUTPUTS:
        (machines["worker"] / output).unlink()
    cluster = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"

    def env(index: int) -> dict:
        task = {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}
        return {**pipeline_project.env, "TF_CONFIG": json.dumps(task), "MLFLOW_TRACKING_URI": store}

    worker_log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "stages/train.py"], cwd=machines["worker"],
        env={**env(1), "PYTHONPATH": "src"}, stdout=worker_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        chief = run(["dvc", "repro", "train"], machines["chief"], env(0))
        assert worker.wait(timeout=120) == 0, (tmp_path / "worker.log").read_text()
    finally:
        worker.kill()
        worker_log.close()
    assert "worker 0 of TF_CONFIG's cluster" in chief.stdout
    assert "the chief writes the model" in (tmp_path / "worker.log").read_text()
    assert not any((machines["worker"] / output).exists() for output in WORKER_OUTPUTS)

    client = MlflowClient(store)
    [record] = client.search_runs([client.get_experiment_by_name("mnist-cnn").experiment_id])
    assert record.info.status == "FINISHED"
    assert record.data.params["distribute"] == "multi_worker"
    assert record.data.params["replicas"] == "2"
    assert (
        json.loads((machines["chief"] / "data/model/mlflow_run.json").read_text())["run_id"]
        == record.info.run_id
    )

    x = to_model_input(synthetic_digits(64, seed=9)[0])
    distributed = keras.models.load_model(machines["chief"] / MODEL)
    single = keras.models.load_model(pipeline_project.path / MODEL)
    np.testing.assert_allclose(distributed(x), single(x), atol=1e-4)
