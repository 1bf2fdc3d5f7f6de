"""The Prometheus alert rules are valid and their unit tests pass under the real promtool
(Debian's prometheus package; make test installs it)."""

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).parents[1] / "service" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make prometheus` installs it (Debian's prometheus)"
    return found


@pytest.mark.parametrize(
    "command", [["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]]
)
def test_alert_rules(promtool: str, command: list[str]) -> None:
    done = subprocess.run([promtool, *command], cwd=RULES, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_a_rule_that_misfires_fails_its_test(promtool: str, tmp_path: Path) -> None:
    """The unit tests can fail: with the uncertain threshold raised, the alert the test
    expects does not fire."""
    rules = (RULES / "alerts.yml").read_text()
    assert "> 0.10" in rules
    (tmp_path / "alerts.yml").write_text(rules.replace("> 0.10", "> 0.50"))
    shutil.copy(RULES / "alerts.test.yml", tmp_path)
    done = subprocess.run(
        [promtool, "test", "rules", "alerts.test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "DigitsUncertainRateRising" in done.stdout + done.stderr
