"""DVC stage evaluate: convert the model for serving and check the conversion, choose its
uncertain policy on the validation split, then score the converted model as the service runs
it: test metrics, confusion matrix, mistakes gallery, realistic images and non-digits, into the
MLflow run."""

import json

import keras
import mlflow

from digits.cli import run_stage
from digits.convert import conversion_check, convert
from digits.dataset import load_split
from digits.errors import StageError
from digits.evaluate import (
    confusion_csv,
    confusion_matrix,
    evaluate_model,
    evaluation_digest,
    most_confident_mistakes,
    per_class_scores,
    policy_curve,
    rows_csv,
)
from digits.facts import write_facts
from digits.field_data import load_part
from digits.files import read_json, write_json, write_text
from digits.params import load_params
from digits.paths import (
    CONFUSION_FILE,
    CONFUSION_PNG,
    CONVERSION_FILE,
    DATA_STATS_FILE,
    FEEDBACK_DIR,
    FEEDBACK_MANIFEST,
    LITE_MODEL_FILE,
    METRICS_FILE,
    MISCLASSIFIED_PNG,
    MODEL_FILE,
    NON_DIGITS_MISSED_PNG,
    PER_CLASS_FILE,
    POLICY_CURVE_FILE,
    POLICY_FILE,
    REALISTIC_ANSWERS_FILE,
    RUN_FILE,
    split_file,
)
from digits.plots import plot_confusion, plot_missed_non_digits, plot_mistakes
from digits.policy import choose_policy
from digits.serving import DigitClassifier
from digits.tracking import EVALUATION_TAG, read_run_id, tracked_run, use_experiment


def main() -> None:
    params = load_params("evaluate")
    images, labels = load_split(split_file("test"))
    if not MODEL_FILE.exists():
        raise StageError(f"{MODEL_FILE} is missing; run `dvc repro train` first")
    model = keras.models.load_model(MODEL_FILE)
    convert(model, LITE_MODEL_FILE)
    classifier = DigitClassifier(LITE_MODEL_FILE)  # the model as the service runs it
    conversion, _ = conversion_check(model, classifier, images)
    write_json(CONVERSION_FILE, conversion)
    validation_images, _ = load_split(split_file("val"))
    curve = policy_curve(
        classifier.probabilities, validation_images, params["wild_per_style"],
        params["non_digits_per_kind"], params["wild_seed"],
    )  # fmt: skip
    write_text(POLICY_CURVE_FILE, rows_csv(curve))
    policy = choose_policy(curve, params)
    write_json(POLICY_FILE, policy.as_dict())
    print(
        f"evaluate: policy chosen on the validation split: uncertain below"
        f" {policy.uncertain_below}, not a digit below {policy.not_digit_below}"
    )
    field = load_part(FEEDBACK_DIR, "field")
    evaluation = evaluate_model(classifier.probabilities, images, labels, params, policy, field)
    metrics, probabilities = evaluation.metrics, evaluation.probabilities
    data_digest = read_json(DATA_STATS_FILE)["source"]["digest"]
    predicted = probabilities.argmax(axis=1)
    confusion = confusion_matrix(labels, predicted)
    per_class = per_class_scores(confusion)
    write_json(METRICS_FILE, metrics)
    write_json(PER_CLASS_FILE, per_class)
    write_text(CONFUSION_FILE, confusion_csv(labels, predicted))
    write_facts(REALISTIC_ANSWERS_FILE, evaluation.realistic_facts)
    plot_confusion(confusion, CONFUSION_PNG)
    mistakes = most_confident_mistakes(probabilities, labels, params["gallery_size"])
    plot_mistakes(images, labels, probabilities, mistakes, MISCLASSIFIED_PNG)
    plot_missed_non_digits(
        evaluation.missed_non_digits[: params["gallery_size"]], NON_DIGITS_MISSED_PNG
    )

    converted = (
        conversion["changed_predictions"] == 0
        and conversion["max_probability_difference"] <= params["conversion_tolerance"]
    )
    passed = metrics["test_accuracy"] >= params["min_accuracy"]
    use_experiment(load_params("mlflow")["experiment_name"])
    run_id = read_run_id(RUN_FILE)
    with tracked_run(run_id):
        chosen = {"policy_uncertain_below": policy.uncertain_below,
                  "policy_not_digit_below": policy.not_digit_below}  # fmt: skip
        mlflow.log_metrics(metrics | chosen)
        mlflow.log_metrics({f"conversion_{name}": value for name, value in conversion.items()})
        for scores in per_class:
            digit = scores["digit"]
            mlflow.log_metrics(
                {f"test_{name}_{digit}": scores[name] for name in ("precision", "recall", "f1")}
            )
        for artifact in (METRICS_FILE, CONVERSION_FILE, PER_CLASS_FILE, CONFUSION_PNG,
                         MISCLASSIFIED_PNG, NON_DIGITS_MISSED_PNG, POLICY_FILE,
                         POLICY_CURVE_FILE):  # fmt: skip
            mlflow.log_artifact(str(artifact), "evaluation")
        mlflow.set_tag("evaluate_gate", "passed" if passed else "failed")
        mlflow.set_tag(
            EVALUATION_TAG,
            evaluation_digest(params, data_digest, read_json(FEEDBACK_MANIFEST)["digest"]),
        )
    print(f"evaluate: {json.dumps(metrics)}")
    print(f"evaluate: TensorFlow Lite conversion against Keras on the test set: {conversion}")
    if not converted:
        raise StageError(
            f"the TensorFlow Lite conversion disagrees with the Keras model ({conversion}, allowed"
            f" {params['conversion_tolerance']}); it is not served. Its MLflow run is {run_id}."
        )
    if not passed:
        raise StageError(
            f"test_accuracy {metrics['test_accuracy']:.4f} is below evaluate.min_accuracy"
            f" {params['min_accuracy']}; the model is not good enough to package."
            f" Its scores stay in MLflow run {run_id} (make mlflow-ui)."
        )
    print(f"evaluate: passed the gate (test_accuracy >= {params['min_accuracy']})")


if __name__ == "__main__":
    run_stage("evaluate", main)
