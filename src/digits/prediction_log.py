"""The prediction log: one row per answer the service gives, in SQLite (default) or PostgreSQL.

The service hands rows to `PredictionLog.record`, which never blocks and never raises: a
thread writes them in batches. When the database is down or full, the rows of the failed
batch are counted (`on_failure`), the failure is logged once, and the service answers on.
What a row holds is documented in the README ("Monitoring").
"""

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from digits.errors import MissingInputError
from digits.facts import FACTS
from digits.mnist import FRAME_SIDE
from digits.paths import shared_project_root

LOG = logging.getLogger("digits.prediction_log")
OFF = "off"

METADATA = sa.MetaData()
PREDICTIONS = sa.Table(
    "predictions",
    METADATA,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("at", sa.Float, nullable=False, index=True),  # Unix time, seconds
    sa.Column("model_version", sa.String(200), nullable=False),
    sa.Column("route", sa.String(40), nullable=False),
    sa.Column("digit", sa.Integer),  # null: no digit found
    sa.Column("confidence", sa.Float),
    sa.Column("uncertain", sa.Boolean, nullable=False),
    sa.Column("why", sa.String(20)),  # low_confidence, not_a_digit, no_digit; null when certain
    sa.Column("format", sa.String(10)),  # of the upload; null when it showed no digit
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
    sa.Column("upload_bytes", sa.Integer, nullable=False),
    sa.Column("inverted", sa.Boolean),  # dark strokes on a light ground
    sa.Column("ink", sa.Float),  # share of the image covered by strokes
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("image", sa.LargeBinary),  # the 28x28 image the model saw: 784 grey bytes
    sa.Column("upload", sa.LargeBinary),  # the raw upload, only with keep_uploads
)


# People's corrections of answers: untrusted until reviewed (digits.feedback).
CORRECTIONS = sa.Table(
    "corrections",
    METADATA,
    sa.Column("id", sa.String(36), primary_key=True),  # the corrected answer's id
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("digit", sa.Integer),  # null: "this is not a digit"
    sa.Column("status", sa.String(10), nullable=False),  # pending, accepted, rejected
    sa.Column("reviewed_at", sa.Float),
)


def served_location(setting: str) -> str:
    """The database URL of a DIGITS_PREDICTION_LOG setting. A served bento runs in its own
    directory of the BentoML store, no place for data: a relative SQLite path is taken
    relative to BentoML's home (BENTOML_HOME, ~/bentoml)."""
    return database_url(setting, Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml")))


def location(database: str) -> str:
    """Where the service logs, as the pipeline and `make monitor` find it: DIGITS_PREDICTION_LOG
    read as the service reads it, else params.yaml's monitor.database in the user's checkout
    (where `make serve` puts it; also from inside a `dvc exp run --temp` workspace)."""
    if setting := os.environ.get("DIGITS_PREDICTION_LOG"):
        return served_location(setting)
    return str(shared_project_root() / database)


def database_url(location: str, base: Path | None = None) -> str:
    """An SQLAlchemy URL for a SQLite file path (a relative one taken relative to `base`, by
    default the working directory) or a database URL (postgresql://... uses psycopg 3, the
    driver the project installs)."""
    if "://" not in location:
        return f"sqlite:///{((base or Path.cwd()) / location).resolve()}"
    if location.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + location.split("://", 1)[1]
    return location


def connect(location: str) -> sa.Engine:
    url = database_url(location)
    # A database server that does not answer must not hold the writer for long.
    options = {"connect_timeout": 5} if url.startswith("postgresql") else {}
    engine = sa.create_engine(url, pool_pre_ping=True, connect_args=options)
    if engine.dialect.name == "sqlite":  # several workers write: WAL lets readers go on

        @sa.event.listens_for(engine, "connect")
        def _wal(connection, _record) -> None:
            # The wait first: switching to WAL needs a lock another worker may hold.
            connection.execute("PRAGMA busy_timeout=5000")
            connection.execute("PRAGMA journal_mode=WAL")
            # WAL keeps the file consistent at NORMAL; a power cut may lose the last batch.
            connection.execute("PRAGMA synchronous=NORMAL")

    return engine


def create_tables(engine: sa.Engine, attempts: int = 5) -> None:
    """Create the log's tables where missing. Workers starting together race to create them;
    the loser's "already exists" is no error, and its next look finds them."""
    for attempt in range(attempts):
        try:
            METADATA.create_all(engine)
            return
        except sa.exc.DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)


@dataclass(frozen=True)
class Retention:
    days: float  # rows older than this are deleted
    rows: int  # only the newest this many are kept


