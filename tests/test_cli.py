"""A stage ends an expected failure (DigitsError) in one line and exit status 1; anything
else is a bug and keeps its traceback."""

import pytest

from digits.cli import run_stage
from digits.errors import MissingInputError, ParamsError


@pytest.mark.parametrize("error", [MissingInputError("data/x is missing"), ParamsError("bad")])
def test_an_expected_failure_is_one_line(error: Exception, capsys) -> None:
    def main() -> None:
        raise error

    with pytest.raises(SystemExit) as stopped:
        run_stage("demo", main)
    assert stopped.value.code == 1
    assert capsys.readouterr().err == f"demo: error: {error}\n"


def test_a_mistyped_key_keeps_its_traceback() -> None:
    params = {"epochs": 3}

    def main() -> None:
        params["epoch"]  # a bug, not a user error

    with pytest.raises(KeyError, match="epoch"):
        run_stage("demo", main)
