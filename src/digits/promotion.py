"""The promotion rule: does a new model version beat the champion on the same evaluation?"""

from dataclasses import dataclass, field

from digits.errors import ParamsError


@dataclass(frozen=True)
class Rule:
    """params.yaml `package.promotion`: scores where higher is better and where lower is better.
    A candidate wins when none is worse than the champion's and at least one is better."""

    higher_is_better: tuple[str, ...]
    lower_is_better: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: dict) -> "Rule":
        rule = cls(
            tuple(params.get("higher_is_better", ())), tuple(params.get("lower_is_better", ()))
        )
        if not rule.higher_is_better and not rule.lower_is_better:
            raise ParamsError("package.promotion names no score to compare")
        return rule

    @property
    def scores(self) -> tuple[str, ...]:
        return self.higher_is_better + self.lower_is_better


@dataclass(frozen=True)
class Decision:
    """Whether to move the alias, a sentence saying why, and each score side by side."""

    promote: bool
    reason: str
    comparison: dict[str, dict] = field(default_factory=dict)


def decide(
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    rule: Rule,
    same_model: bool = False,
) -> Decision:
    """Apply the rule. With no champion the candidate wins. A candidate that is the champion's
    own trained model (repackaged) needs only to be no worse."""
    if champion is None:
        return Decision(True, "there is no champion yet")
    # A score neither side has (field_accuracy before any field data) is not compared.
    compared = [name for name in rule.scores if name in candidate or name in champion]
    missing = [name for name in compared if name not in candidate or name not in champion]
    if missing:
        return Decision(False, f"cannot compare: {', '.join(missing)} missing from the scores")
    comparison = {}
    for name in compared:
        new, old = candidate[name], champion[name]
        gain = (new - old) if name in rule.higher_is_better else (old - new)
        verdict = "better" if gain > 0 else "worse" if gain < 0 else "equal"
        comparison[name] = {"candidate": new, "champion": old, "verdict": verdict}
    worse = [name for name, row in comparison.items() if row["verdict"] == "worse"]
    better = [name for name, row in comparison.items() if row["verdict"] == "better"]
    if worse:
        listed = ", ".join(_side_by_side(name, comparison[name]) for name in worse)
        return Decision(False, f"worse than the champion on {listed}", comparison)
    if same_model:
        return Decision(True, "the champion's own trained model, repackaged, no worse", comparison)
    if not better:
        return Decision(False, "no better than the champion on any score", comparison)
    listed = ", ".join(_side_by_side(name, comparison[name]) for name in better)
    return Decision(True, f"better on {listed}, worse on none", comparison)


def _side_by_side(name: str, row: dict) -> str:
    return f"{name} ({row['candidate']:.4f} vs {row['champion']:.4f})"
