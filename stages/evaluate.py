"""DVC stage evaluate: test metrics, confusion matrix and mistakes gallery, into the MLflow run."""

import json

import mlflow

from digits.cli import StageError, run_stage
from digits.dataset import load_split
from digits.evaluate import (
    confusion_csv,
    confusion_matrix,
    evaluate_model,
    evaluation_digest,
    most_confident_mistakes,
    per_class_scores,
)
from digits.files import read_json, write_json, write_text
from digits.params import load_params
from digits.paths import (
    CONFUSION_FILE,
    CONFUSION_PNG,
    DATA_STATS_FILE,
    METRICS_FILE,
    MISCLASSIFIED_PNG,
    MODEL_FILE,
    PER_CLASS_FILE,
    RUN_FILE,
    split_file,
)
from digits.plots import plot_confusion, plot_mistakes
from digits.serving import UNCERTAIN_BELOW, DigitClassifier
from digits.tracking import EVALUATION_TAG, read_run_id, tracked_run, use_experiment


def main() -> None:
    params = load_params("evaluate")
    images, labels = load_split(split_file("test"))
    if not MODEL_FILE.exists():
        raise StageError(f"{MODEL_FILE} is missing; run `dvc repro train` first")
    classifier = DigitClassifier(MODEL_FILE)  # the model as the service calls it
    metrics, probabilities = evaluate_model(
        classifier.probabilities, images, labels, params, UNCERTAIN_BELOW
    )
    data_digest = read_json(DATA_STATS_FILE)["source"]["digest"]
    predicted = probabilities.argmax(axis=1)
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
    run_id = read_run_id(RUN_FILE)
    with tracked_run(run_id):
        mlflow.log_metrics(metrics)
        for scores in per_class:
            digit = scores["digit"]
            mlflow.log_metrics(
                {f"test_{name}_{digit}": scores[name] for name in ("precision", "recall", "f1")}
            )
        for artifact in (METRICS_FILE, PER_CLASS_FILE, CONFUSION_PNG, MISCLASSIFIED_PNG):
            mlflow.log_artifact(str(artifact), "evaluation")
        mlflow.set_tag("evaluate_gate", "passed" if passed else "failed")
        mlflow.set_tag(EVALUATION_TAG, evaluation_digest(params, data_digest, UNCERTAIN_BELOW))
    print(f"evaluate: {json.dumps(metrics)}")
    if not passed:
        raise StageError(
            f"test_accuracy {metrics['test_accuracy']:.4f} is below evaluate.min_accuracy"
            f" {params['min_accuracy']}; the model is not good enough to package."
            f" Its scores stay in MLflow run {run_id} (make mlflow-ui)."
        )
    print(f"evaluate: passed the gate (test_accuracy >= {params['min_accuracy']})")


if __name__ == "__main__":
    run_stage("evaluate", main)
