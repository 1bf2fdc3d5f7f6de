"""Running a stage entry point: expected failures end in one clear line, anything else (a bug)
keeps its traceback."""

import signal
import sys
import time
from collections.abc import Callable

from digits.errors import DigitsError


class Terminated(SystemExit):
    """SIGTERM (dvc or a user stopping the stage): raised so that open MLflow runs end FAILED
    and unfinished atomic writes are removed on the way out."""


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(128 + signum)


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Call `main`; on an expected error (DigitsError) print `<name>: error: ...` and exit 1."""
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        main()
        print(f"{name}: done in {time.monotonic() - started:.1f} s")
    except Terminated:
        print(
            f"{name}: stopped by SIGTERM; nothing half-written was kept and its MLflow run is"
            " marked FAILED. Run `dvc repro` to redo it.",
            file=sys.stderr,
        )
        raise
    except DigitsError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        sys.exit(1)
