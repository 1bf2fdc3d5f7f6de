"""The service's settings: read once from the environment, with their defaults
(README, "Serving settings")."""

import os
from dataclasses import dataclass, fields

from digits.errors import ParamsError


@dataclass(frozen=True)
class Settings:
    max_upload_bytes: int = 10 * 1024 * 1024  # DIGITS_MAX_UPLOAD_BYTES: body size, every route
    max_pixels: int = 40_000_000  # DIGITS_MAX_PIXELS: decoded size, checked before decoding
    max_batch_images: int = 64  # DIGITS_MAX_BATCH_IMAGES: files in one /predict_batch
    # DIGITS_TIMEOUT_SECONDS: a request unanswered after this long gets a 504 (BentoML); its
    # upload must arrive within half of it, else 408, so a stalled client cannot hold on.
    timeout_seconds: float = 30.0
    workers: int = 2  # DIGITS_WORKERS: processes, each with the model (docs/serving.md)
    threads: int = 1  # DIGITS_THREADS: LiteRT threads per worker
    # DIGITS_INLINE_MAX_PIXELS: images up to this size are answered on the event loop when the
    # worker is idle, saving the hand-off to a thread (larger ones always go to a thread).
    inline_max_pixels: int = 4_000_000
    access_log: bool = False  # DIGITS_ACCESS_LOG: a log line per request
    tracing: bool = False  # DIGITS_TRACING: OpenTelemetry spans for a configured exporter
    # DIGITS_PREDICTION_LOG: where each answer is recorded: a SQLite file (relative to
    # BENTOML_HOME, ~/bentoml), a database URL (postgresql://user@host/db), or "off".
    prediction_log: str = "predictions.db"
    keep_uploads: bool = False  # DIGITS_KEEP_UPLOADS: also record each raw upload
    log_retention_days: float = 30.0  # DIGITS_LOG_RETENTION_DAYS: older rows are deleted
    log_retention_rows: int = 1_000_000  # DIGITS_LOG_RETENTION_ROWS: only the newest are kept
    # DIGITS_FEEDBACK_WAIT_SECONDS: how long /feedback waits for an answer just given to reach
    # the log (it is written in batches, off the request path) before answering 404.
    feedback_wait_seconds: float = 3.0

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> "Settings":
        """The defaults, overridden by DIGITS_<NAME> variables; a clear error for a bad value."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in fields(cls):
            name = f"DIGITS_{field.name.upper()}"
            if name not in environ:
                continue
            raw = environ[name]
            try:
                value = (raw == "1") if field.type is bool else field.type(raw)
            except ValueError:
                raise ParamsError(f"{name}={raw!r} is not a valid {field.type.__name__}") from None
            if field.type in (int, float) and value <= 0:
                raise ParamsError(f"{name}={raw!r} must be positive")
            values[field.name] = value
        return cls(**values)
