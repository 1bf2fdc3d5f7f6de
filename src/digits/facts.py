"""What is recorded of each answer: the same facts in the prediction log (served answers) and
in the drift report's default reference (the evaluate stage's answers to realistic images)."""

import csv
from collections.abc import Sequence
from pathlib import Path

from digits.files import atomic_path
from digits.images import Prepared

FACTS = ("digit", "confidence", "uncertain", "why", "format", "width", "height", "inverted", "ink")


def why_uncertain(answer: dict) -> str | None:
    """Why an answer is uncertain (low_confidence, not_a_digit or no_digit: the answer's
    `why`), None for a certain one."""
    return answer.get("why") if answer.get("uncertain") else None


def facts(answer: dict, prepared: Prepared | None) -> dict:
    """FACTS of one answer (not an error) and of the image it read (None: no digit found)."""
    read = prepared is not None
    return {
        "digit": answer["digit"],
        "confidence": answer["confidence"],
        "uncertain": answer["uncertain"],
        "why": why_uncertain(answer),
        "format": prepared.format if read else None,
        "width": prepared.width if read else None,
        "height": prepared.height if read else None,
        "inverted": prepared.inverted if read else None,
        "ink": round(prepared.ink, 6) if read else None,
    }


def read_facts(path: Path) -> list[dict]:
    """Rows of a facts CSV; absent values read as ""."""
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def write_facts(path: Path, rows: Sequence[dict]) -> None:
    with atomic_path(path) as part, part.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=FACTS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
