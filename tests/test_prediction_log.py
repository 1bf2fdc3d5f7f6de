"""The prediction log: rows written off the caller's thread, read back, pruned; a database
that is down costs counted failures, never an exception or a wait in the caller."""

import multiprocessing
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from support.ports import free_port

from digits.drift import SINGLE_IMAGE_ROUTES
from digits.errors import MissingInputError
from digits.prediction_log import (
    PredictionLog,
    Retention,
    database_url,
    latest,
    location,
    pixels_of,
    served_location,
)

KEEP_ALL = Retention(days=365, rows=10_000)


def row(index: int, at: float | None = None) -> dict:
    return {
        "id": f"id-{index}", "at": time.time() if at is None else at, "model_version": "m/1",
        "route": "/predict", "digit": index % 10, "confidence": 0.9, "uncertain": False,
        "why": None, "format": "PNG", "width": 64, "height": 48, "upload_bytes": 900,
        "inverted": True, "ink": 0.12, "latency_ms": 3.0,
        "image": np.full((28, 28), index / 100, np.float32), "upload": None,
    }  # fmt: skip


def test_rows_are_written_and_read_back_in_order(tmp_path: Path) -> None:
    database = tmp_path / "log.db"
    failures: list[int] = []
    log = PredictionLog(str(database), KEEP_ALL, failures.append)
    now = time.time()
    for index in range(40):
        log.record(row(index, at=now - 100 + index))
    log.close()
    assert failures == []
    rows = latest(str(database), 25)
    assert [r["digit"] for r in rows] == [i % 10 for i in range(15, 40)]
    assert rows[0]["format"] == "PNG" and rows[0]["inverted"] is True and rows[0]["ink"] == 0.12


def test_the_image_the_model_saw_is_stored(tmp_path: Path) -> None:
    import sqlalchemy as sa

    database = tmp_path / "log.db"
    log = PredictionLog(str(database), KEEP_ALL)
    log.record(row(50))
    log.close()
    with sa.create_engine(database_url(str(database))).connect() as connection:
        stored = connection.execute(sa.text("select image, upload from predictions")).one()
    pixels = pixels_of(stored.image)
    assert pixels.shape == (28, 28) and pixels[0, 0] == round(0.5 * 255) / 255
    assert stored.upload is None


def _log_together(database: str, start: multiprocessing.Barrier, first: int, failed) -> None:
    failures: list[int] = []
    start.wait()
    log = PredictionLog(database, KEEP_ALL, failures.append)
    for index in range(first, first + 5):
        log.record(row(index))
    log.close()
    failed.value = sum(failures)


def test_workers_starting_together_on_a_new_file_lose_no_rows(tmp_path: Path) -> None:
    """Two workers' first batches meet on a file with no tables yet: one creates them, the
    other must find them and write, not fail on "already exists" or "database is locked"."""
    context = multiprocessing.get_context("spawn")
    for trial in range(4):
        database = str(tmp_path / f"log-{trial}.db")
        start = context.Barrier(2)
        failed = [context.Value("i", -1) for _ in range(2)]
        workers = [
            context.Process(target=_log_together, args=(database, start, 5 * n, failed[n]))
            for n in range(2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [f.value for f in failed] == [0, 0]
        assert len(latest(database, 100)) == 10


def test_a_database_that_is_down_counts_failures_and_never_blocks() -> None:
    failures: list[int] = []
    nowhere = f"postgresql://nobody@127.0.0.1:{free_port()}/x"  # nothing listens there
    log = PredictionLog(nowhere, KEEP_ALL, failures.append)
    started = time.perf_counter()
    for index in range(30):
        log.record(row(index))
    recording = time.perf_counter() - started
    log.close()
    assert sum(failures) == 30
    assert recording < 1.0  # record only queues: a generous bound, not a benchmark


def test_a_full_queue_counts_the_rows_it_drops(tmp_path: Path) -> None:
    database = tmp_path / "log.db"
    # Another writer holds the database: the log's writer waits on it (busy timeout 5 s), so
    # its queue of one fills however fast the machine schedules the threads.
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("PRAGMA journal_mode=WAL")
    blocker.execute("BEGIN EXCLUSIVE")
    failures: list[int] = []
    log = PredictionLog(str(database), KEEP_ALL, failures.append, max_queued=1)
    recorded, deadline = 0, time.monotonic() + 3
    while not failures and time.monotonic() < deadline:
        log.record(row(recorded))
        recorded += 1
    blocker.execute("COMMIT")
    blocker.close()
    log.close()
    written = len(latest(str(database), recorded + 1))
    assert sum(failures) > 0
    assert written + sum(failures) == recorded  # every row written or counted, none lost


def test_retention_keeps_the_newest_rows_within_the_days(tmp_path: Path) -> None:
    database = str(tmp_path / "log.db")
    now = time.time()
    log = PredictionLog(database, Retention(days=1, rows=5))
    log.record(row(0, at=now - 3 * 86400))  # too old
    for index in range(1, 9):
        log.record(row(index, at=now - 100 + index))
    log.close()
    assert [r["digit"] for r in latest(database, 100)] == [4, 5, 6, 7, 8]


def test_the_drift_window_holds_answers_about_single_images_only(tmp_path: Path) -> None:
    database = str(tmp_path / "log.db")
    log = PredictionLog(database, KEEP_ALL)
    for index in range(6):  # digits of numbers read by /read, between single images
        log.record(row(index) | {"route": "/read" if index % 2 else "/predict"})
    log.close()
    assert [r["digit"] for r in latest(database, 100)] == [0, 1, 2, 3, 4, 5]
    assert [r["digit"] for r in latest(database, 100, SINGLE_IMAGE_ROUTES)] == [0, 2, 4]


def test_reading_a_missing_log_says_so(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="has the service answered yet"):
        latest(str(tmp_path / "nothing.db"), 10)


def test_database_urls() -> None:
    assert database_url("postgresql://me@db:5432/logs") == "postgresql+psycopg://me@db:5432/logs"
    assert database_url("/x/p.db") == "sqlite:////x/p.db"


def test_the_service_and_the_pipeline_find_the_same_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative DIGITS_PREDICTION_LOG is relative to BentoML's home for the service (it runs
    inside the bento store) and for make monitor, review and the feedback stage alike."""
    monkeypatch.setenv("BENTOML_HOME", "/srv/bentoml")
    monkeypatch.setenv("DIGITS_PREDICTION_LOG", "log.db")
    assert (
        served_location("log.db") == location("predictions.db") == "sqlite:////srv/bentoml/log.db"
    )
    monkeypatch.delenv("DIGITS_PREDICTION_LOG")
    assert location("predictions.db").endswith("/predictions.db")  # the checkout's, by default
