"""BentoML service: digit recognition for real-world images, and a drawing page.

Typed BentoML endpoints (`bentoml.SyncHTTPClient` calls them by name):
  POST /predict        file `image` [, `preprocessed`]: one image -> its answer, with an `id`
  POST /predict_batch  files `images`: many images -> one answer or error each
  POST /read           file `image`: a written number -> the number, each digit with its box
  POST /feedback       JSON `id`, `digit`: a correction of an answer, pending review
Every answer is counted on /metrics and recorded in the prediction log (digits.observing).
Mounted routes: GET /ui (the drawing page), GET /model (the served model), GET /docs.json
(BentoML's schema with the statuses these routes really send). BentoML adds /livez, /readyz,
/metrics and its OpenAPI page at /.
"""

import json
import os
import time
from pathlib import Path
from typing import Any

import bentoml
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route
from threadpoolctl import threadpool_limits

from digits.limits import FileField, UploadGuard
from digits.settings import Settings

SETTINGS = Settings.from_environment()
PAGE = Path(__file__).with_name("ui") / "index.html"
# A bento serves the model it was built for: the package stage writes its tag here. Served
# from source (tests, benchmarks), DIGITS_MODEL names a model of the BentoML store.
PINNED_MODEL = Path(__file__).with_name("pinned_model.json")


def model_tag() -> str:
    if PINNED_MODEL.exists():
        return json.loads(PINNED_MODEL.read_text())["tag"]
    if tag := os.environ.get("DIGITS_MODEL"):
        return tag
    raise RuntimeError(
        "no model to serve: serve a bento built by the package stage (make serve), or set"
        " DIGITS_MODEL to a model tag of the BentoML store (bentoml models list)"
    )


class Answer(BaseModel):
    """One image's answer. A blank image: digit, confidence and probabilities null."""

    id: str = Field(description="names the answer in the prediction log (and for corrections)")
    digit: int | None = Field(ge=0, le=9)
    confidence: float | None
    probabilities: list[float] | None = Field(min_length=10, max_length=10)
    uncertain: bool = Field(description="hard to read, not a digit, or blank: see `why`")
    why: str | None = Field(
        None, description="only when uncertain: low_confidence, not_a_digit or no_digit"
    )
    reason: str | None = Field(None, description="only when uncertain, in words")
    preprocessed: str | None = Field(None, description="28x28 PNG, base64, when asked for")


class DigitRead(BaseModel):
    """One digit of a number, left to right."""

    id: str = Field(description="names this digit's answer in the prediction log (corrections)")
    digit: int = Field(ge=0, le=9)
    confidence: float
    uncertain: bool
    why: str | None = Field(None, description="only when uncertain: low_confidence, not_a_digit")
    reason: str | None = None
    box: list[int] = Field(
        min_length=4, max_length=4, description="[x, y, width, height] in the upload's pixels"
    )


class NumberAnswer(BaseModel):
    """A written number. No digit found: number null, digits empty, uncertain true."""

    id: str = Field(description="names the reading; its digits' ids are `<id>-1`, `<id>-2`...")
    number: str | None = Field(description="the digits read, left to right")
    digits: list[DigitRead]
    uncertain: bool = Field(description="a digit is uncertain, or the digits could be cut two ways")
    why: str | None = Field(
        None,
        description="only when uncertain: low_confidence, not_a_digit (of a digit),"
        " ambiguous_cut, no_digit or too_many_marks",
    )
    reason: str | None = Field(None, description="only when uncertain, in words")


class ErrorAnswer(BaseModel):
    """Why a request or an image was refused."""

    error: str


class Stored(BaseModel):
    """A correction as stored: pending until a person reviews it."""

    id: str
    digit: int | None = Field(description="the right digit; null: not a digit")
    answered: int | None = Field(description="the digit the service had named")
    status: str


class BatchAnswer(BaseModel):
    predictions: list[Answer | ErrorAnswer]


# The statuses the upload routes send, for /docs.json.
STATUSES = {
    "400": "unreadable image, malformed multipart, missing file field, too many files",
    "408": "the upload did not arrive within half of DIGITS_TIMEOUT_SECONDS",
    "413": "the upload is over DIGITS_MAX_UPLOAD_BYTES",
    "415": "not multipart/form-data, or not an image format the service reads",
    "504": "no answer within DIGITS_TIMEOUT_SECONDS",
}


