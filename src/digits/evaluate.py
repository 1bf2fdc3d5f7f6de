"""Scoring a model: test-set metrics, realistic images, non-digits, whole numbers, field data;
the policy curve; confusion and the worst mistakes."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits.facts import facts
from digits.field_data import FieldData
from digits.mnist import NOT_A_DIGIT, NUM_CLASSES
from digits.non_digits import HELD_OUT, TRAINED
from digits.number_reading import read_number
from digits.policy import Policy
from digits.serving import Reading, answer, answer_images
from digits.wild import NOTHING, make_non_digit_set, make_number_set, make_wild_set

Classify = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28) pixels -> (N, 10) probabilities


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


def _answers(readings: list[Reading]) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the digit the service names (-1 for none: blank or unreadable) and whether it
    flags it uncertain."""
    answers = [reading.answer for reading in readings]
    digits = np.array([-1 if a.get("digit") is None else a["digit"] for a in answers])
    uncertain = np.array([a.get("uncertain", True) for a in answers], dtype=bool)
    return digits, uncertain


def _mean_by(groups: list[str], values: np.ndarray, prefix: str) -> dict[str, float]:
    """The overall mean as `prefix` and the mean of each group as `prefix_<group>`."""
    scores = {prefix: round(float(np.mean(values)), 6)}
    for group in dict.fromkeys(groups):
        members = np.array([g == group for g in groups])
        scores[f"{prefix}_{group}"] = round(float(np.mean(values[members])), 6)
    return scores


def wild_scores(
    classify: Classify,
    images: np.ndarray,
    labels: np.ndarray,
    per_style: int,
    seed: int,
    policy: Policy,
) -> tuple[dict[str, float], list[dict]]:
    """Accuracy on realistic user images made from test digits, through the service's own
    preprocessing: overall (`wild_accuracy`) and per style, and the share of them the service
    would flag uncertain (`wild_uncertain`); an image it cannot read counts as wrong. And the
    facts the prediction log would record of the answers: the drift report's reference when no
    served traffic has been pinned."""
    samples = make_wild_set(images, per_style, seed)
    readings = answer_images(classify, [data for _, _, data in samples], policy)
    digits, uncertain = _answers(readings)
    correct = digits == labels[[index for _, index, _ in samples]]
    styles = [style for style, _, _ in samples]
    scores = {
        **_mean_by(styles, correct, "wild_accuracy"),
        "wild_uncertain": round(float(np.mean(uncertain)), 6),
    }
    return scores, [facts(r.answer, r.prepared) for r in readings if "error" not in r.answer]


@dataclass(frozen=True)
class MissedNonDigit:
    """A drawing of no digit that the service named as a digit, unflagged."""

    kind: str
    pixels: np.ndarray  # the 28x28 image the model saw
    digit: int
    confidence: float


def non_digit_scores(
    classify: Classify, per_kind: int, seed: int, policy: Policy
) -> tuple[dict, list[MissedNonDigit]]:
    """The share of images showing no digit that the service flags uncertain instead of naming
    a digit: per kind, over the drawings of kinds trained on (`_trained`), of kinds never
    trained on (`_held_out`: how the lesson generalises) and of all drawings (the headline);
    and the share of them flagged as "not a digit" rather than "hard to read" (`_called`).
    And the drawings it named, surest first: what a gallery shows."""
    samples = make_non_digit_set(per_kind, seed)
    readings = answer_images(classify, [data for _, _, data in samples], policy)
    _, uncertain = _answers(readings)
    kinds = np.array([kind for kind, _, _ in samples])
    missed = [
        MissedNonDigit(str(kind), r.prepared.pixels, r.answer["digit"], r.answer["confidence"])
        for kind, r, flagged in zip(kinds, readings, uncertain, strict=True)
        if not flagged
    ]
    called = np.array([r.answer.get("why") in ("not_a_digit", "no_digit") for r in readings])
    scores = _mean_by(list(kinds), uncertain, "non_digit_flagged")
    drawn = kinds != NOTHING
    scores["non_digit_flagged"] = round(float(np.mean(uncertain[drawn])), 6)
    for group, members in (("trained", TRAINED), ("held_out", HELD_OUT)):
        chosen = np.isin(kinds, members)
        scores[f"non_digit_flagged_{group}"] = round(float(np.mean(uncertain[chosen])), 6)
    scores["non_digit_called"] = round(float(np.mean(called[drawn])), 6)
    return scores, sorted(missed, key=lambda m: -m.confidence)


def number_scores(
    classify: Classify,
    images: np.ndarray,
    labels: np.ndarray,
    count: int,
    seed: int,
    policy: Policy,
) -> dict[str, float]:
    """Whole numbers of 1 to 6 test digits in the realistic number styles, read as /read reads
    them: the share read exactly, of `count` numbers whose digits stand apart
    (`number_accuracy_apart`) and of `count` with a touching pair (`_touching`); per style; the
    share of their digits read right in place (`number_digit_accuracy`: a number read with
    the wrong count of digits has none right) and the share flagged uncertain."""
    scores: dict[str, float] = {}
    right_digits = written_digits = 0
    for group, touching in (("apart", False), ("touching", True)):
        samples = make_number_set(images, labels, count, seed, touching)
        read = [read_number(classify, sample.data, policy).answer for sample in samples]
        numbers = [answer.get("number") or "" for answer in read]
        written = [sample.number for sample in samples]
        right = np.array([got == want for got, want in zip(numbers, written, strict=True)])
        styles = [sample.style for sample in samples]
        scores |= _mean_by(styles, right, f"number_accuracy_{group}")
        scores[f"number_uncertain_{group}"] = round(
            float(np.mean([answer.get("uncertain", True) for answer in read])), 6
        )
        for got, want in zip(numbers, written, strict=True):
            written_digits += len(want)
            if len(got) == len(want):
                right_digits += sum(a == b for a, b in zip(got, want, strict=True))
    scores["number_digit_accuracy"] = round(right_digits / max(written_digits, 1), 6)
    return scores


