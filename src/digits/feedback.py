"""People's corrections of served answers: stored as pending, reviewed by a person, and only
then exported as a versioned field dataset for training and evaluation.

A correction is untrusted input: anyone who can reach /feedback can post one. It names an
answer the service gave (so each correction needs an upload first), one correction per answer,
and nothing of it reaches training until a reviewer accepts it (`python -m digits.review`).
"""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from digits.errors import DigitsError, MissingInputError
from digits.field_data import FieldData
from digits.files import read_json, write_json
from digits.mnist import FRAME_SIDE, NOT_A_DIGIT
from digits.prediction_log import CORRECTIONS, PREDICTIONS, connect, create_tables, pixels_of

PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"


class UnknownAnswer(DigitsError, LookupError):
    """No logged answer has this id."""


class AlreadyCorrected(DigitsError):
    """The answer has a correction already."""


class LogUnavailable(DigitsError):
    """The prediction log's database cannot be reached."""


def correct(engine: sa.Engine, answer_id: str, digit: int | None, wait: float = 0.0) -> dict:
    """Store a pending correction of a logged answer; what was stored. The answer may still
    be on its way to the log (written in batches, by whichever worker gave it): an unknown id
    is looked up again for up to `wait` seconds."""
    deadline = time.monotonic() + wait
    try:
        create_tables(engine)
        while True:
            try:
                return _correct(engine, answer_id, digit)
            except UnknownAnswer:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    except sa.exc.OperationalError as error:
        raise LogUnavailable(f"the prediction log cannot be reached ({error.orig})") from None


def _correct(engine: sa.Engine, answer_id: str, digit: int | None) -> dict:
    with engine.begin() as connection:
        found = connection.execute(
            sa.select(PREDICTIONS.c.digit).where(PREDICTIONS.c.id == answer_id)
        ).first()
        if found is None:
            raise UnknownAnswer(f"no answer has the id {answer_id!r}")
        row = {"id": answer_id, "at": time.time(), "digit": digit, "status": PENDING}
        try:
            with connection.begin_nested():
                connection.execute(CORRECTIONS.insert(), [row])
        except sa.exc.IntegrityError:
            raise AlreadyCorrected(f"the answer {answer_id!r} has been corrected already") from None
    return {"id": answer_id, "digit": digit, "answered": found.digit, "status": PENDING}


@dataclass(frozen=True)
class Correction:
    id: str
    at: float  # when the answer was given
    answered: int | None  # the digit the service named
    confidence: float | None
    digit: int | None  # the proposed label; None: not a digit
    status: str
    image: bytes | None  # the 28x28 image the model saw (prediction_log.pixels_of)


def corrections(engine: sa.Engine, status: str | None = None) -> list[Correction]:
    """Corrections joined with their answers, in the order the answers were given."""
    query = (
        sa.select(
            CORRECTIONS.c.id,
            PREDICTIONS.c.at,
            PREDICTIONS.c.digit.label("answered"),
            PREDICTIONS.c.confidence,
            CORRECTIONS.c.digit,
            CORRECTIONS.c.status,
            PREDICTIONS.c.image,
        )
        .join(PREDICTIONS, PREDICTIONS.c.id == CORRECTIONS.c.id)
        .order_by(PREDICTIONS.c.at, CORRECTIONS.c.id)
    )
    if status is not None:
        query = query.where(CORRECTIONS.c.status == status)
    create_tables(engine)
    with engine.begin() as connection:
        return [Correction(**row._mapping) for row in connection.execute(query)]


def review(engine: sa.Engine, ids: list[str], verdict: str) -> int:
    """Accept or reject pending corrections; how many changed. A reviewed one stays as it is."""
    if verdict not in (ACCEPTED, REJECTED):
        raise ValueError(verdict)
    create_tables(engine)
    with engine.begin() as connection:
        update = (
            CORRECTIONS.update()
            .where(CORRECTIONS.c.id.in_(ids), CORRECTIONS.c.status == PENDING)
            .values(status=verdict, reviewed_at=time.time())
        )
        return connection.execute(update).rowcount


def record_accepted(engine: sa.Engine, path: Path) -> int:
    """Write the accepted corrections' ids and labels, oldest answer first, to `path`: the
    reviewed decision the DVC stage `feedback` depends on (and git keeps). How many."""
    chosen = [{"id": c.id, "digit": c.digit} for c in corrections(engine, ACCEPTED)]
    write_json(path, {"accepted": chosen})
    return len(chosen)


def accepted(location: str, record: Path) -> FieldData:
    """The corrections `record` lists as accepted, with the images the model saw, read from
    the prediction log; none without a record. A listed answer the log lacks is an error."""
    listed = read_json(record)["accepted"] if record.exists() else []
    if not listed:
        return _field_data([], [], [])
    if "://" not in location and not Path(location).exists():
        raise MissingInputError(f"{record} lists accepted corrections, but {location} is missing")
    engine = connect(location)
    try:
        found = {c.id: c for c in corrections(engine, ACCEPTED)}
    finally:
        engine.dispose()
    missing = [item["id"] for item in listed if item["id"] not in found]
    if missing:
        raise MissingInputError(
            f"{len(missing)} accepted corrections of {record} are not accepted in {location}"
            f" (first: {missing[0]}); review in the same database the service logs to"
        )
    chosen = [found[item["id"]] for item in listed if found[item["id"]].image is not None]
    labels = [NOT_A_DIGIT if c.digit is None else c.digit for c in chosen]
    return _field_data([c.id for c in chosen], [pixels_of(c.image) for c in chosen], labels)


def _field_data(ids: list[str], images: list[np.ndarray], labels: list[int]) -> FieldData:
    """From per-correction images (none: an empty dataset of the right shapes)."""
    stacked = np.stack(images) if images else np.zeros((0, FRAME_SIDE, FRAME_SIDE))
    return FieldData(ids, stacked.astype(np.float32), np.array(labels, np.int64))
