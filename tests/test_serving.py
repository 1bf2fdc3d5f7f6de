import subprocess
import sys

import numpy as np
import pytest

from digits.serving import answer, blank_answer

RULE = 0.95  # evaluate.uncertain_below's default


def probabilities_with_top(digit: int, top: float) -> np.ndarray:
    probabilities = np.full(10, (1 - top) / 9, dtype=np.float32)
    probabilities[digit] = top
    return probabilities


def test_a_sure_answer_names_the_digit_without_a_flag() -> None:
    result = answer(probabilities_with_top(7, 0.99), RULE)
    assert result["digit"] == 7 and result["confidence"] == pytest.approx(0.99)
    assert len(result["probabilities"]) == 10 and result["uncertain"] is False
    assert "reason" not in result


@pytest.mark.parametrize("top", [0.3, RULE - 0.01])
def test_below_the_threshold_the_answer_is_flagged_with_a_reason(top: float) -> None:
    result = answer(probabilities_with_top(4, top), RULE)
    assert result["digit"] == 4 and result["uncertain"] is True
    assert f"below {RULE}" in result["reason"]


def test_the_threshold_is_the_callers() -> None:
    assert answer(probabilities_with_top(1, 0.7), uncertain_below=0.6)["uncertain"] is False
    assert answer(probabilities_with_top(1, 0.7), uncertain_below=0.8)["uncertain"] is True


def test_a_blank_image_names_no_digit() -> None:
    result = blank_answer("no digit found: the image is blank")
    assert result["digit"] is None and result["probabilities"] is None
    assert result["uncertain"] is True and result["reason"].startswith("no digit found")


def test_the_converted_model_answers_like_keras_for_any_batch(tmp_path) -> None:
    from digits.convert import conversion_check, convert
    from digits.model import build_model
    from digits.serving import DigitClassifier

    model = build_model([8, 16], 3, 32, architecture="bn", dropout=0.2)
    convert(model, tmp_path / "model.tflite")
    classifier = DigitClassifier(tmp_path / "model.tflite", threads=1)
    images = np.random.default_rng(1).random((5, 28, 28, 1), dtype=np.float32)
    expected = model(images, training=False).numpy()
    for count in (1, 5):
        np.testing.assert_allclose(
            classifier.probabilities(images[:count]), expected[:count], atol=1e-5
        )
    assert classifier.probabilities(images[:0]).shape == (0, 10)
    check, served = conversion_check(model, classifier, images)
    assert check["changed_predictions"] == 0 and check["max_probability_difference"] < 1e-5
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_serving_needs_no_tensorflow() -> None:
    """What the bento imports runs with TensorFlow, Keras, MLflow and DVC unimportable."""
    blocked = ["tensorflow", "keras", "mlflow", "dvc", "matplotlib", "pandas"]
    code = (
        f"import sys\nfor name in {blocked!r}: sys.modules[name] = None\n"
        "import digits.serving, digits.limits, digits.settings, digits.images\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