# Candidate thresholds for the uncertain policy, scored on the validation split: 0.30 to 0.95
# by 0.05, and 0.99.
POLICY_THRESHOLDS = (*(round(0.3 + 0.05 * step, 2) for step in range(14)), 0.99)


def policy_curve(
    classify: Classify, images: np.ndarray, per_style: int, per_kind: int, seed: int
) -> list[dict]:
    """What the policy is chosen from, on validation data only: realistic images made from
    validation digits, and fresh drawings of the non-digit kinds trained on (never the held-out
    kinds, which measure the choice). Per candidate threshold t, the share of each that
    `uncertain_below: t` flags, and the share that `not_digit_below: t` calls "not a digit"
    (the two likeliest digits together below t)."""
    rows = [{"threshold": threshold} for threshold in POLICY_THRESHOLDS]
    sets = {"digits": make_wild_set(images, per_style, seed),
            "non_digits": make_non_digit_set(per_kind, seed, TRAINED)}  # fmt: skip
    for name, samples in sets.items():
        readings = answer_images(classify, [data for *_, data in samples], Policy(0.0))
        # blank or unreadable images get no probabilities: the thresholds do not apply
        read = [r.answer["probabilities"] for r in readings if r.answer.get("probabilities")]
        top = np.max(read, axis=1)
        top_two = np.sort(read, axis=1)[:, -2:].sum(axis=1)
        for row in rows:
            row[f"{name}_flagged"] = round(float(np.mean(top < row["threshold"])), 6)
            row[f"{name}_called_not_a_digit"] = round(float(np.mean(top_two < row["threshold"])), 6)
    return rows


# The modules that make the realistic images, numbers and non-digits every model is scored on,
# and that read numbers (segmentation is not part of the model, but its scores are).
GENERATORS = ("wild.py", "compose.py", "non_digits.py", "segmentation.py", "number_reading.py")
# Evaluate knobs that change no score: the gates' thresholds and the gallery's length.
NOT_SCORED = ("min_accuracy", "conversion_tolerance", "gallery_size")


def field_scores(classify: Classify, field: FieldData, policy: Policy) -> dict[str, float]:
    """On the held-out accepted corrections (the 28x28 images the model saw), the share
    answered right as the service answers: the labelled digit, or for "not a digit" an
    uncertain answer. None without field data."""
    if not len(field.ids):
        return {}
    right = []
    for probabilities, label in zip(classify(field.images), field.labels, strict=True):
        given = answer(probabilities, policy)
        right.append(given["uncertain"] if label == NOT_A_DIGIT else given["digit"] == label)
    return {"field_accuracy": round(float(np.mean(right)), 6), "field_size": len(right)}


@dataclass(frozen=True)
class Evaluation:
    """One model's evaluation: what the evaluate stage reports and promotion compares."""

    metrics: dict[str, float]  # every score of metrics.json
    probabilities: np.ndarray  # on the test set
    realistic_facts: list[dict]  # of its answers to the realistic images (the drift reference)
    missed_non_digits: list[MissedNonDigit]  # surest first


def evaluate_model(
    classify: Classify,
    images: np.ndarray,
    labels: np.ndarray,
    params: dict,
    policy: Policy,
    field: FieldData | None = None,
) -> Evaluation:
    """Every score of metrics.json for one model, and what its reports show, for a new model
    and a champion alike. `field`: held-out accepted corrections (field_accuracy), when there
    are any."""
    probabilities = classify(images)
    metrics = score_predictions(probabilities, labels)
    wild, seed = params["wild_per_style"], params["wild_seed"]
    realistic, realistic_facts = wild_scores(classify, images, labels, wild, seed, policy)
    metrics |= realistic
    non_digits, missed = non_digit_scores(classify, params["non_digits_per_kind"], seed, policy)
    metrics |= non_digits
    numbers = params["numbers_per_group"]
    metrics |= number_scores(classify, images, labels, numbers, seed, policy)
    if field is not None:
        metrics |= field_scores(classify, field, policy)
    return Evaluation(metrics, probabilities, realistic_facts, missed)


def evaluation_digest(params: dict, data_digest: str, field_digest: str) -> str:
    """What makes two models' scores comparable: the same data and field snapshot, the same
    evaluate knobs (uncertain rule included) and the same GENERATORS. Promotion
    compares scores directly only when this matches, and scores the champion again otherwise."""
    scored = {key: value for key, value in params.items() if key not in NOT_SCORED}
    generators = [Path(__file__).with_name(name).read_bytes() for name in GENERATORS]
    identity = json.dumps([scored, data_digest, field_digest], sort_keys=True).encode()
    digests = b"".join(hashlib.sha256(generator).digest() for generator in generators)
    return hashlib.sha256(identity + digests).hexdigest()


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


def rows_csv(rows: list[dict]) -> str:
    """Rows with the same keys as CSV, the first row's keys as the header."""
    lines = [",".join(rows[0]), *(",".join(str(value) for value in row.values()) for row in rows)]
    return "\n".join(lines) + "\n"
