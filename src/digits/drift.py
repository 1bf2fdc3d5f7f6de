"""Drift: do the newest served answers look like a reference set of answers?

    python -m digits.drift check       # the last monitor.window predictions vs the reference
    python -m digits.drift reference   # pin that window as the reference

Each check is a two-sample test that makes no assumption about the distributions' shapes:
chi-square tests of homogeneity for the mix of digits named and of image formats, Fisher's
exact test for the uncertain and inverted rates (exact at small counts), Kolmogorov-Smirnov for
confidence, input size and share of ink. A check drifts when its p-value is below
monitor.alpha divided by the number of checks (Bonferroni), so that a window drawn from the
reference's distribution raises a false alarm with probability at most monitor.alpha.
`check` exits with DRIFT_STATUS on drift, 0 otherwise, 1 on an error.
"""

import argparse
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from digits.errors import DigitsError, MissingInputError
from digits.facts import read_facts, write_facts
from digits.files import atomic_path, write_json
from digits.params import load_params
from digits.paths import (
    DRIFT_FILE,
    DRIFT_PNG,
    PINNED_REFERENCE_FILE,
    PROJECT_ROOT,
    REALISTIC_ANSWERS_FILE,
)
from digits.prediction_log import latest, location

DRIFT_STATUS = 3
MIN_WINDOW = 30  # fewer answers than this make every test meaningless


@dataclass(frozen=True)
class Check:
    name: str
    test: str
    statistic: float
    p_value: float
    threshold: float
    reference: dict[str, float]  # a summary of each side, for people
    current: dict[str, float]

    @property
    def drift(self) -> bool:
        return self.p_value < self.threshold

    @property
    def verdict(self) -> str:
        return "DRIFT" if self.drift else "ok"


# (check, its kind, the column it reads): mix -> chi-square of homogeneity, rate -> Fisher's
# exact test, distribution -> two-sample Kolmogorov-Smirnov.
CHECKS = (
    ("digits", "mix", "digit"),
    ("confidence", "distribution", "confidence"),
    ("uncertain", "rate", "uncertain"),
    ("format", "mix", "format"),
    ("size", "distribution", "log10_pixels"),
    ("ink", "distribution", "ink"),
    ("inverted", "rate", "inverted"),
)


def _value(row: dict, column: str) -> object:
    """One row's value of `column`: None when absent (CSV rows hold "")."""
    if column == "log10_pixels":
        if row["width"] in (None, ""):
            return None
        return math.log10(float(row["width"]) * float(row["height"]))
    value = row[column]
    return None if value in (None, "") else value


def values(rows: Sequence[dict], kind: str, column: str) -> list:
    """The column as its check reads it: categories (none for absent), flags or numbers."""
    if kind == "mix":
        return [str(v) if (v := _value(row, column)) is not None else "none" for row in rows]
    present = [v for row in rows if (v := _value(row, column)) is not None]
    if kind == "rate":
        return [v in (True, 1, "1", "True", "true") for v in present]
    return [float(v) for v in present]


def _mix(reference: list, current: list) -> tuple[float, float, dict, dict]:
    counts = Counter(reference), Counter(current)
    keys = sorted(set(counts[0]) | set(counts[1]))
    shares = [{k: round(c[k] / max(len(side), 1), 4) for k in keys}
              for c, side in zip(counts, (reference, current), strict=True)]  # fmt: skip
    if len(keys) < 2:
        return 0.0, 1.0, *shares
    statistic, p_value, _, _ = stats.chi2_contingency([[c[k] for k in keys] for c in counts])
    return float(statistic), float(p_value), *shares


def _rate(reference: list, current: list) -> tuple[float, float, dict, dict]:
    if not reference or not current:
        return 0.0, 1.0, {}, {}
    table = [[sum(side), len(side) - sum(side)] for side in (reference, current)]
    odds, p_value = stats.fisher_exact(table)
    rates = [{"rate": round(sum(side) / len(side), 4)} for side in (reference, current)]
    return float(odds) if math.isfinite(odds) else 0.0, float(p_value), *rates


def _distribution(reference: list, current: list) -> tuple[float, float, dict, dict]:
    if not reference or not current:
        return 0.0, 1.0, {}, {}
    result = stats.ks_2samp(reference, current)
    medians = [{"median": round(float(np.median(side)), 4)} for side in (reference, current)]
    return float(result.statistic), float(result.pvalue), *medians


TESTS = {  # kind -> the test's name and the function that runs it
    "mix": ("chi-square", _mix),
    "rate": ("Fisher exact", _rate),
    "distribution": ("Kolmogorov-Smirnov", _distribution),
}


