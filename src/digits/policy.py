"""The uncertain policy: when an answer is flagged, and why."""

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

    @classmethod
    def of(cls, settings: Mapping) -> "Policy":
        """From params.yaml's evaluate section or a model version's metadata."""
        return cls(float(settings["uncertain_below"]), float(settings.get("not_digit_below", 0)))

    def as_dict(self) -> dict[str, float]:
        return asdict(self)