def ui(request: Request) -> FileResponse:
    return FileResponse(PAGE, media_type="text/html")


def model_info(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.model_info)


FEEDBACK_STATUSES = {
    "400": "not JSON, or `digit` not 0-9 or null",
    "404": "no answer has this id (answers are kept DIGITS_LOG_RETENTION_DAYS)",
    "409": "the answer has been corrected already",
    "413": "the body is over DIGITS_MAX_UPLOAD_BYTES",
    "503": "the prediction log is off (DIGITS_PREDICTION_LOG=off) or cannot be reached",
}


def docs(request: Request) -> JSONResponse:
    spec = DigitRecognizer.openapi_spec.asdict()
    routes = {
        "/predict": STATUSES,
        "/predict_batch": STATUSES,
        "/read": STATUSES,
        "/feedback": FEEDBACK_STATUSES,
    }
    for route, statuses in routes.items():
        operation = spec["paths"][route]["post"]
        responses = {str(status): answer for status, answer in operation["responses"].items()}
        responses.pop("404", None)  # BentoML lists it for every route; these never send it
        if route == "/feedback":  # it answers 201 Created, not 200
            responses["201"] = responses.pop("200")
        operation["responses"] = responses
        for status, description in statuses.items():
            responses[status] = {
                "description": description,
                "content": {"application/json": {"schema": ErrorAnswer.model_json_schema()}},
            }
    return JSONResponse(spec)


pages = Starlette(
    routes=[
        Route("/ui", ui),
        Route("/model", model_info),
        Route("/docs.json", docs),  # mounted apps come first: this replaces BentoML's
    ]
)


