"""The promotion rule and the champion's history in a real MLflow registry (SQLite)."""

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from digits.promotion import Rule, decide
from digits.registry import champion, history, move_alias, rollback_target

RULE = Rule(
    higher_is_better=("test_accuracy", "wild_accuracy"), lower_is_better=("wild_uncertain",)
)
CHAMPION = {"test_accuracy": 0.995, "wild_accuracy": 0.99, "wild_uncertain": 0.03}


def test_a_candidate_better_on_one_score_and_worse_on_none_wins() -> None:
    decision = decide({**CHAMPION, "wild_uncertain": 0.02}, CHAMPION, RULE)
    assert decision.promote
    assert "better on wild_uncertain (0.0200 vs 0.0300)" in decision.reason
    assert decision.comparison["test_accuracy"]["verdict"] == "equal"


def test_a_candidate_worse_on_any_score_loses_even_if_better_elsewhere() -> None:
    candidate = {"test_accuracy": 0.999, "wild_accuracy": 0.98, "wild_uncertain": 0.01}
    decision = decide(candidate, CHAMPION, RULE)
    assert not decision.promote
    assert decision.reason == "worse than the champion on wild_accuracy (0.9800 vs 0.9900)"


def test_an_equal_candidate_does_not_win_unless_it_is_the_champions_own_model() -> None:
    assert not decide(dict(CHAMPION), CHAMPION, RULE).promote
    repackaged = decide(dict(CHAMPION), CHAMPION, RULE, same_model=True)
    assert repackaged.promote and "repackaged" in repackaged.reason
    assert not decide({**CHAMPION, "test_accuracy": 0.9}, CHAMPION, RULE, same_model=True).promote


def test_the_first_model_wins_and_missing_scores_never_do() -> None:
    assert decide(CHAMPION, None, RULE).promote
    decision = decide({"test_accuracy": 1.0}, CHAMPION, RULE)
    assert not decision.promote and "wild_accuracy, wild_uncertain missing" in decision.reason
    with pytest.raises(ValueError, match="names no score"):
        Rule.from_params({})


@pytest.fixture
def registry(tmp_path: Path) -> MlflowClient:
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    client.create_registered_model("m")
    for _ in range(4):
        client.create_model_version("m", source=str(tmp_path))
    return client


def test_alias_moves_are_recorded_and_rollbacks_walk_back(registry: MlflowClient) -> None:
    assert champion(registry, "m", "champion") is None
    with pytest.raises(LookupError, match="no @champion"):
        rollback_target(registry, "m", "champion")
    for version in ("1", "2", "3"):
        move_alias(registry, "m", "champion", version, "promoted", f"won as {version}")
    assert move_alias(registry, "m", "champion", "4", "forced", "hotfix") == "3"
    assert registry.get_model_version("m", "4").tags["champion.forced"] == "hotfix"
    assert [move["version"] for move in history(registry, "m")] == ["1", "2", "3", "4"]

    for expected in ("3", "2", "1"):  # each rollback goes one champion further back
        target = rollback_target(registry, "m", "champion")
        assert target == expected
        move_alias(registry, "m", "champion", target, "rollback", "bad")
        assert str(champion(registry, "m", "champion").version) == expected
    with pytest.raises(LookupError, match="no earlier @champion than version 1"):
        rollback_target(registry, "m", "champion")
