"""Corrections: stored pending against a logged answer, reviewed, exported as a field dataset
split by time, mixed into training; the review command as a script drives it."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from digits.errors import MissingInputError
from digits.feedback import (
    ACCEPTED,
    PENDING,
    REJECTED,
    AlreadyCorrected,
    UnknownAnswer,
    accepted,
    correct,
    corrections,
    record_accepted,
    review,
)
from digits.field_data import FieldData, export, load_part, mixed_in
from digits.mnist import NOT_A_DIGIT
from digits.prediction_log import PredictionLog, Retention, connect

ROOT = Path(__file__).parents[1]


def logged(database: Path, count: int) -> list[str]:
    """`count` answers in a prediction log, one second apart, each image filled with i/100."""
    log = PredictionLog(str(database), Retention(365, 10_000))
    ids = [f"answer-{i:02d}" for i in range(count)]
    now = time.time()
    for i, answer_id in enumerate(ids):
        log.record({
            "id": answer_id, "at": now - 1000 + i, "model_version": "m/1", "route": "/predict",
            "digit": i % 10, "confidence": 0.9, "uncertain": False, "why": None,
            "format": "PNG", "width": 50, "height": 50, "upload_bytes": 100, "inverted": True,
            "ink": 0.1, "latency_ms": 2.0, "image": np.full((28, 28), i / 100, np.float32),
            "upload": None,
        })  # fmt: skip
    log.close()
    return ids


def test_a_correction_is_stored_pending_once_per_answer(tmp_path: Path) -> None:
    database = tmp_path / "log.db"
    ids = logged(database, 3)
    engine = connect(str(database))
    stored = correct(engine, ids[1], 7)
    assert stored == {"id": ids[1], "digit": 7, "answered": 1, "status": PENDING}
    assert correct(engine, ids[2], None)["digit"] is None  # not a digit
    with pytest.raises(AlreadyCorrected):
        correct(engine, ids[1], 4)
    started = time.monotonic()
    with pytest.raises(UnknownAnswer):
        correct(engine, "no-such-answer", 1, wait=0.3)
    assert time.monotonic() - started >= 0.3  # looked again while the answer might be queued
    assert [(c.id, c.digit, c.status) for c in corrections(engine)] == [
        (ids[1], 7, PENDING), (ids[2], None, PENDING)
    ]  # fmt: skip


def test_only_accepted_corrections_are_exported_and_the_newest_are_held_out(
    tmp_path: Path,
) -> None:
    database = tmp_path / "log.db"
    ids = logged(database, 12)
    engine = connect(str(database))
    for i, answer_id in enumerate(ids):
        correct(engine, answer_id, None if i == 9 else (i + 1) % 10)
    assert review(engine, ids[:10], ACCEPTED) == 10
    assert review(engine, ids[10:], REJECTED) == 2
    assert review(engine, ids[:2], REJECTED) == 0  # reviewed once, for good

    record = tmp_path / "accepted.json"
    assert record_accepted(engine, record) == 10
    data = accepted(str(database), record)
    assert data.ids == ids[:10]  # oldest answer first, rejected ones left out
    assert data.labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, NOT_A_DIGIT]
    assert data.images[3, 0, 0] == pytest.approx(3 / 100, abs=1 / 255)

    manifest = export(data, tmp_path / "feedback", holdout_share=0.25)
    assert (manifest["train"], manifest["field"], manifest["not_a_digit"]) == (8, 2, 1)
    train, field = (
        load_part(tmp_path / "feedback", "train"),
        load_part(tmp_path / "feedback", "field"),
    )
    assert train.ids == ids[:8] and field.ids == ids[8:10]  # held out: the newest
    again = export(accepted(str(database), record), tmp_path / "again", holdout_share=0.25)
    assert again["digest"] == manifest["digest"]  # the same snapshot, the same digest


def test_nothing_accepted_exports_an_empty_snapshot(tmp_path: Path) -> None:
    nothing = tmp_path / "missing.json"
    manifest = export(accepted(str(tmp_path / "missing.db"), nothing), tmp_path / "out", 0.25)
    assert manifest["accepted"] == 0 and len(load_part(tmp_path / "out", "train").ids) == 0


def test_an_accepted_correction_the_log_lacks_is_an_error(tmp_path: Path) -> None:
    database = tmp_path / "log.db"
    ids = logged(database, 2)
    record = tmp_path / "accepted.json"
    record.write_text(json.dumps({"accepted": [{"id": ids[0], "digit": 3}]}))
    with pytest.raises(MissingInputError, match="not accepted in"):
        accepted(str(database), record)  # listed, but never accepted in this log


def test_corrections_are_mixed_into_training_repeated() -> None:
    x, y = np.zeros((5, 28, 28, 1), np.float32), np.arange(5)
    # a "not a digit" correction keeps its label: training aims it at no digit
    data = FieldData(["a", "b"], np.ones((2, 28, 28), np.float32), np.array([3, NOT_A_DIGIT]))
    mixed_x, mixed_y = mixed_in(x, y, data, repeat=4)
    assert mixed_x.shape == (13, 28, 28, 1)
    assert mixed_y.tolist() == [0, 1, 2, 3, 4, *[3] * 4, *[NOT_A_DIGIT] * 4]
    assert mixed_x[5:].min() == 1.0
    same_x, same_y = mixed_in(x, y, FieldData([], np.zeros((0, 28, 28)), np.zeros(0)), 4)
    assert same_x is x and same_y is y  # without corrections, training is as before


def test_the_review_command_accepts_and_rejects_in_bulk(tmp_path: Path) -> None:
    database = tmp_path / "log.db"
    ids = logged(database, 4)
    engine = connect(str(database))
    for answer_id in ids:
        correct(engine, answer_id, 5)
    env = {"DIGITS_PREDICTION_LOG": str(database), "PYTHONPATH": str(ROOT / "src"), "PATH": ""}
    record = tmp_path / "accepted.json"

    def review_command(*arguments: str, answers: str = "") -> str:
        command = [sys.executable, "-m", "digits.review", "--record", str(record), *arguments]
        done = subprocess.run(command, cwd=ROOT,
                              env=env, input=answers, capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = review_command("list")
    assert (
        "4 pending corrections" in listed and f"{ids[0]}  answered 0 at 0.90, proposed: 5" in listed
    )
    assert "accepted 2 of 2" in review_command("accept", *ids[:2])
    assert "rejected 1 of 1" in review_command("reject", ids[2])
    assert "accepted 1 of 1" in review_command("accept", "--all")
    assert [c.status for c in corrections(engine)] == [ACCEPTED, ACCEPTED, REJECTED, ACCEPTED]
    listed = json.loads(record.read_text())["accepted"]
    assert listed == [{"id": i, "digit": 5} for i in (ids[0], ids[1], ids[3])]


def test_reviewing_one_by_one_shows_the_image_and_asks(tmp_path: Path) -> None:
    database = tmp_path / "log.db"
    ids = logged(database, 40)
    engine = connect(str(database))
    for answer_id in ids[30:33]:
        correct(engine, answer_id, 2)
    env = {"DIGITS_PREDICTION_LOG": str(database), "PYTHONPATH": str(ROOT / "src"), "PATH": ""}
    record = ["--record", str(tmp_path / "accepted.json")]
    done = subprocess.run([sys.executable, "-m", "digits.review", *record], cwd=ROOT, env=env,
                          input="x\na\nr\nq\n", capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "[1/3]" in done.stdout and "[3/3]" in done.stdout
    assert ":" * 56 in done.stdout  # the image of answer 30 (grey 0.3), two characters a pixel
    assert [c.status for c in corrections(engine)] == [ACCEPTED, REJECTED, PENDING]

    page = tmp_path / "review.html"
    command = [sys.executable, "-m", "digits.review", *record, "page", "--out", str(page)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    assert "1 pending corrections" in html and html.count("data:image/png;base64,iVBOR") == 1


def test_retention_keeps_corrected_answers(tmp_path: Path) -> None:
    database = tmp_path / "log.db"
    ids = logged(database, 6)  # 1000 s old
    correct(connect(str(database)), ids[0], 8)
    log = PredictionLog(str(database), Retention(days=100 / 86400, rows=2))
    log.close()  # prunes on the way out: older than 100 s, or beyond the newest 2
    engine = connect(str(database))
    assert [c.id for c in corrections(engine)] == [ids[0]]  # kept with its answer and image
    assert [c.status for c in corrections(engine)] == [PENDING]
