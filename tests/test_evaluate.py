import numpy as np
import pytest

from digits.evaluate import (
    confusion_csv,
    confusion_matrix,
    cross_entropy,
    most_confident_mistakes,
    per_class_scores,
    score_predictions,
)


def one_hot_ish(predicted: list[int], confidence: list[float]) -> np.ndarray:
    probabilities = np.zeros((len(predicted), 10))
    for row, (digit, p) in enumerate(zip(predicted, confidence, strict=True)):
        probabilities[row] = (1 - p) / 9
        probabilities[row, digit] = p
    return probabilities


LABELS = np.array([0, 1, 2, 2, 3])
PROBABILITIES = one_hot_ish([0, 1, 2, 3, 2], [0.9, 0.8, 0.7, 0.6, 0.95])


def test_scores_on_a_known_case() -> None:
    metrics = score_predictions(PROBABILITIES, LABELS)
    assert metrics["test_accuracy"] == pytest.approx(0.6)
    assert metrics["test_errors"] == 2
    expected_loss = -np.mean(np.log([0.9, 0.8, 0.7, 0.4 / 9, 0.05 / 9]))
    assert metrics["test_loss"] == pytest.approx(expected_loss, abs=1e-6)


def test_confusion_and_per_class_scores() -> None:
    confusion = confusion_matrix(LABELS, PROBABILITIES.argmax(axis=1))
    assert confusion.sum() == 5 and confusion[2, 3] == 1 and confusion[3, 2] == 1
    scores = per_class_scores(confusion)
    assert [s["digit"] for s in scores] == list(range(10))
    assert scores[0] == {"digit": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert scores[2]["precision"] == pytest.approx(0.5) and scores[2]["recall"] == pytest.approx(
        0.5
    )
    assert scores[3] == {"digit": 3, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert scores[7] == {"digit": 7, "precision": 0.0, "recall": 0.0, "f1": 0.0}  # absent class


def test_most_confident_mistakes_come_first() -> None:
    np.testing.assert_array_equal(most_confident_mistakes(PROBABILITIES, LABELS, 5), [4, 3])
    np.testing.assert_array_equal(most_confident_mistakes(PROBABILITIES, LABELS, 1), [4])


def test_cross_entropy_is_clipped_for_zero_probability() -> None:
    assert cross_entropy(np.array([[1.0, 0.0]]), np.array([1])) == pytest.approx(-np.log(1e-7))


def test_confusion_csv_for_dvc_plots() -> None:
    assert confusion_csv(np.array([1, 2]), np.array([1, 7])) == "actual,predicted\n1,1\n2,7\n"
