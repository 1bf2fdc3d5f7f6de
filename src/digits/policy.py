"""The uncertain policy: when an answer is flagged, and why; and when a number's glyph is
tried cut."""

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
    """When an answer is flagged uncertain, and why: params.yaml's evaluate section, travelling
    with the model version to the service (README, "Uncertain answers")."""

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
        """From params.yaml's evaluate section or a model version's metadata."""
        return cls(
            float(settings["uncertain_below"]),
            float(settings.get("not_digit_below", 0)),
            float(settings.get("one_digit_above", cls.one_digit_above)),
            CutRanking(**settings.get("cut_ranking", {})),
        )

    def as_dict(self) -> dict[str, float | dict[str, float]]:
        return asdict(self)
