"""The uncertain policy: when an answer is flagged, and why; and when a number's glyph is
tried cut."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass


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

    @classmethod
    def of(cls, settings: Mapping) -> "Policy":
        """From params.yaml's evaluate section or a model version's metadata."""
        return cls(
            float(settings["uncertain_below"]),
            float(settings.get("not_digit_below", 0)),
            float(settings.get("one_digit_above", cls.one_digit_above)),
        )

    def as_dict(self) -> dict[str, float]:
        return asdict(self)