class PredictionLog:
    """Rows written off the request path by one thread; `close` writes what is queued."""

    BATCH = 500
    FLUSH_SECONDS = 0.25
    PRUNE_EVERY_SECONDS = 600.0

    def __init__(
        self,
        location: str,
        retention: Retention,
        on_failure: Callable[[int], None] = lambda rows: None,
        max_queued: int = 100_000,
    ) -> None:
        self._engine = connect(location)
        self._retention = retention
        self._on_failure = on_failure
        self._queue: queue.Queue[dict | None] = queue.Queue(max_queued)
        self._failing = False
        self._ready = False  # the table exists
        self._pruned_at = 0.0
        self._thread = threading.Thread(target=self._write_forever, name="prediction-log")
        self._thread.start()

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    def record(self, row: dict) -> None:
        """Queue one row; when the queue is full (the database has been failing for a while),
        the row is counted as a failure."""
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self._on_failure(1)

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
        self._engine.dispose()

    def _write_forever(self) -> None:
        while True:
            first = self._queue.get()
            rows, stop = ([first], False) if first is not None else ([], True)
            # Gather what arrives within FLUSH_SECONDS: one transaction for many answers
            # costs the requests far less than one each (docs/serving.md).
            deadline = time.monotonic() + self.FLUSH_SECONDS
            while not stop and len(rows) < self.BATCH:
                try:
                    row = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    break
                if row is None:
                    stop = True
                else:
                    rows.append(row)
            if rows or stop:
                self._write(rows, prune_now=stop)  # on the way out, prune too
            if stop:
                return

    def _write(self, rows: list[dict], prune_now: bool = False) -> None:
        try:
            rows = [{**row, "image": _grey_bytes(row["image"])} for row in rows]
            if not self._ready:
                create_tables(self._engine)
                self._ready = True
            with self._engine.begin() as connection:
                if rows:
                    connection.execute(PREDICTIONS.insert(), rows)
                if prune_now or time.time() - self._pruned_at > self.PRUNE_EVERY_SECONDS:
                    prune(connection, self._retention)
                    self._pruned_at = time.time()
        except Exception as error:  # any failure: count it, answer on
            self._on_failure(len(rows))
            if not self._failing:
                LOG.error("prediction log: writing failed, counting failures (%s)", error)
            self._failing = True
            return
        if self._failing:
            LOG.warning("prediction log: writing again")
        self._failing = False


def _grey_bytes(image: np.ndarray | bytes | None) -> bytes | None:
    """Float pixels in [0, 1] as uint8 bytes, row by row (PNG would cost the service more)."""
    if not isinstance(image, np.ndarray):
        return image
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8).tobytes()


def pixels_of(image: bytes) -> np.ndarray:
    """A logged image as float32 (28, 28) in [0, 1]."""
    return np.frombuffer(image, np.uint8).reshape(FRAME_SIDE, FRAME_SIDE).astype(np.float32) / 255


def prune(connection: sa.Connection, retention: Retention) -> None:
    """Delete rows older than the retention days, then all but the newest retention rows;
    an answer someone corrected stays, with its image, for review and the field dataset."""
    uncorrected = PREDICTIONS.c.id.not_in(sa.select(CORRECTIONS.c.id))
    too_old = PREDICTIONS.c.at < time.time() - retention.days * 86400
    connection.execute(PREDICTIONS.delete().where(too_old, uncorrected))
    newest = (
        sa.select(PREDICTIONS.c.at)
        .order_by(PREDICTIONS.c.at.desc())
        .offset(retention.rows)
        .limit(1)
    ).scalar_subquery()
    connection.execute(PREDICTIONS.delete().where(PREDICTIONS.c.at <= newest, uncorrected))


def latest(location: str, count: int, routes: Sequence[str] | None = None) -> list[dict]:
    """The FACTS of the newest `count` rows (of answers on `routes` only, when given), oldest
    first."""
    engine = connect(location)
    try:
        with engine.connect() as connection:
            columns = [PREDICTIONS.c[name] for name in ("at", *FACTS)]
            query = sa.select(*columns).order_by(PREDICTIONS.c.at.desc()).limit(count)
            if routes is not None:
                query = query.where(PREDICTIONS.c.route.in_(routes))
            rows = [dict(row._mapping) for row in connection.execute(query)]
    except sa.exc.SQLAlchemyError as error:
        raise MissingInputError(
            f"cannot read the prediction log at {location} (has the service answered yet?):"
            f" {type(error).__name__}: {str(error).splitlines()[0]}"
        ) from error
    finally:
        engine.dispose()
    return rows[::-1]
