"""DVC stage package: register the evaluated model as champion, build and export the bento."""

import bentoml
import mlflow
from mlflow.tracking import MlflowClient

from digits.cli import StageError, run_stage
from digits.files import read_json, write_json
from digits.packaging import build_bento, export_bento
from digits.params import load_params
from digits.paths import (
    BENTO_FILE,
    BENTO_INFO_FILE,
    DATA_STATS_FILE,
    METRICS_FILE,
    PROJECT_ROOT,
    RUN_FILE,
)
from digits.registry import register_run_model
from digits.tracking import git_commit, read_run_id, tracked_run, use_experiment


def main() -> None:
    params = load_params("package")
    min_accuracy = load_params("evaluate")["min_accuracy"]
    accuracy = read_json(METRICS_FILE)["test_accuracy"]
    if accuracy < min_accuracy:
        raise StageError(f"test_accuracy {accuracy} is below {min_accuracy}: not packaging it")
    run_id = read_run_id(RUN_FILE)
    digest = read_json(DATA_STATS_FILE)["source"]["digest"]
    name, alias = params["registered_model"], params["alias"]

    use_experiment(load_params("mlflow")["experiment_name"])
    client = MlflowClient()
    tags = {"test_accuracy": str(accuracy), "data_digest": digest, "git_commit": git_commit()}
    version = register_run_model(client, name, run_id, tags).version
    client.set_registered_model_alias(name, alias, version)  # it passed the gate above
    print(f"package: registered {name} version {version} as @{alias}")

    labels = {"mlflow_model": name, "mlflow_version": str(version), "mlflow_run_id": run_id,
              "test_accuracy": str(accuracy), "data_digest": digest}  # fmt: skip
    bento_model = bentoml.mlflow.import_model(
        name, model_uri=f"models:/{name}/{version}", labels=labels
    )
    bento_tag = build_bento(PROJECT_ROOT)
    bento_digest = export_bento(bento_tag, BENTO_FILE)
    info = {
        "bento_tag": bento_tag,
        "bento_sha256": bento_digest,
        "bento_model": str(bento_model.tag),
        "mlflow_model": name,
        "mlflow_version": int(version),
        "mlflow_run_id": run_id,
    }
    write_json(BENTO_INFO_FILE, info)
    with tracked_run(run_id):
        mlflow.set_tags({"bento_tag": bento_tag, "registered_version": str(version)})
    print(f"package: bento {bento_tag} exported to {BENTO_FILE} (sha256 {bento_digest[:12]}…)")


if __name__ == "__main__":
    run_stage("package", main)
