"""Test-set metrics: accuracy, loss, per-class precision/recall/F1, confusion, worst mistakes."""

from collections.abc import Callable

import numpy as np

from digits.idx import NUM_CLASSES
from digits.images import ImageError, to_mnist
from digits.wild import STYLES, make_wild_set


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


def wild_scores(
    classify: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    per_style: int,
    seed: int,
) -> dict[str, float]:
    """Accuracy on realistic user images made from test digits, through the service's own
    preprocessing: overall (`wild_accuracy`) and per style. An image the preprocessing
    cannot read counts as wrong."""
    samples = make_wild_set(images, per_style, seed)
    pixels, readable = [], []
    for _, _, data in samples:
        try:
            pixels.append(to_mnist(data).pixels)
            readable.append(True)
        except ImageError:
            readable.append(False)
    predicted = iter(classify(np.stack(pixels)).argmax(axis=1) if pixels else [])
    correct = {name: [] for name in STYLES}
    for (style, index, _), ok in zip(samples, readable, strict=True):
        correct[style].append(ok and next(predicted) == labels[index])
    scores = {
        f"wild_accuracy_{name}": round(float(np.mean(hits)), 6)
        for name, hits in correct.items()
        if hits
    }
    everything = [hit for hits in correct.values() for hit in hits]
    return {"wild_accuracy": round(float(np.mean(everything)), 6), **scores}


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
