"""What the service records of each answer: an id, a row of the prediction log, and its own
Prometheus metrics (beside BentoML's request counts and latencies on /metrics), labelled by the
model version served. Alert rules: service/prometheus/alerts.yml."""

import time
import uuid

import bentoml

from digits.facts import facts
from digits.images import Prepared
from digits.number_reading import NumberReading
from digits.prediction_log import PredictionLog
from digits.serving import Reading

LABELS = ["model_version"]
PREDICTIONS = bentoml.metrics.Counter(
    name="digits_predictions",
    documentation="Answers given, by digit named (none: no digit found)",
    labelnames=[*LABELS, "digit"],
)
CONFIDENCE = bentoml.metrics.Histogram(
    name="digits_confidence",
    documentation="Probability of the digit named",
    labelnames=LABELS,
    buckets=(0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0),
)
UNCERTAIN = bentoml.metrics.Counter(
    name="digits_uncertain",
    documentation="Answers flagged uncertain, by why: low_confidence, not_a_digit or no_digit",
    labelnames=[*LABELS, "why"],
)
INPUT_PIXELS = bentoml.metrics.Histogram(
    name="digits_input_pixels",
    documentation="Width x height of the images read",
    labelnames=LABELS,
    buckets=(1e3, 1e4, 1e5, 3e5, 1e6, 3e6, 1e7, 4e7),
)
LOG_FAILURES = bentoml.metrics.Counter(
    name="digits_prediction_log_failures",
    documentation="Answers that could not be written to the prediction log",
    labelnames=LABELS,
)


def version_label(tag: str, labels: dict[str, str]) -> str:
    """The model version the metrics and the log name: `<registered model>/<version>` for a
    packaged model, else its BentoML tag."""
    if "mlflow_version" in labels:
        return f"{labels['mlflow_model']}/{labels['mlflow_version']}"
    return tag


class Observer:
    """Give each answer an id, count it, and queue its row for the prediction log (when on)."""

    def __init__(
        self, model_version: str, log: PredictionLog | None, keep_uploads: bool = False
    ) -> None:
        self.model_version = model_version
        self.log = log
        self.keep_uploads = keep_uploads

    def answered(self, route: str, reading: Reading, upload: bytes, seconds: float) -> None:
        """Record one answer (not an error); adds its `id` to the answer."""
        reading.answer["id"] = str(uuid.uuid4())
        self._record(route, reading.answer["id"], reading.answer, reading.prepared, upload, seconds)

    def answered_number(
        self, route: str, reading: NumberReading, upload: bytes, seconds: float
    ) -> None:
        """Record a number read: a row per digit, each with its own `id` (`<number id>-<n>`,
        what /feedback corrects), or one row without a digit when none was found."""
        number_id = uuid.uuid4().hex
        reading.answer["id"] = number_id
        if not reading.digits:
            nothing = {**reading.answer, "digit": None, "confidence": None}
            self._record(route, number_id, nothing, None, upload, seconds)
        pairs = zip(reading.answer["digits"], reading.digits, strict=True)
        for index, (digit, seen) in enumerate(pairs, start=1):
            digit["id"] = f"{number_id}-{index}"
            self._record(route, digit["id"], digit, seen, upload, seconds, keep=index == 1)

    def _record(
        self,
        route: str,
        answer_id: str,
        answer: dict,
        prepared: Prepared | None,
        upload: bytes,
        seconds: float,
        keep: bool = True,
    ) -> None:
        """Count an answer and queue its row; `keep`: this row may hold the upload."""
        row = {
            "id": answer_id,
            "at": time.time(),
            "model_version": self.model_version,
            "route": route,
            **facts(answer, prepared),
            "upload_bytes": len(upload),
            "latency_ms": round(seconds * 1000, 3),
            "image": None if prepared is None else prepared.pixels,  # made bytes by the writer
            "upload": upload if self.keep_uploads and keep else None,
        }
        count(self.model_version, row)
        if self.log is not None:
            self.log.record(row)

    def log_failed(self, rows: int) -> None:
        LOG_FAILURES.labels(model_version=self.model_version).inc(rows)

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


def count(model_version: str, row: dict) -> None:
    """Count one answer in the metrics."""
    digit = "none" if row["digit"] is None else str(row["digit"])
    PREDICTIONS.labels(model_version=model_version, digit=digit).inc()
    if row["confidence"] is not None:
        CONFIDENCE.labels(model_version=model_version).observe(row["confidence"])
    if why := row["why"]:
        UNCERTAIN.labels(model_version=model_version, why=why).inc()
    if row["width"] is not None:
        INPUT_PIXELS.labels(model_version=model_version).observe(row["width"] * row["height"])
