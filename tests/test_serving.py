import numpy as np
import pytest

from digits.serving import UNCERTAIN_BELOW, answer, blank_answer


def probabilities_with_top(digit: int, top: float) -> np.ndarray:
    probabilities = np.full(10, (1 - top) / 9, dtype=np.float32)
    probabilities[digit] = top
    return probabilities


def test_a_sure_answer_names_the_digit_without_a_flag() -> None:
    result = answer(probabilities_with_top(7, 0.99))
    assert result["digit"] == 7 and result["confidence"] == pytest.approx(0.99)
    assert len(result["probabilities"]) == 10 and result["uncertain"] is False
    assert "reason" not in result


@pytest.mark.parametrize("top", [0.3, UNCERTAIN_BELOW - 0.01])
def test_below_the_threshold_the_answer_is_flagged_with_a_reason(top: float) -> None:
    result = answer(probabilities_with_top(4, top))
    assert result["digit"] == 4 and result["uncertain"] is True
    assert f"below {UNCERTAIN_BELOW}" in result["reason"]


def test_the_threshold_can_be_chosen_per_call() -> None:
    assert answer(probabilities_with_top(1, 0.7), uncertain_below=0.6)["uncertain"] is False
    assert answer(probabilities_with_top(1, 0.7), uncertain_below=0.8)["uncertain"] is True


def test_a_blank_image_names_no_digit() -> None:
    result = blank_answer("no digit found: the image is blank")
    assert result["digit"] is None and result["probabilities"] is None
    assert result["uncertain"] is True and result["reason"].startswith("no digit found")


def test_classifier_answers_like_the_keras_model_for_any_batch(tmp_path) -> None:
    from digits.model import build_model
    from digits.serving import DigitClassifier

    model = build_model([8, 16], 3, 32, architecture="bn", dropout=0.2)
    model.save(tmp_path / "model.keras")
    classifier = DigitClassifier(tmp_path / "model.keras", threads=1)
    assert classifier._lite is not None  # the fast path is in use, not the fallback
    images = np.random.default_rng(1).random((5, 28, 28), dtype=np.float32)
    expected = model(images[..., None], training=False).numpy()
    for count in (1, 5):
        np.testing.assert_allclose(
            classifier.probabilities(images[:count]), expected[:count], atol=1e-5
        )
    assert classifier.probabilities(images[:0]).shape == (0, 10)
