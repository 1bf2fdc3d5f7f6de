"""The uncertain policy: when an answer is flagged, and why; and when a number's glyph is
tried cut. Its thresholds are chosen for each model on validation data, by a rule."""

from collections.abc import Mapping
from dataclasses import asdict, astuple, dataclass

import numpy as np


@dataclass(frozen=True)
class CutRanking:
    """How the candidate cuts of a glyph that may be touching digits are ranked: by a weighted
    sum of what each cut shows (number_reading.cut_features, in this order). The weights are
    fitted on numbers of training digits and checked on validation ones: `make fit-cuts`."""

    less_sure_piece: float = 1.0  # log-probability of the less sure of the two pieces
    margins: float = 0.0  # log-ratio of each piece's first and second digit, summed
    ink_at_cut: float = 0.0  # stroke pixels in the cut column, as a share of the glyph's height
    uneven_widths: float = 0.0  # |log| of the ratio of the pieces' widths

    def score(self, features: np.ndarray) -> float:
        return float(np.dot(astuple(self), features))


@dataclass(frozen=True)
class Policy:
    """When an answer is flagged uncertain, and why: chosen by the evaluate stage
    (`choose_policy`), travelling with the model version to the service (README, "Uncertain
    answers")."""

    uncertain_below: float  # the named digit's probability under this: uncertain
    # ... and the two likeliest digits' together under this: "not a digit" rather than "hard to
    # read". A model trained on non-digits spreads its probability over all ten for them.
    not_digit_below: float = 0.0
    # A glyph of a number wide enough to be two touching digits, read as one digit less surely
    # than this, is tried cut in two (POST /read). A model trained on touching pairs is unsure
    # of them.
    one_digit_above: float = 0.5
    cut_ranking: CutRanking = CutRanking()

    @classmethod
    def of(cls, settings: Mapping) -> "Policy":
        """From reports/policy.json or a model version's metadata."""
        return cls(
            float(settings["uncertain_below"]),
            float(settings.get("not_digit_below", 0)),
            float(settings.get("one_digit_above", cls.one_digit_above)),
            CutRanking(**settings.get("cut_ranking", {})),
        )

    def as_dict(self) -> dict[str, float | dict[str, float]]:
        return asdict(self)


def choose_policy(curve: list[dict], settings: Mapping) -> Policy:
    """The policy for one model by params.yaml's evaluate section (`settings`): from its policy
    curve on validation data (digits.evaluate.policy_curve, ascending thresholds),
    `uncertain_below` is the largest threshold that flags at most
    `policy_rule.max_digits_flagged` of the realistic digits, `not_digit_below` the largest that
    calls at most `policy_rule.max_digits_called_not_a_digit` of them "not a digit". Where no
    threshold keeps within the rule, the lowest: the model is less sure of real digits than the
    rule allows, and the stage says so."""
    rule = settings["policy_rule"]
    flagged = _largest_within(curve, "digits_flagged", rule["max_digits_flagged"])
    called = _largest_within(
        curve, "digits_called_not_a_digit", rule["max_digits_called_not_a_digit"]
    )
    return Policy.of({**settings, "uncertain_below": flagged, "not_digit_below": called})


def _largest_within(curve: list[dict], share: str, limit: float) -> float:
    within = [row["threshold"] for row in curve if row[share] <= limit]
    if not within:
        lowest = curve[0]
        print(
            f"policy: warning: even threshold {lowest['threshold']} gives {share}"
            f" {lowest[share]:.2%} of validation digits, over the {limit:.2%} allowed; using it"
        )
        return lowest["threshold"]
    return max(within)
