"""BentoML service: digit recognition for real-world images, a raw batch API and a drawing page.

Routes (FastAPI, mounted on the service so that every bad request gets a JSON 4xx from our code):
  POST /predict        multipart field `image`: one image -> digit, confidence, probabilities,
                       uncertain (blank or not digit-like: see digits.serving.UNCERTAIN_BELOW)
  POST /predict_batch  multipart fields `images`: many images -> one answer or error each
  GET  /ui             the drawing and upload page
BentoML adds /classify (the batched model call, MNIST-style arrays), /livez, /readyz,
/metrics and its OpenAPI page at / (schema at /docs.json).
"""

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import bentoml
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from threadpoolctl import threadpool_limits

from digits.images import BlankImageError, pixel_count
from digits.serving import (
    UNCERTAIN_BELOW,
    DigitClassifier,
    UnreadableImage,
    answer,
    blank_answer,
    png_base64,
    read_image,
)

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


MAX_UPLOAD_BYTES = int(os.environ.get("DIGITS_MAX_UPLOAD_BYTES", 10 * 1024 * 1024))
MAX_PIXELS = int(os.environ.get("DIGITS_MAX_PIXELS", 40_000_000))
MAX_BATCH_IMAGES = int(os.environ.get("DIGITS_MAX_BATCH_IMAGES", 64))
# A request unanswered after this long gets a 504 (BentoML); its upload must arrive within
# half of it, else 408: a slow or stalled client cannot hold a connection for long.
TIMEOUT_SECONDS = float(os.environ.get("DIGITS_TIMEOUT_SECONDS", 30))
UNCERTAIN = float(os.environ.get("DIGITS_UNCERTAIN_BELOW", UNCERTAIN_BELOW))
# Two worker processes, one TensorFlow thread each, measured best on 2 cores (README, Serving
# speed): 290 requests/s at concurrency 32 against 89 with one worker.
WORKERS = int(os.environ.get("DIGITS_WORKERS", 2))  # processes; each holds the model
# TensorFlow threads per worker: the cores shared out, so workers do not oversubscribe them.
THREADS = int(os.environ.get("DIGITS_THREADS", max(1, (os.cpu_count() or 1) // WORKERS)))
# Images up to this size may be answered on the event loop (a few ms; see compute()).
INLINE_MAX_PIXELS = int(os.environ.get("DIGITS_INLINE_MAX_PIXELS", 4_000_000))
ACCESS_LOG = os.environ.get("DIGITS_ACCESS_LOG", "0") == "1"  # a log line per request: costly
# OpenTelemetry spans per request (and per body chunk), which BentoML drops unless a trace
# exporter is configured: DIGITS_TRACING=1 keeps them. Off: 15% more requests/s here.
TRACING = os.environ.get("DIGITS_TRACING", "0") == "1"
PAGE = Path(__file__).with_name("ui") / "index.html"

http = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


class BadRequest(Exception):
    """A request we refuse: HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class UploadLimit:
    """ASGI middleware on every route (BentoML's /classify too): reads the request body here,
    refusing it by its declared length or as it streams in once over the size limit (413), or
    when it does not arrive in time (408), then hands it on whole from memory."""

    def __init__(self, app: Any, max_bytes: int, seconds: float) -> None:
        self.app, self.max_bytes, self.seconds = app, max_bytes, seconds

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        try:
            async with asyncio.timeout(self.seconds):
                body = await self.read_body(scope, receive)
        except TimeoutError:
            message = f"the upload did not arrive within {self.seconds:g} s"
            return await error(408, message)(scope, receive, send)
        except BadRequest as failure:
            return await error(failure.status, failure.message)(scope, receive, send)
        if body is None:  # the client went away: nobody to answer
            return None
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:  # after the body, the app may only wait for a disconnect
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    async def read_body(self, scope: dict, receive: Any) -> bytes | None:
        too_big = BadRequest(413, f"the upload is over the limit of {self.max_bytes} bytes")
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise too_big
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                raise too_big
            if not message.get("more_body"):
                return bytes(body)


async def read_form(request: Request, max_files: int) -> Any:
    """The multipart form (the body is already read and capped by UploadLimit)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest(415, "send multipart/form-data with the image in a file field")
    try:
        return await request.form(max_files=max_files, max_fields=8)
    except HTTPException as failure:
        raise BadRequest(400, f"malformed multipart body: {failure.detail}") from failure


async def file_bytes(upload: Any, field: str) -> bytes:
    if not isinstance(upload, UploadFile):
        raise BadRequest(400, f"missing file field '{field}' (send the image as a file upload)")
    return await upload.read()


def prepare(data: bytes) -> np.ndarray | dict:
    """Image bytes -> (28, 28) MNIST-style pixels, or the final answer for a blank image (no
    digit, uncertain: not an error); unreadable images are a 4xx."""
    try:
        return read_image(data, MAX_PIXELS)
    except BlankImageError as blank:
        return blank_answer(str(blank))
    except UnreadableImage as failure:
        raise BadRequest(failure.status, str(failure)) from failure


def prepare_or_answer(data: bytes) -> np.ndarray | dict:
    """For batches: the pixels, else this image's final answer (blank, or why it is unreadable)."""
    try:
        return prepare(data)
    except BadRequest as failure:
        return {"error": failure.message}


@bentoml.asgi_app(http, path="/")
@bentoml.service(
    workers=WORKERS,
    logging={"access": {"enabled": ACCESS_LOG}},
    tracing={} if TRACING else {"excluded_urls": ".*"},
    traffic={"timeout": TIMEOUT_SECONDS},
    # Loopback unless told otherwise: `--host 0.0.0.0` or BENTOML_HOST=0.0.0.0 (containers).
    http={"host": "127.0.0.1"},
    # BentoML's internal client otherwise recycles its connection pool every 100 calls while
    # calls are in flight, failing some batched requests (bentoml issues 5540, 5544).
    runner_connection={"max_requests": 10**9, "max_age": 1e9},
)
class DigitRecognizer:
    bento_model = bentoml.models.BentoModel(model_tag())

    def __init__(self) -> None:
        # The preprocessing's matrix products are small: split over BLAS threads they only
        # contend with the event loop (c=1 p50 1 ms slower on 2 cores).
        threadpool_limits(1, user_api="blas")
        self.computing = 0  # single-image requests of this worker in their CPU work
        self.classifier = DigitClassifier(
            self.bento_model.path_of("mlflow_model/artifacts/model.keras"), THREADS
        )
        self.model_info = {"tag": str(self.bento_model.tag), **self.bento_model.info.labels}

    @bentoml.api(batchable=True, max_batch_size=256, max_latency_ms=10_000)
    def classify(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28) MNIST-style images in [0, 1] -> (N, 10) probabilities, batched adaptively."""
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise bentoml.exceptions.InvalidArgument(
                f"images must have shape (N, 28, 28), got {images.shape}"
            )
        return self.classifier.probabilities(images)

    @http.post("/predict")
    async def predict(self, request: Request, preprocessed: bool = False) -> JSONResponse:
        """One image (field `image`) -> {digit, confidence, probabilities, uncertain[, reason]
        [, preprocessed]}; a blank image -> digit null, uncertain true."""
        try:
            form = await read_form(request, max_files=1)
            data = await file_bytes(form.get("image"), "image")
            return JSONResponse(await self.compute(data, preprocessed))
        except BadRequest as failure:
            return error(failure.status, failure.message)

    async def compute(self, data: bytes, preprocessed: bool) -> dict:
        """Answer one image on the event loop when no other is being computed here and it is
        small (saves the hand-off to a thread, about 1 ms of 5), else in the thread pool, so
        that a busy worker keeps reading requests while it computes."""
        inline = self.computing == 0 and pixel_count(data) <= INLINE_MAX_PIXELS
        self.computing += 1
        try:
            if inline:
                return self.answer_image(data, preprocessed)
            return await run_in_threadpool(self.answer_image, data, preprocessed)
        finally:
            self.computing -= 1

    def answer_image(self, data: bytes, preprocessed: bool) -> dict:
        pixels = prepare(data)
        if isinstance(pixels, dict):  # a blank image: answered without the model
            return pixels
        result = answer(self.classifier.probabilities(pixels[None])[0], UNCERTAIN)
        if preprocessed:
            result["preprocessed"] = png_base64(pixels)
        return result

    @http.post("/predict_batch")
    async def predict_batch(self, request: Request) -> JSONResponse:
        """Many images (fields `images`) -> {"predictions": [answer or {"error"} per image]}."""
        try:
            form = await read_form(request, max_files=MAX_BATCH_IMAGES)
            uploads = form.getlist("images")
            if not uploads:
                raise BadRequest(400, "missing file fields 'images' (one per image)")
            datas = [await file_bytes(upload, "images") for upload in uploads]
        except BadRequest as failure:
            return error(failure.status, failure.message)
        prepared = await run_in_threadpool(lambda: [prepare_or_answer(data) for data in datas])
        images = [pixels for pixels in prepared if isinstance(pixels, np.ndarray)]
        probabilities = iter(await self.to_async.classify(np.stack(images)) if images else [])
        results = [
            answer(next(probabilities), UNCERTAIN) if isinstance(item, np.ndarray) else item
            for item in prepared
        ]
        return JSONResponse({"predictions": results})

    @http.get("/model")
    def model(self) -> dict:
        """Which model is served: BentoML tag and its MLflow version, run and metrics."""
        return self.model_info

    @http.get("/ui", include_in_schema=False)
    def ui(self) -> FileResponse:
        return FileResponse(PAGE, media_type="text/html")


DigitRecognizer.add_asgi_middleware(
    UploadLimit, max_bytes=MAX_UPLOAD_BYTES, seconds=TIMEOUT_SECONDS / 2
)
