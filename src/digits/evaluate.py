"""Test-set metrics: accuracy, loss, per-class precision/recall/F1, confusion, worst mistakes."""

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digits.facts import facts
from digits.field_data import NOT_A_DIGIT, FieldData
from digits.mnist import NUM_CLASSES
from digits.serving import Reading, answer, answer_images
from digits.wild import make_non_digit_set, make_wild_set

Classify = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28) pixels -> (N, 10) probabilities


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean sparse categorical cross-entropy, as Keras computes it (clipped at 1e-7)."""
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """counts[actual, predicted]."""
    counts = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return counts


def per_class_scores(confusion: np.ndarray) -> list[dict[str, float]]:
    """Precision, recall and F1 for each digit (0 where undefined), one record per digit."""
    hits = np.diag(confusion).astype(np.float64)
    predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    return [
        {
            "digit": digit,
            "precision": round(float(precision[digit]), 6),
            "recall": round(float(recall[digit]), 6),
            "f1": round(float(f1[digit]), 6),
        }
        for digit in range(NUM_CLASSES)
    ]


def calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error: the gap between confidence and accuracy, averaged over
    equal-width confidence bins weighted by how many predictions fall in each."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gap = 0.0
    for b in np.unique(which):
        members = which == b
        gap += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(gap)


def score_predictions(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """The metrics.json content: test_accuracy, test_loss, errors, calibration error."""
    predicted = probabilities.argmax(axis=1)
    return {
        "test_accuracy": round(float(np.mean(predicted == labels)), 6),
        "test_loss": round(cross_entropy(probabilities, labels), 6),
        "test_errors": int(np.sum(predicted != labels)),
        "test_ece": round(calibration_error(probabilities, labels), 6),
    }


def _answers(readings: list[Reading]) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the digit the service names (-1 for none: blank or unreadable) and whether it
    flags it uncertain."""
    answers = [reading.answer for reading in readings]
    digits = np.array([-1 if a.get("digit") is None else a["digit"] for a in answers])
    uncertain = np.array([a.get("uncertain", True) for a in answers], dtype=bool)
    return digits, uncertain


def _mean_by(groups: list[str], values: np.ndarray, prefix: str) -> dict[str, float]:
    """The overall mean as `prefix` and the mean of each group as `prefix_<group>`."""
    scores = {prefix: round(float(np.mean(values)), 6)}
    for group in dict.fromkeys(groups):
        members = np.array([g == group for g in groups])
        scores[f"{prefix}_{group}"] = round(float(np.mean(values[members])), 6)
    return scores


def wild_scores(
    classify: Classify,
    images: np.ndarray,
    labels: np.ndarray,
    per_style: int,
    seed: int,
    uncertain_below: float,
) -> tuple[dict[str, float], list[dict]]:
    """Accuracy on realistic user images made from test digits, through the service's own
    preprocessing: overall (`wild_accuracy`) and per style, and the share of them the service
    would flag uncertain (`wild_uncertain`); an image it cannot read counts as wrong. And the
    facts the prediction log would record of the answers: the drift report's reference when no
    served traffic has been pinned."""
    samples = make_wild_set(images, per_style, seed)
    readings = answer_images(classify, [data for _, _, data in samples], uncertain_below)
    digits, uncertain = _answers(readings)
    correct = digits == labels[[index for _, index, _ in samples]]
    styles = [style for style, _, _ in samples]
    scores = {
        **_mean_by(styles, correct, "wild_accuracy"),
        "wild_uncertain": round(float(np.mean(uncertain)), 6),
    }
    return scores, [facts(r.answer, r.prepared) for r in readings if "error" not in r.answer]


def non_digit_scores(
    classify: Classify, count: int, seed: int, uncertain_below: float
) -> dict[str, float]:
    """The share of images showing no digit (letters, photos of nothing) that the service
    flags uncertain instead of naming a digit: overall and per kind."""
    samples = make_non_digit_set(count, seed)
    readings = answer_images(classify, [data for _, _, data in samples], uncertain_below)
    _, uncertain = _answers(readings)
    return _mean_by([kind for kind, _, _ in samples], uncertain, "non_digit_flagged")


# Evaluate knobs that change no score: the gates' thresholds and the gallery's length.
NOT_SCORED = ("min_accuracy", "conversion_tolerance", "gallery_size")


def field_scores(classify: Classify, field: FieldData, uncertain_below: float) -> dict[str, float]:
    """On the held-out accepted corrections (the 28x28 images the model saw), the share
    answered right as the service answers: the labelled digit, or for "not a digit" an
    uncertain answer. None without field data."""
    if not len(field.ids):
        return {}
    right = []
    for probabilities, label in zip(classify(field.images), field.labels, strict=True):
        given = answer(probabilities, uncertain_below)
        right.append(given["uncertain"] if label == NOT_A_DIGIT else given["digit"] == label)
    return {"field_accuracy": round(float(np.mean(right)), 6), "field_size": len(right)}


def evaluate_model(
    classify: Classify,
    images: np.ndarray,
    labels: np.ndarray,
    params: dict,
    uncertain_below: float,
    field: FieldData | None = None,
) -> tuple[dict[str, float], np.ndarray, list[dict]]:
    """Every score of metrics.json for one model, its test-set probabilities and the facts of
    its answers to the realistic images: what the evaluate stage reports and what promotion
    compares, for a new model and a champion alike. `field`: held-out accepted corrections
    (field_accuracy), when there are any."""
    probabilities = classify(images)
    metrics = score_predictions(probabilities, labels)
    wild, seed = params["wild_per_style"], params["wild_seed"]
    realistic, realistic_facts = wild_scores(classify, images, labels, wild, seed, uncertain_below)
    metrics |= realistic
    metrics |= non_digit_scores(classify, params["non_digits"], seed, uncertain_below)
    if field is not None:
        metrics |= field_scores(classify, field, uncertain_below)
    return metrics, probabilities, realistic_facts


def evaluation_digest(params: dict, data_digest: str, field_digest: str) -> str:
    """What makes two models' scores comparable: the same data and field snapshot, the same
    evaluate knobs (uncertain rule included) and the same realistic-image generator. Promotion
    compares scores directly only when this matches, and scores the champion again otherwise."""
    scored = {key: value for key, value in params.items() if key not in NOT_SCORED}
    generator = Path(__file__).with_name("wild.py").read_bytes()
    identity = json.dumps([scored, data_digest, field_digest], sort_keys=True).encode()
    return hashlib.sha256(identity + hashlib.sha256(generator).digest()).hexdigest()


def most_confident_mistakes(
    probabilities: np.ndarray, labels: np.ndarray, count: int
) -> np.ndarray:
    """Indices of the misclassified images the model was surest about, surest first."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:count]]


def confusion_csv(labels: np.ndarray, predicted: np.ndarray) -> str:
    """One `actual,predicted` row per image, the input DVC's confusion template expects."""
    rows = ["actual,predicted", *(f"{a},{p}" for a, p in zip(labels, predicted, strict=True))]
    return "\n".join(rows) + "\n"
