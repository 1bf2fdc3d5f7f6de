"""Which score tells non-digits from digits best, on validation data: the model's top
probability (what the service's policy uses), its largest logit, its energy (log-sum-exp of
the logits) or a Mahalanobis distance of its last hidden features to the training digits'
class means (one covariance shared by the classes).

For the model in data/model, on the policy curve's own sets (digits.evaluate.policy_curve):
realistic images of validation digits and fresh drawings of the trained non-digit kinds, both
read by the service's preprocessing. Each score's threshold is set where it flags a given
share of the digits; the script prints the share of drawings it then flags, and the AUROC.
The held-out kinds are not looked at: they measure the choice.

    python benchmarks/rejection_scores.py
"""

import sys
from pathlib import Path

import keras
import numpy as np
from scipy.special import logsumexp
from scipy.stats import rankdata

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from digits.dataset import load_split  # noqa: E402
from digits.errors import DigitsError  # noqa: E402
from digits.images import BlankImageError  # noqa: E402
from digits.non_digits import TRAINED  # noqa: E402
from digits.params import load_params  # noqa: E402
from digits.paths import MODEL_FILE, split_file  # noqa: E402
from digits.serving import read_image  # noqa: E402
from digits.wild import make_non_digit_set, make_wild_set  # noqa: E402

DIGITS_FLAGGED = (0.01, 0.015, 0.02)


def read_all(samples: list[tuple]) -> np.ndarray:
    """The images as the service reads them; blank ones get no answer from the model."""
    pixels = []
    for *_, data in samples:
        try:
            pixels.append(read_image(data).pixels)
        except BlankImageError:
            continue
    return np.stack(pixels)[..., None]


class Scorer:
    """The four scores of a Keras model; higher is more like a digit."""

    def __init__(self, model: keras.Model, train_images: np.ndarray, train_labels: np.ndarray):
        last = model.get_layer("probabilities")
        self._features = keras.Model(model.input, last.input)
        self._weights, self._bias = last.get_weights()
        features = self._run(train_images)
        self._means = np.stack([features[train_labels == c].mean(0) for c in range(10)])
        centred = features - self._means[train_labels]
        covariance = centred.T @ centred / len(features)
        self._precision = np.linalg.pinv(covariance)

    def _run(self, images: np.ndarray) -> np.ndarray:
        return self._features.predict(images, batch_size=500, verbose=0)

    def scores(self, images: np.ndarray) -> dict[str, np.ndarray]:
        features = self._run(images)
        logits = features @ self._weights + self._bias
        probabilities = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
        offsets = features[:, None, :] - self._means[None]
        distances = np.einsum("ncd,de,nce->nc", offsets, self._precision, offsets)
        return {
            "top probability (served)": probabilities.max(axis=1),
            "largest logit": logits.max(axis=1),
            "energy": logsumexp(logits, axis=1),
            "Mahalanobis": -distances.min(axis=1),
        }


def auroc(digits: np.ndarray, others: np.ndarray) -> float:
    """The chance that a digit scores higher than a non-digit."""
    ranks = rankdata(np.concatenate([digits, others]))[: len(digits)]
    return float((ranks.sum() - len(digits) * (len(digits) + 1) / 2) / (len(digits) * len(others)))


def main() -> None:
    params = load_params("evaluate")
    try:
        model = keras.models.load_model(MODEL_FILE)
        train, validation = load_split(split_file("train")), load_split(split_file("val"))
    except (DigitsError, OSError, ValueError) as error:
        sys.exit(f"rejection-scores: error: {error} (run `dvc repro train` first)")
    seed = params["wild_seed"]
    digits = read_all(make_wild_set(validation[0], params["wild_per_style"], seed))
    drawings = read_all(make_non_digit_set(params["non_digits_per_kind"], seed, TRAINED))
    print(f"rejection-scores: {len(digits)} realistic validation digits, {len(drawings)} drawings")
    scorer = Scorer(model, *train)
    digit_scores, drawing_scores = scorer.scores(digits), scorer.scores(drawings)
    heads = " | ".join(f"drawings flagged ({share:.1%} of digits)" for share in DIGITS_FLAGGED)
    print(f"\n| score | {heads} | AUROC |\n|---|{'---|' * len(DIGITS_FLAGGED)}---|")
    for name, ours in digit_scores.items():
        theirs = drawing_scores[name]
        flagged = [np.mean(theirs < np.quantile(ours, share)) for share in DIGITS_FLAGGED]
        cells = " | ".join(f"{share:.1%}" for share in flagged)
        print(f"| {name} | {cells} | {auroc(ours, theirs):.4f} |")


if __name__ == "__main__":
    main()