def compare(reference: Sequence[dict], current: Sequence[dict], alpha: float) -> list[Check]:
    """Every check of the current answers against the reference ones."""
    threshold = alpha / len(CHECKS)
    checks = []
    for name, kind, column in CHECKS:
        test, run = TESTS[kind]
        statistic, p_value, ref, cur = run(
            values(reference, kind, column), values(current, kind, column)
        )
        checks.append(Check(name, test, round(statistic, 6), p_value, threshold, ref, cur))
    return checks


def report(checks: list[Check], reference_name: str, window: int) -> dict:
    return {
        "drift": any(check.drift for check in checks),
        "reference": reference_name,
        "window": window,
        "checks": {check.name: {**asdict(check), "drift": check.drift} for check in checks},
    }


def plot(
    checks: list[Check], reference: Sequence[dict], current: Sequence[dict], path: Path
) -> None:
    """One panel per check, both sides: shares as bars, distributions as cumulative curves;
    the title says drift in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 4, figsize=(16, 7))
    for axis, check, (_, kind, column) in zip(axes.flat, checks, CHECKS, strict=False):
        if kind == "distribution":
            for rows, label in ((reference, "reference"), (current, "current")):
                if data := values(rows, kind, column):
                    axis.ecdf(data, label=label)
            axis.set_xlabel(column)
        else:
            keys = sorted(set(check.reference) | set(check.current))
            positions = np.arange(len(keys))
            for offset, side, label in ((-0.2, check.reference, "reference"),
                                        (0.2, check.current, "current")):  # fmt: skip
                axis.bar(positions + offset, [side.get(k, 0) for k in keys], 0.4, label=label)
            axis.set_xticks(positions, keys)
            axis.set_ylabel("share")
        axis.set_title(
            f"{check.name}: {check.verdict} (p={check.p_value:.2g})",
            color="tab:red" if check.drift else "black",
        )
        axis.legend(fontsize=8)
    axes.flat[-1].axis("off")
    figure.tight_layout()
    with atomic_path(path) as part:
        figure.savefig(part, format="png", dpi=80)
    plt.close(figure)


def reference_rows() -> tuple[str, list[dict]]:
    """The pinned reference when there is one, else the evaluate stage's realistic images."""
    for path in (PINNED_REFERENCE_FILE, REALISTIC_ANSWERS_FILE):
        if path.exists():
            return str(path.relative_to(PROJECT_ROOT)), read_facts(path)
    raise MissingInputError(
        f"no reference: run `dvc repro evaluate` (writes {REALISTIC_ANSWERS_FILE.name}) or"
        " `make monitor-reference` to pin the served traffic"
    )


# The reference is answers about single images: the digits of a number read by POST /read
# come in other sizes and shares of ink, and would pass for drift.
SINGLE_IMAGE_ROUTES = ("/predict", "/predict_batch")


def window_rows(params: dict) -> list[dict]:
    """The newest monitor.window answers about single images."""
    where = location(params["database"])
    rows = latest(where, params["window"], SINGLE_IMAGE_ROUTES)
    if len(rows) < MIN_WINDOW:
        raise MissingInputError(
            f"the prediction log at {where} holds {len(rows)} answers; drift needs at least"
            f" {MIN_WINDOW} (monitor.window is {params['window']})"
        )
    return rows


def check(params: dict) -> dict:
    """Compare the window with the reference; write drift.json and drift.png."""
    name, reference = reference_rows()
    current = window_rows(params)
    checks = compare(reference, current, params["alpha"])
    result = report(checks, name, len(current))
    write_json(DRIFT_FILE, result)
    plot(checks, reference, current, DRIFT_PNG)
    for item in checks:
        print(f"  {item.name:<11} {item.verdict:<5} p={item.p_value:.3g} ({item.test})")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m digits.drift", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("command", choices=("check", "reference"))
    args = parser.parse_args(argv)
    params = load_params("monitor")
    try:
        if args.command == "reference":
            rows = window_rows(params)
            write_facts(PINNED_REFERENCE_FILE, rows)
            print(f"monitor: pinned the last {len(rows)} answers as the reference")
            return
        result = check(params)
    except DigitsError as error:
        sys.exit(f"monitor: error: {error}")
    outcome = "DRIFT" if result["drift"] else "no drift"
    where = DRIFT_FILE.relative_to(PROJECT_ROOT)
    print(f"monitor: {outcome} in the last {result['window']} answers against"
          f" {result['reference']}; details in {where} and {DRIFT_PNG.name}")  # fmt: skip
    if result["drift"]:
        sys.exit(DRIFT_STATUS)


if __name__ == "__main__":
    main()
