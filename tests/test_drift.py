"""The drift checks: quiet on two samples of one distribution, loud on the check that moved,
with a report and a picture."""

import json
from pathlib import Path

import numpy as np
import pytest

from digits.drift import compare, plot, report


def answers(
    count: int, seed: int, confidence: float = 30.0, side: int = 400, ink: float = 0.08
) -> list[dict]:
    """Fact rows like the prediction log's: digits 0-9, confidences near 1, photo-sized PNGs."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        p = float(1 - rng.beta(1, confidence))
        width = int(side * rng.uniform(0.8, 1.25))
        rows.append({
            "digit": int(rng.integers(10)), "confidence": p, "uncertain": p < 0.95,
            "why": "low_confidence" if p < 0.95 else None,
            "format": str(rng.choice(["PNG", "JPEG"], p=[0.3, 0.7])), "width": width,
            "height": int(width * rng.uniform(0.8, 1.2)), "inverted": bool(rng.random() < 0.9),
            "ink": float(rng.gamma(4, ink / 4)),
        })  # fmt: skip
    return rows


def drifted(checks: list) -> set[str]:
    return {check.name for check in checks if check.drift}


def test_false_alarms_stay_near_alpha() -> None:
    """100 windows drawn from the reference's distribution: at alpha 0.01 about one may raise
    an alarm; more than 4 would happen by chance with probability 0.003."""
    windows = [(answers(1000, seed), answers(500, 1000 + seed)) for seed in range(100)]
    alarms = [i for i, (ref, cur) in enumerate(windows) if drifted(compare(ref, cur, alpha=0.01))]
    assert len(alarms) <= 4, alarms


def test_less_confident_answers_drift_in_confidence_and_uncertain_rate() -> None:
    checks = compare(answers(1000, 1), answers(500, 2, confidence=5.0), alpha=0.01)
    assert {"confidence", "uncertain"} <= drifted(checks)
    assert "size" not in drifted(checks)


def test_smaller_thicker_images_drift_in_size_and_ink() -> None:
    checks = compare(answers(1000, 1), answers(500, 2, side=60, ink=0.2), alpha=0.01)
    assert drifted(checks) == {"size", "ink"}


def test_a_changed_digit_mix_drifts() -> None:
    current = answers(500, 2)
    for row in current[:150]:
        row["digit"] = 7
    assert drifted(compare(answers(1000, 1), current, alpha=0.01)) == {"digits"}


def test_no_digit_answers_count_as_a_class_of_their_own() -> None:
    current = answers(500, 2)
    for row in current[:100]:
        row.update(digit=None, confidence=None, uncertain=True, why="no_digit", format=None,
                   width=None, height=None, inverted=None, ink=None)  # fmt: skip
    checks = {check.name: check for check in compare(answers(1000, 1), current, alpha=0.01)}
    assert checks["digits"].drift and checks["digits"].current["none"] == 0.2


def test_the_report_and_the_picture(tmp_path: Path) -> None:
    reference, current = answers(300, 1), answers(200, 2, side=60)
    checks = compare(reference, current, alpha=0.01)
    result = report(checks, "reports/realistic_answers.csv", len(current))
    assert result["drift"] is True
    size = json.loads(json.dumps(result))["checks"]["size"]
    assert size["test"] == "Kolmogorov-Smirnov" and size["p_value"] < size["threshold"]
    assert size["threshold"] == pytest.approx(0.01 / 7)
    plot(checks, reference, current, tmp_path / "drift.png")
    assert (tmp_path / "drift.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
