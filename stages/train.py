"""DVC stage train: fit the CNN, save it as .keras, log everything to a new MLflow run.

With train.distribute: multi_worker, every machine of TF_CONFIG's cluster runs this; only the
chief (worker 0) writes files and logs to MLflow, the others train their share and exit."""

import time

import mlflow
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from digits.cli import run_stage
from digits.dataset import load_split
from digits.distributed import is_chief, strategy_for
from digits.field_data import load_part, mixed_in
from digits.files import atomic_path, read_json, write_json
from digits.params import load_params
from digits.paths import (
    DATA_STATS_FILE,
    FEEDBACK_DIR,
    FEEDBACK_MANIFEST,
    LIVE_DIR,
    MODEL_FILE,
    RUN_FILE,
    TRAIN_METRICS_FILE,
    split_file,
)
from digits.recipe import compute_precision
from digits.tracking import (
    EpochLogger,
    git_commit,
    log_keras_model,
    tracked_run,
    use_experiment,
    write_run_file,
)
from digits.train import recipe, recipe_params, train_model


def main() -> None:
    params = load_params("train")
    config = recipe(params)
    strategy = strategy_for(params["distribute"])  # before any TensorFlow work
    x_train, y_train = load_split(split_file("train"))
    x_val, y_val = load_split(split_file("val"))
    corrections = load_part(FEEDBACK_DIR, "train")
    x_train, y_train = mixed_in(x_train, y_train, corrections, params["feedback_repeat"])
    if not is_chief(strategy):
        train_model(x_train, y_train, x_val, y_val, config, strategy=strategy)
        print("train: this worker's share is done; the chief writes the model and the run")
        return
    source = read_json(DATA_STATS_FILE)["source"]
    use_experiment(load_params("mlflow")["experiment_name"])
    precision = compute_precision(config.precision)
    with tracked_run() as run:
        print(
            f"train: MLflow run {run.info.run_id}; {len(y_train)} train (with"
            f" {len(corrections.ids)} corrections x {params['feedback_repeat']}) and"
            f" {config.non_digits} non-digit drawings, {config.turned_digits} turned digits,"
            f" {config.touching_pairs} touching pairs and"
            f" {config.touching_pieces} digits cut out of them,"
            f" {len(y_val)} val images; computing in {precision}"
        )
        mlflow.log_params(recipe_params(params))
        replicas = strategy.num_replicas_in_sync if strategy else 1
        mlflow.log_params({"data_digest": source["digest"], "train_size": len(y_train),
                           "replicas": replicas, "compute_precision": precision})  # fmt: skip
        snapshot = read_json(FEEDBACK_MANIFEST)["digest"]
        mlflow.log_params({"feedback_count": len(corrections.ids), "feedback_digest": snapshot,
                           "feedback_repeat": params["feedback_repeat"]})  # fmt: skip
        mlflow.set_tags(
            {
                "git_commit": git_commit(),
                "data_digest": source["digest"],
                "data_matches_upstream": str(source["matches_upstream"]).lower(),
            }
        )
        started = time.perf_counter()
        # DVCLive shows each epoch to `dvc exp show` and `dvc plots` while training runs; the
        # outputs are declared in dvc.yaml, so it writes no dvc.yaml, report or experiment.
        live = Live(str(LIVE_DIR), dvcyaml=None, save_dvc_exp=False, report=None)
        callbacks = [EpochLogger(), DVCLiveCallback(live=live)]
        trained = train_model(x_train, y_train, x_val, y_val, config, callbacks, strategy)
        best = trained.best_epoch
        summary = {
            "best_epoch": best,
            "best_val_accuracy": round(trained.history["val_accuracy"][best - 1], 6),
            "train_seconds": round(time.perf_counter() - started, 1),
        }
        mlflow.log_metrics(summary)
        write_json(TRAIN_METRICS_FILE, summary)
        with atomic_path(MODEL_FILE) as part:
            trained.model.save(part)
        log_keras_model(trained.model, x_val[:8])
        write_run_file(RUN_FILE, run)
    print(
        f"train: kept epoch {best} of {config.epochs} (val_accuracy"
        f" {summary['best_val_accuracy']:.4f}) after {summary['train_seconds']:.0f} s; model at"
        f" {MODEL_FILE}"
    )


if __name__ == "__main__":
    run_stage("train", main)
