"""DVC stage package: register the evaluated model as a new version that reads images, build and
export its bento, and move @champion to it only if it beats the champion (package.promotion)."""

import mlflow
from mlflow.tracking import MlflowClient

from digits.cli import run_stage
from digits.dataset import load_split
from digits.errors import StageError
from digits.field_data import load_part
from digits.files import read_json, write_json
from digits.image_model import log_image_model
from digits.lifecycle import (
    BENTO_ARTIFACT,
    BENTO_TAG,
    champion_scores,
    promote_if_better,
)
from digits.packaging import build_bento, export_bento, save_bento_model
from digits.params import load_params
from digits.paths import (
    BENTO_FILE,
    BENTO_INFO_FILE,
    DATA_STATS_FILE,
    FEEDBACK_DIR,
    LITE_MODEL_FILE,
    METRICS_FILE,
    POLICY_FILE,
    PROJECT_ROOT,
    RUN_FILE,
    split_file,
)
from digits.policy import Policy
from digits.registry import register_model
from digits.tracking import EVALUATION_TAG, git_commit, read_run_id, tracked_run, use_experiment


def main() -> None:
    params = load_params("package")
    evaluate_params = load_params("evaluate")
    scores = read_json(METRICS_FILE)
    if scores["test_accuracy"] < evaluate_params["min_accuracy"]:
        raise StageError(
            f"test_accuracy {scores['test_accuracy']} is below {evaluate_params['min_accuracy']}:"
            " not packaging it"
        )
    run_id = read_run_id(RUN_FILE)
    digest = read_json(DATA_STATS_FILE)["source"]["digest"]
    name = params["registered_model"]

    use_experiment(load_params("mlflow")["experiment_name"])
    client = MlflowClient()
    evaluation = client.get_run(run_id).data.tags[EVALUATION_TAG]
    with tracked_run(run_id):
        policy = Policy.of(read_json(POLICY_FILE))
        model_id = log_image_model(LITE_MODEL_FILE, PROJECT_ROOT / "src/digits", policy)
    tags = {"test_accuracy": str(scores["test_accuracy"]), "data_digest": digest,
            "git_commit": git_commit(), EVALUATION_TAG: evaluation}  # fmt: skip
    version = register_model(client, name, model_id, tags)
    print(f"package: registered {name} version {version.version} (logged model {model_id})")

    labels = {"mlflow_model": name, "mlflow_version": str(version.version),
              "mlflow_run_id": run_id, "test_accuracy": str(scores["test_accuracy"]),
              "data_digest": digest}  # fmt: skip
    bento_model = save_bento_model(name, LITE_MODEL_FILE, labels, policy)
    bento_tag = build_bento(PROJECT_ROOT, str(bento_model.tag))
    bento_digest = export_bento(bento_tag, BENTO_FILE)
    with tracked_run(run_id):
        mlflow.log_artifact(str(BENTO_FILE), BENTO_ARTIFACT)
    client.set_model_version_tag(name, version.version, BENTO_TAG, bento_tag)
    print(f"package: bento {bento_tag} exported to {BENTO_FILE} (sha256 {bento_digest[:12]}…)")

    test = load_split(split_file("test"))
    field = load_part(FEEDBACK_DIR, "field")
    decision = promote_if_better(
        client,
        version,
        scores,
        lambda champion: champion_scores(
            client, champion, evaluation, test, evaluate_params, field
        ),
        params,
    )
    write_json(
        BENTO_INFO_FILE,
        {
            "bento_tag": bento_tag,
            "bento_sha256": bento_digest,
            "bento_model": str(bento_model.tag),
            "mlflow_model": name,
            "mlflow_version": int(version.version),
            "mlflow_run_id": run_id,
            "promoted": decision.promote,
            "promotion_reason": decision.reason,
        },
    )


if __name__ == "__main__":
    run_stage("package", main)
