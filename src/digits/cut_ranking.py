"""Fitting how candidate cuts of touching digits are ranked (params.yaml evaluate.cut_ranking):
`make fit-cuts`.

Numbers with a touching pair are written from the training split's digits; for each pair that
segmentation finds as one glyph, every candidate cut is described by number_reading.cut_features
and marked right when its two pieces read as the two digits written. The weights maximise the
probability that a right cut ranks first (a conditional logit over each glyph's cuts). They are
then checked on numbers of validation digits, against ranking by the less sure piece alone.
"""

import argparse
import sys
from dataclasses import asdict, astuple, dataclass, replace
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from digits.dataset import load_split
from digits.errors import DigitsError
from digits.files import read_json
from digits.images import read_ink
from digits.number_reading import WORK_SIDE, Classify, cut_features, cuts, frame, read_number
from digits.paths import LITE_MODEL_FILE, POLICY_FILE, split_file
from digits.policy import CutRanking, Policy
from digits.segmentation import glyphs_of
from digits.serving import DigitClassifier
from digits.wild import NumberSample, make_number_set

L2 = 1e-4  # weight decay on the mean loss: keeps weights finite where examples say little


@dataclass
class PairCuts:
    """The candidate cuts of one glyph of two touching digits: features and which read right."""

    features: np.ndarray  # (cuts, features)
    right: np.ndarray  # (cuts,) bool


def pair_cuts(classify: Classify, sample: NumberSample) -> PairCuts | None:
    """The cuts of a number's touching pair, or None when segmentation did not find the pair
    as one glyph (or found no cut)."""
    ink = read_ink(sample.data, work_side=WORK_SIDE).ink
    glyphs = glyphs_of(ink)
    if sample.pair is None or len(glyphs) != len(sample.number) - 1:
        return None
    glyph = glyphs[sample.pair]
    found = cuts(glyph)
    if not found:
        return None
    read = classify(np.stack([frame(ink, piece) for _, *pair in found for piece in pair]))
    left, right = read[0::2], read[1::2]
    wanted = [int(d) for d in sample.number[sample.pair : sample.pair + 2]]
    shown = zip(found, left, right, strict=True)
    return PairCuts(
        np.stack([cut_features(glyph, tried, a, b) for tried, a, b in shown]),
        (left.argmax(axis=1) == wanted[0]) & (right.argmax(axis=1) == wanted[1]),
    )


def collect(classify: Classify, samples: list[NumberSample]) -> list[PairCuts]:
    """The pairs' cuts of touching numbers, with progress."""
    found = []
    for index, sample in enumerate(samples):
        if (pair := pair_cuts(classify, sample)) is not None:
            found.append(pair)
        if (index + 1) % 500 == 0:
            print(f"fit-cuts: {index + 1}/{len(samples)} numbers read", file=sys.stderr)
    return found


def fit(examples: list[PairCuts], l2: float = L2) -> CutRanking:
    """The weights under which right cuts most likely rank first; glyphs whose cuts are all
    right or all wrong say nothing about the ranking and are left out."""
    useful = [e for e in examples if e.right.any() and not e.right.all()]
    if not useful:
        raise DigitsError("no touching pair had both right and wrong cuts to learn from")

    def loss(weights: np.ndarray) -> tuple[float, np.ndarray]:
        total, gradient = l2 * weights @ weights, 2 * l2 * weights
        for example in useful:
            scores = example.features @ weights
            chance = np.exp(scores - scores.max())
            chance /= chance.sum()
            right_chance = chance[example.right].sum()
            total -= np.log(right_chance) / len(useful)
            among_right = np.where(example.right, chance / right_chance, 0.0)
            gradient -= (among_right - chance) @ example.features / len(useful)
        return total, gradient

    start = np.array(astuple(CutRanking()), float)
    found = minimize(loss, start, jac=True, method="L-BFGS-B")
    return CutRanking(*(round(float(w), 2) for w in found.x))


def ranked_right(examples: list[PairCuts], ranking: CutRanking) -> float:
    """The share of pairs whose first-ranked cut reads right."""
    weights = np.array(astuple(ranking))
    return float(np.mean([e.right[np.argmax(e.features @ weights)] for e in examples]))


def numbers_read(classify: Classify, samples: list[NumberSample], policy: Policy) -> float:
    """The share of numbers read exactly, as /read reads them."""
    read = [read_number(classify, s.data, policy).answer.get("number") for s in samples]
    return float(np.mean([got == s.number for got, s in zip(read, samples, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=LITE_MODEL_FILE)
    parser.add_argument("--numbers", type=int, default=3000, help="touching numbers to fit on")
    parser.add_argument("--check", type=int, default=600, help="validation numbers to check on")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if not args.model.exists():
        sys.exit(f"fit-cuts: error: {args.model} is missing (run `dvc repro evaluate` first)")
    try:
        classify = DigitClassifier(args.model).probabilities
        train, validation = load_split(split_file("train")), load_split(split_file("val"))
        policy = Policy.of(read_json(POLICY_FILE))  # the model's, from the evaluate stage
    except (DigitsError, OSError) as error:
        sys.exit(f"fit-cuts: error: {error} (run `dvc repro evaluate` first)")
    fitted = fit(collect(classify, make_number_set(*train, args.numbers, args.seed, True)))
    validation_numbers = make_number_set(*validation, args.check, args.seed + 1, True)
    checked = collect(classify, validation_numbers)
    print(f"fit-cuts: on {len(checked)} touching pairs of validation digits, the first cut reads")
    rows = [("less sure piece alone", CutRanking()), ("params.yaml", policy.cut_ranking),
            ("fitted", fitted)]  # fmt: skip
    for name, ranking in rows:
        whole = numbers_read(classify, validation_numbers, replace(policy, cut_ranking=ranking))
        print(f"  {name:<22} right {ranked_right(checked, ranking):.1%};"
              f" touching numbers read {whole:.1%}")  # fmt: skip
    print("evaluate:\n  cut_ranking:")
    for name, weight in asdict(fitted).items():
        print(f"    {name}: {weight}")


if __name__ == "__main__":
    main()
