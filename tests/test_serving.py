import json
import subprocess
import sys

import numpy as np
import pytest

from digits.policy import CutRanking, Policy
from digits.serving import answer, blank_answer

RULE = Policy(uncertain_below=0.95, not_digit_below=0.6)


def probabilities_with_top(digit: int, top: float) -> np.ndarray:
    probabilities = np.full(10, (1 - top) / 9, dtype=np.float32)
    probabilities[digit] = top
    return probabilities


def test_a_sure_answer_names_the_digit_without_a_flag() -> None:
    result = answer(probabilities_with_top(7, 0.99), RULE)
    assert result["digit"] == 7 and result["confidence"] == pytest.approx(0.99)
    assert len(result["probabilities"]) == 10 and result["uncertain"] is False
    assert "reason" not in result


@pytest.mark.parametrize("top", [0.6, 0.94])
def test_below_the_threshold_a_readable_guess_is_hard_to_read(top: float) -> None:
    probabilities = probabilities_with_top(4, top)
    probabilities[9] += probabilities[0]  # the runner-up takes another's share
    probabilities[0] = 0
    result = answer(probabilities / probabilities.sum(), RULE)
    assert result["digit"] == 4 and result["uncertain"] is True
    assert result["why"] == "low_confidence" and "below 0.95" in result["reason"]


def test_probability_spread_over_all_digits_is_not_a_digit() -> None:
    result = answer(probabilities_with_top(4, 0.3), RULE)  # the two likeliest: 0.38
    assert result["digit"] == 4 and result["uncertain"] is True
    assert result["why"] == "not_a_digit" and "does not look like a digit" in result["reason"]


def test_the_thresholds_are_the_callers() -> None:
    assert answer(probabilities_with_top(1, 0.7), Policy(0.6))["uncertain"] is False
    assert answer(probabilities_with_top(1, 0.7), Policy(0.8))["why"] == "low_confidence"
    assert answer(probabilities_with_top(1, 0.7), Policy(0.8, 0.9))["why"] == "not_a_digit"


def test_the_policy_travels_as_a_dict_and_older_versions_have_no_not_digit_rule() -> None:
    assert Policy.of(RULE.as_dict()) == RULE
    ranked = Policy(0.9, cut_ranking=CutRanking(1.0, 0.3, 5.0, -2.5))
    assert Policy.of(json.loads(json.dumps(ranked.as_dict()))) == ranked
    assert Policy.of({"uncertain_below": 0.9}) == Policy(0.9, 0.0)


def test_a_blank_image_names_no_digit() -> None:
    result = blank_answer("no digit found: the image is blank")
    assert result["digit"] is None and result["probabilities"] is None
    assert result["uncertain"] is True and result["reason"].startswith("no digit found")
    assert result["why"] == "no_digit"


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
