import numpy as np
import pytest
from support.data import synthetic_digits

from digits.evaluate import (
    calibration_error,
    confusion_csv,
    confusion_matrix,
    cross_entropy,
    most_confident_mistakes,
    non_digit_scores,
    per_class_scores,
    policy_curve,
    rows_csv,
    score_predictions,
    wild_scores,
)
from digits.non_digits import HELD_OUT, TRAINED
from digits.policy import CutRanking, Policy, choose_policy
from digits.wild import NOTHING, STYLES


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


def test_calibration_error_is_the_confidence_accuracy_gap() -> None:
    labels = np.array([0, 0, 0, 0])
    sure_and_right = one_hot_ish([0, 0, 0, 0], [1.0, 1.0, 1.0, 1.0])
    assert calibration_error(sure_and_right, labels) == pytest.approx(0.0)
    half_right = one_hot_ish([0, 1, 0, 1], [0.9, 0.9, 0.9, 0.9])
    assert calibration_error(half_right, labels) == pytest.approx(0.4)


def test_wild_scores_per_style() -> None:
    images, labels = synthetic_digits(20, seed=3)
    digits = images.astype(np.float32) / 255.0

    def always_zero(pixels: np.ndarray) -> np.ndarray:
        return np.eye(10)[np.zeros(len(pixels), dtype=int)]

    scores, _ = wild_scores(always_zero, digits, labels, 20, seed=1, policy=Policy(0.8))
    names = {"wild_accuracy", "wild_uncertain", *(f"wild_accuracy_{s}" for s in STYLES)}
    assert set(scores) == names
    # Every style shows all 20 digits, two of them zeros: each style, and so the whole set,
    # scores exactly 2 / 20 (less where a style made an image the preprocessing cannot read).
    assert np.count_nonzero(labels == 0) == 2
    accuracies = {name: value for name, value in scores.items() if name != "wild_uncertain"}
    assert accuracies == dict.fromkeys(accuracies, 0.1)
    assert scores["wild_uncertain"] == 0.0  # sure of every answer, and every image was readable


def test_uncertain_shares_follow_the_confidence_threshold() -> None:
    images, labels = synthetic_digits(8, seed=3)
    digits = images.astype(np.float32) / 255.0

    def seventy_percent(pixels: np.ndarray) -> np.ndarray:
        probabilities = np.full((len(pixels), 10), 0.3 / 9)
        probabilities[:, 0] = 0.7
        return probabilities

    assert wild_scores(seventy_percent, digits, labels, 8, 1, Policy(0.8))[0]["wild_uncertain"] == 1
    assert wild_scores(seventy_percent, digits, labels, 8, 1, Policy(0.6))[0]["wild_uncertain"] == 0
    flagged, missed = non_digit_scores(seventy_percent, 2, seed=2, policy=Policy(0.6))
    kinds = (*TRAINED, *HELD_OUT, NOTHING)
    groups = ("trained", "held_out", *kinds)
    assert set(flagged) == {"non_digit_flagged", "non_digit_called",
                            *(f"non_digit_flagged_{g}" for g in groups)}  # fmt: skip
    # photos of nothing are blank to the preprocessing: flagged whatever the model says
    assert flagged["non_digit_flagged_nothing"] == 1.0
    assert flagged["non_digit_flagged_letter"] == 0.0
    assert flagged["non_digit_flagged"] == 0.0  # the headline is over drawings only
    # every drawing was named 0 unflagged: the gallery shows them, as the model saw them
    assert sorted(m.kind for m in missed) == sorted(2 * (*TRAINED, *HELD_OUT))
    assert all(m.digit == 0 and m.confidence == 0.7 and m.pixels.shape == (28, 28) for m in missed)
    sure_not, none_missed = non_digit_scores(seventy_percent, 2, 2, Policy(0.8))
    assert sure_not["non_digit_flagged"] == 1.0 and sure_not["non_digit_called"] == 0.0
    assert none_missed == []
    called, _ = non_digit_scores(seventy_percent, 2, 2, Policy(0.8, not_digit_below=0.8))
    assert called["non_digit_called"] == 1.0  # the two likeliest: 0.73


def test_wild_image_the_preprocessing_cannot_read_counts_as_wrong(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        "digits.evaluate.make_wild_set", lambda *args: [("scan", 0, b"not an image")]
    )
    everything_right = lambda pixels: np.eye(10)[np.zeros(len(pixels), dtype=int)]  # noqa: E731
    scores, _ = wild_scores(
        everything_right, np.zeros((1, 28, 28)), np.array([0]), 1, 0, Policy(0.8)
    )
    assert scores["wild_accuracy"] == 0.0 and scores["wild_accuracy_scan"] == 0.0
    assert scores["wild_uncertain"] == 1.0


def test_the_policy_curve_shows_what_each_threshold_flags_on_validation_images() -> None:
    images, _ = synthetic_digits(6, seed=4)

    curve = policy_curve(
        lambda pixels: np.tile(np.eye(10)[0] * 0.6 + 0.04, (len(pixels), 1)),
        images.astype(np.float32) / 255, per_style=2, per_kind=2, seed=1,
    )  # fmt: skip
    thresholds = [row["threshold"] for row in curve]
    assert thresholds == sorted(thresholds) and len(thresholds) > 5
    for row in curve:  # every image gets 0.64 for its digit, 0.68 for the two likeliest
        for images_of in ("digits", "non_digits"):
            assert row[f"{images_of}_flagged"] == (1.0 if row["threshold"] > 0.64 else 0.0)
            called = row[f"{images_of}_called_not_a_digit"]
            assert called == (1.0 if row["threshold"] > 0.68 else 0.0)
    text = rows_csv(curve)
    assert text.splitlines()[0] == ",".join(curve[0]) and len(text.splitlines()) == len(curve) + 1


def curve_of(flagged: list[float], called: list[float]) -> list[dict]:
    return [
        {"threshold": t, "digits_flagged": f, "digits_called_not_a_digit": c}
        for t, f, c in zip((0.5, 0.6, 0.7, 0.8), flagged, called, strict=True)
    ]


SETTINGS = {
    "policy_rule": {"max_digits_flagged": 0.015, "max_digits_called_not_a_digit": 0.01},
    "one_digit_above": 0.4,
    "cut_ranking": {"margins": 0.5},
}


def test_the_policy_is_the_largest_threshold_within_the_rule_for_each_reason() -> None:
    curve = curve_of([0.005, 0.012, 0.015, 0.021], [0.002, 0.011, 0.012, 0.02])
    policy = choose_policy(curve, SETTINGS)
    assert (policy.uncertain_below, policy.not_digit_below) == (0.7, 0.5)
    assert policy.one_digit_above == 0.4 and policy.cut_ranking == CutRanking(margins=0.5)
    everything_within = choose_policy(curve_of([0.0] * 4, [0.0] * 4), SETTINGS)
    assert (everything_within.uncertain_below, everything_within.not_digit_below) == (0.8, 0.8)


def test_a_model_unsure_of_every_digit_gets_the_lowest_threshold_and_a_warning(
    capsys: pytest.CaptureFixture,
) -> None:
    policy = choose_policy(curve_of([0.05, 0.1, 0.2, 0.3], [0.0] * 4), SETTINGS)
    assert (policy.uncertain_below, policy.not_digit_below) == (0.5, 0.8)
    warning = capsys.readouterr().out
    assert "threshold 0.5 gives digits_flagged 5.00%" in warning and "1.50% allowed" in warning
