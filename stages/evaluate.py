"""DVC stage evaluate: test metrics, confusion matrix and mistakes gallery, into the MLflow run."""

import json

import keras
import mlflow
import numpy as np

from digits.cli import StageError, run_stage
from digits.dataset import load_split
from digits.evaluate import (
    confusion_csv,
    confusion_matrix,
    most_confident_mistakes,
    non_digit_scores,
    per_class_scores,
    score_predictions,
    wild_scores,
)
from digits.files import write_json, write_text
from digits.params import load_params
from digits.paths import (
    CONFUSION_FILE,
    CONFUSION_PNG,
    METRICS_FILE,
    MISCLASSIFIED_PNG,
    MODEL_FILE,
    PER_CLASS_FILE,
    RUN_FILE,
    split_file,
)
from digits.plots import plot_confusion, plot_mistakes
from digits.serving import UNCERTAIN_BELOW
from digits.tracking import read_run_id, tracked_run, use_experiment


def main() -> None:
    params = load_params("evaluate")
    images, labels = load_split(split_file("test"))
    if not MODEL_FILE.exists():
        raise StageError(f"{MODEL_FILE} is missing; run `dvc repro train` first")
    model = keras.models.load_model(MODEL_FILE)
    probabilities = model.predict(images, batch_size=1000, verbose=0)
    predicted = probabilities.argmax(axis=1)
    metrics = score_predictions(probabilities, labels)

    def classify(pixels: np.ndarray) -> np.ndarray:
        return model.predict(pixels[..., None], batch_size=1000, verbose=0)

    wild, seed = params["wild_per_style"], params["wild_seed"]
    metrics |= wild_scores(classify, images, labels, wild, seed, UNCERTAIN_BELOW)
    metrics |= non_digit_scores(classify, params["non_digits"], seed, UNCERTAIN_BELOW)
    confusion = confusion_matrix(labels, predicted)
    per_class = per_class_scores(confusion)
    write_json(METRICS_FILE, metrics)
    write_json(PER_CLASS_FILE, per_class)
    write_text(CONFUSION_FILE, confusion_csv(labels, predicted))
    plot_confusion(confusion, CONFUSION_PNG)
    mistakes = most_confident_mistakes(probabilities, labels, params["gallery_size"])
    plot_mistakes(images, labels, probabilities, mistakes, MISCLASSIFIED_PNG)

    passed = metrics["test_accuracy"] >= params["min_accuracy"]
    use_experiment(load_params("mlflow")["experiment_name"])
    with tracked_run(read_run_id(RUN_FILE)):
        mlflow.log_metrics(metrics)
        for scores in per_class:
            digit = scores["digit"]
            mlflow.log_metrics(
                {f"test_{name}_{digit}": scores[name] for name in ("precision", "recall", "f1")}
            )
        for artifact in (METRICS_FILE, PER_CLASS_FILE, CONFUSION_PNG, MISCLASSIFIED_PNG):
            mlflow.log_artifact(str(artifact), "evaluation")
        mlflow.set_tag("evaluate_gate", "passed" if passed else "failed")
    print(f"evaluate: {json.dumps(metrics)}")
    if not passed:
        raise StageError(
            f"test_accuracy {metrics['test_accuracy']:.4f} is below evaluate.min_accuracy"
            f" {params['min_accuracy']}; the model is not good enough to package."
            f" Metrics are in {METRICS_FILE}."
        )
    print(f"evaluate: passed the gate (test_accuracy >= {params['min_accuracy']})")


if __name__ == "__main__":
    run_stage("evaluate", main)
