"""DVC stage train: fit the CNN, save it as .keras, log everything to a new MLflow run."""

import mlflow

from digits.cli import run_stage
from digits.dataset import load_split
from digits.files import atomic_path, read_json, write_text
from digits.params import load_params
from digits.paths import DATA_STATS_FILE, HISTORY_FILE, MODEL_FILE, RUN_FILE, split_file
from digits.tracking import EpochLogger, git_commit, log_keras_model, use_experiment, write_run_file
from digits.train import TrainConfig, history_csv, train_model


def main() -> None:
    params = load_params("train")
    config = TrainConfig(**params)
    x_train, y_train = load_split(split_file("train"))
    x_val, y_val = load_split(split_file("val"))
    source = read_json(DATA_STATS_FILE)["source"]
    use_experiment(load_params("mlflow")["experiment_name"])
    with mlflow.start_run() as run:
        print(f"train: MLflow run {run.info.run_id}; {len(y_train)} train, {len(y_val)} val images")
        mlflow.log_params(params)
        mlflow.log_params({"data_digest": source["digest"], "train_size": len(y_train)})
        mlflow.set_tags(
            {
                "git_commit": git_commit(),
                "data_digest": source["digest"],
                "data_matches_upstream": str(source["matches_upstream"]).lower(),
            }
        )
        model, history = train_model(x_train, y_train, x_val, y_val, config, [EpochLogger()])
        with atomic_path(MODEL_FILE) as part:
            model.save(part)
        write_text(HISTORY_FILE, history_csv(history))
        log_keras_model(model, x_val[:8])
        write_run_file(RUN_FILE, run)
    print(f"train: final val_accuracy {history['val_accuracy'][-1]:.4f}; model at {MODEL_FILE}")


if __name__ == "__main__":
    run_stage("train", main)
