"""Fitting how cuts of touching digits are ranked (make fit-cuts)."""

import subprocess
import sys

import numpy as np
import pytest
from support.writing import BoxReader, page, seven

from digits.cut_ranking import PairCuts, fit, pair_cuts, ranked_right
from digits.errors import DigitsError
from digits.policy import CutRanking
from digits.wild import NumberSample


def test_the_fit_finds_what_marks_the_right_cut() -> None:
    rng = np.random.default_rng(0)
    examples = []
    for _ in range(200):
        features = rng.normal(size=(8, 4))
        right = np.zeros(8, bool)
        right[np.argmax(features[:, 2] - features[:, 0])] = True  # ink, against sureness
        examples.append(PairCuts(features, right))
    fitted = fit(examples)
    assert fitted.ink_at_cut > 0 > fitted.less_sure_piece
    assert ranked_right(examples, fitted) > 0.9 > ranked_right(examples, CutRanking())


def test_nothing_to_learn_from_is_a_clear_error() -> None:
    all_right = PairCuts(np.zeros((3, 4)), np.ones(3, bool))
    with pytest.raises(DigitsError, match="both right and wrong cuts"):
        fit([all_right])


def test_the_cuts_of_a_touching_pair_are_marked_by_how_they_read() -> None:
    sample = NumberSample("canvas", "11", page([seven(100), seven(152)]), pair=0)
    found = pair_cuts(BoxReader(), sample)  # pieces narrow enough read as 1
    assert found is not None and found.features.shape == (len(found.right), 4)
    assert found.right.any()
    apart = NumberSample("canvas", "11", page([seven(60), seven(250)]), pair=0)
    assert pair_cuts(BoxReader(), apart) is None  # two glyphs: no pair to cut


def test_fit_cuts_without_a_model_says_what_to_run(tmp_path) -> None:
    missing = tmp_path / "model.tflite"
    command = [sys.executable, "-m", "digits.cut_ranking", "--model", str(missing)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"{missing} is missing (run `dvc repro evaluate` first)" in done.stderr
