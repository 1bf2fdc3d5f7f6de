"""Test-set metrics: accuracy, loss, per-class precision/recall/F1, confusion, worst mistakes."""

import numpy as np

from digits.idx import NUM_CLASSES


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


def score_predictions(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """The metrics.json content: test_accuracy, test_loss and the number of errors."""
    predicted = probabilities.argmax(axis=1)
    return {
        "test_accuracy": round(float(np.mean(predicted == labels)), 6),
        "test_loss": round(cross_entropy(probabilities, labels), 6),
        "test_errors": int(np.sum(predicted != labels)),
    }


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