@bentoml.asgi_app(pages, path="/")
@bentoml.service(
    workers=SETTINGS.workers,
    logging={"access": {"enabled": SETTINGS.access_log}},
    # Spans per request (and per body chunk) cost time; BentoML drops them unless an exporter
    # is configured: DIGITS_TRACING=1 keeps them.
    tracing={} if SETTINGS.tracing else {"excluded_urls": ".*"},
    traffic={"timeout": SETTINGS.timeout_seconds},
    # Loopback unless told otherwise: `--host 0.0.0.0` or BENTOML_HOST=0.0.0.0 (containers).
    http={"host": "127.0.0.1"},
)
class DigitRecognizer:
    bento_model = bentoml.models.BentoModel(model_tag())

    def __init__(self) -> None:
        # Imported here, in the workers only: BentoML's supervisor imports this module too, and
        # NumPy, SciPy, Pillow and LiteRT would delay start-up there (figures: docs/serving.md).
        from digits import feedback
        from digits.images import pixel_count
        from digits.number_reading import read_number
        from digits.observing import Observer, version_label
        from digits.policy import Policy
        from digits.prediction_log import OFF, PredictionLog, Retention, served_location
        from digits.serving import DigitClassifier, answer_images

        self.pixel_count, self.answer_images = pixel_count, answer_images
        self.read_number = read_number
        self.corrections = feedback  # correct() and its refusals
        # The preprocessing's matrix products are small: spread over BLAS threads they only
        # contend with the event loop (docs/serving.md).
        threadpool_limits(1, user_api="blas")
        self.computing = 0  # single-image requests of this worker in their CPU work
        self.classifier = DigitClassifier(
            Path(self.bento_model.path_of("model.tflite")), SETTINGS.threads
        )
        self.policy = Policy.of(self.bento_model.info.metadata)
        labels = self.bento_model.info.labels
        model_version = version_label(str(self.bento_model.tag), labels)
        pages.state.model_info = {
            "tag": str(self.bento_model.tag),
            **labels,
            "model_version": model_version,
            **self.policy.as_dict(),
        }
        log = None
        if SETTINGS.prediction_log != OFF:
            retention = Retention(SETTINGS.log_retention_days, SETTINGS.log_retention_rows)
            log = PredictionLog(
                served_location(SETTINGS.prediction_log),
                retention,
                lambda rows: self.observer.log_failed(rows),
            )
        self.observer = Observer(model_version, log, SETTINGS.keep_uploads)

    @bentoml.on_shutdown
    def close_log(self) -> None:
        """Write what the prediction log still holds before the worker exits."""
        self.observer.close()

    @bentoml.api(route="/predict")
    async def predict(self, image: Path, preprocessed: bool = False) -> Answer:
        """One image (any format the service reads) -> its digit, confidence, the ten
        probabilities and whether it is uncertain; `preprocessed` adds the 28x28 image the
        model saw. A blank image answers digit null, uncertain true."""
        started = time.perf_counter()
        data = image.read_bytes()
        reading = await self.compute(data, preprocessed)
        if "error" in reading.answer:
            return JSONResponse(reading.answer, status_code=reading.status)
        self.observer.answered("/predict", reading, data, time.perf_counter() - started)
        return JSONResponse(reading.answer)

    async def compute(self, data: bytes, preprocessed: bool) -> Any:
        """Answer on the event loop when no other image is being computed here and it is small
        (saves the hand-off to a thread), else in the thread pool, so that a busy worker keeps
        reading requests while it computes."""
        inline = self.computing == 0 and self.pixel_count(data) <= SETTINGS.inline_max_pixels
        self.computing += 1
        try:
            if inline:
                return self.answer(data, preprocessed)
            return await run_in_threadpool(self.answer, data, preprocessed)
        finally:
            self.computing -= 1

    def answer(self, data: bytes, preprocessed: bool) -> Any:
        [reading] = self.answer_images(
            self.classifier.probabilities,
            [data],
            self.policy,
            SETTINGS.max_pixels,
            preprocessed,
        )
        return reading

    @bentoml.api(route="/predict_batch")
    async def predict_batch(self, images: list[Path]) -> BatchAnswer:
        """Many images -> {"predictions": [an answer, or {"error"} for an unreadable image]},
        in the order sent."""
        started = time.perf_counter()
        datas = [path.read_bytes() for path in images]
        readings = await run_in_threadpool(
            self.answer_images,
            self.classifier.probabilities,
            datas,
            self.policy,
            SETTINGS.max_pixels,
        )
        seconds = time.perf_counter() - started
        for reading, data in zip(readings, datas, strict=True):
            if "error" not in reading.answer:
                self.observer.answered("/predict_batch", reading, data, seconds)
        return JSONResponse({"predictions": [reading.answer for reading in readings]})

    @bentoml.api(route="/read")
    async def read(self, image: Path) -> NumberAnswer:
        """A photo, scan or drawing of a written number -> the number, and each digit left to
        right with its box in the upload's pixels, confidence and uncertain flag. All its digits
        go through the model in one call; touching digits are cut where the model reads two
        digits best (their candidate pieces in one more call). No digit: number null."""
        started = time.perf_counter()
        data = image.read_bytes()
        reading = await run_in_threadpool(
            self.read_number,
            self.classifier.probabilities,
            data,
            self.policy,
            SETTINGS.max_pixels,
        )
        if "error" in reading.answer:
            return JSONResponse(reading.answer, status_code=reading.status)
        self.observer.answered_number("/read", reading, data, time.perf_counter() - started)
        return JSONResponse(reading.answer)

    @bentoml.api(route="/feedback")
    async def feedback(
        self,
        id: str = Field(max_length=64, description="the `id` of an answer"),
        digit: int | None = Field(ge=0, le=9, description="the right digit; null: not a digit"),
    ) -> Stored:
        """Correct an answer: 201 and the pending correction; 404 for an id no answer has,
        409 when it has been corrected already, 503 with the prediction log off or down. A person
        reviews it before it can reach training (README, "Learning from corrections")."""
        if self.observer.log is None:
            return JSONResponse({"error": "corrections need the prediction log"}, 503)
        try:
            stored = await run_in_threadpool(
                self.corrections.correct,
                self.observer.log.engine,
                id,
                digit,
                SETTINGS.feedback_wait_seconds,
            )
        except self.corrections.UnknownAnswer as unknown:
            return JSONResponse({"error": str(unknown)}, 404)
        except self.corrections.AlreadyCorrected as twice:
            return JSONResponse({"error": str(twice)}, 409)
        except self.corrections.LogUnavailable as down:
            return JSONResponse({"error": str(down)}, 503)
        return JSONResponse(stored, 201)


upload_routes = {
    "/predict": FileField("image"),
    "/predict_batch": FileField("images", SETTINGS.max_batch_images),
    "/read": FileField("image"),
}
DigitRecognizer.add_asgi_middleware(
    UploadGuard,
    max_bytes=SETTINGS.max_upload_bytes,
    seconds=SETTINGS.timeout_seconds / 2,
    upload_routes=upload_routes,
)
