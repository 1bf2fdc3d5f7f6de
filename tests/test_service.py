"""The BentoML service: in-process through its ASGI app, and a real `bentoml serve` of the
exported bento on 127.0.0.1, both with the model of the pipeline fixture."""

import asyncio
import io
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import keras
import numpy as np
import psutil
import pytest
from conftest import Project, listening_on, synthetic_digits
from hostile_uploads import Upload, uploads
from PIL import Image

from digits.images import BlankImageError, to_mnist
from digits.serving import UNCERTAIN_BELOW

pytestmark = pytest.mark.integration


def png(pixels: np.ndarray, size: int = 140, dark_on_light: bool = True) -> bytes:
    """A test digit as a user would send it: enlarged, dark ink on light paper."""
    image = Image.fromarray(pixels).resize((size, size), Image.Resampling.BICUBIC)
    if dark_on_light:
        image = Image.eval(image, lambda value: 255 - value)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


DIGITS = [png(image) for image in synthetic_digits(6, seed=9)[0]]


@pytest.fixture(scope="module")
def model(pipeline_project: Project) -> keras.Model:
    return keras.models.load_model(pipeline_project.path / "data/model/model.keras")


def expected_probabilities(model: keras.Model, data: bytes) -> np.ndarray:
    pixels = to_mnist(data).pixels
    return model(pixels[None, ..., None], training=False).numpy()[0]


@pytest.fixture(scope="module")
def client(served_bento: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served_bento, timeout=60) as http:
        yield http


def test_predict_agrees_with_the_model(client: httpx.Client, model: keras.Model) -> None:
    for data in DIGITS:
        response = client.post("/predict", files={"image": ("digit.png", data, "image/png")})
        assert response.status_code == 200, response.text
        body = response.json()
        expected = expected_probabilities(model, data)
        np.testing.assert_allclose(body["probabilities"], expected, atol=1e-5)
        assert body["digit"] == int(np.argmax(expected))
        assert body["confidence"] == pytest.approx(float(expected.max()), abs=1e-5)
        assert body["uncertain"] == (expected.max() < UNCERTAIN_BELOW)
        assert "preprocessed" not in body


def test_predict_can_return_the_preprocessed_image(client: httpx.Client) -> None:
    response = client.post("/predict?preprocessed=true", files={"image": ("d.png", DIGITS[0])})
    import base64

    image = Image.open(io.BytesIO(base64.b64decode(response.json()["preprocessed"])))
    assert image.size == (28, 28) and image.mode == "L"
    expected = to_mnist(DIGITS[0]).pixels
    np.testing.assert_allclose(np.asarray(image) / 255.0, expected, atol=1 / 255 + 1e-6)


def test_batch_agrees_with_single_and_reports_bad_items(client: httpx.Client) -> None:
    files = [("images", (f"{i}.png", data, "image/png")) for i, data in enumerate(DIGITS)]
    files.insert(2, ("images", ("notes.txt", b"not an image", "text/plain")))
    response = client.post("/predict_batch", files=files)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == len(DIGITS) + 1
    assert "not a supported image" in predictions[2]["error"]
    del predictions[2]
    for data, batched in zip(DIGITS, predictions, strict=True):
        single = client.post("/predict", files={"image": ("d.png", data)}).json()
        np.testing.assert_allclose(batched["probabilities"], single["probabilities"], atol=1e-5)
        assert batched["digit"] == single["digit"]


HOSTILE = uploads()


def test_the_hostile_corpus_is_broad() -> None:
    assert len(HOSTILE) >= 30 and len({upload.name for upload in HOSTILE}) == len(HOSTILE)
    assert {400, 413, 415, 200} <= {upload.status for upload in HOSTILE}


@pytest.mark.parametrize("upload", HOSTILE, ids=[upload.name for upload in HOSTILE])
def test_hostile_upload_gets_a_clear_answer_and_the_service_stays_ready(
    client: httpx.Client, model: keras.Model, upload: Upload
) -> None:
    response = client.post("/predict", content=upload.body, headers=upload.headers)
    assert response.status_code == upload.status, response.text
    body = response.json()
    if upload.status != 200:
        assert upload.says in body["error"], body
    else:  # a valid image: the model's own answer for it, or no digit when it is blank
        try:
            expected = expected_probabilities(model, upload.image)
        except BlankImageError:
            assert body["digit"] is None and body["uncertain"] is True
        else:
            np.testing.assert_allclose(body["probabilities"], expected, atol=1e-5)
    assert client.get("/readyz").status_code == 200


def test_every_route_caps_the_upload(client: httpx.Client) -> None:
    """BentoML's own /classify too: a body over the limit is refused before it is parsed."""
    huge = b"[" + b"0.5," * (3 * 2**20) + b"0.5]"
    for route in ("/classify", "/predict_batch"):
        response = client.post(route, content=huge, headers={"content-type": "application/json"})
        assert response.status_code == 413, response.text
        assert "over the limit" in response.json()["error"]
    assert client.get("/readyz").status_code == 200


def test_blank_image_is_answered_as_uncertain_with_no_digit(client: httpx.Client) -> None:
    blank = png(np.zeros((28, 28), np.uint8))
    response = client.post("/predict", files={"image": ("blank.png", blank, "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["digit"] is None and body["uncertain"] is True and "no digit" in body["reason"]
    files = [("images", ("blank.png", blank)), ("images", ("d.png", DIGITS[0]))]
    batch = client.post("/predict_batch", files=files).json()["predictions"]
    assert batch[0]["digit"] is None and batch[1]["digit"] is not None


def test_the_default_two_worker_processes_share_the_port(served_bento: str) -> None:
    port = httpx.URL(served_bento).port
    workers = listening_on(port).parent().children()
    assert len(workers) == 2  # DIGITS_WORKERS' default, each process with its own model
    for worker in workers:
        assert any(
            connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
            for connection in worker.net_connections("tcp")
        ), worker.cmdline()

    def predict(data: bytes) -> int:
        upload = {"image": ("digit.png", data, "image/png")}
        return httpx.post(f"{served_bento}/predict", files=upload, timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(predict, DIGITS * 4)) == {200}


def test_wrong_method_is_a_4xx(client: httpx.Client) -> None:
    assert client.get("/predict").status_code == 405


def test_page_health_metrics_and_model_info(client: httpx.Client) -> None:
    page = client.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<canvas id="pad"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # works offline
    assert client.get("/livez").status_code == 200
    assert "bentoml_service_request_total" in client.get("/metrics").text
    assert client.get("/").status_code == 200  # BentoML's OpenAPI page
    assert {"/predict", "/predict_batch"} <= set(client.get("/docs.json").json()["paths"])
    info = client.get("/model").json()
    assert info["tag"].startswith("mnist-cnn:") and info["mlflow_version"]


@pytest.fixture(scope="module")
def in_process(pipeline_project: Project) -> Iterator[object]:
    """The service class's ASGI app in this process, with the fixture's BentoML store."""
    os.environ["BENTOML_HOME"] = str(pipeline_project.bentoml_home)
    # The store also holds models of experiments run by other tests: pin the workspace's one.
    info = json.loads((pipeline_project.path / "dist/bento.json").read_text())
    os.environ["DIGITS_MODEL"] = info["bento_model"]
    from starlette.testclient import TestClient

    from service.service import DigitRecognizer

    with TestClient(DigitRecognizer.to_asgi()) as test_client:
        yield test_client


def test_in_process_service_answers_like_the_model(in_process, model: keras.Model) -> None:
    response = in_process.post("/predict", files={"image": ("d.png", DIGITS[1], "image/png")})
    assert response.status_code == 200, response.text
    expected = expected_probabilities(model, DIGITS[1])
    np.testing.assert_allclose(response.json()["probabilities"], expected, atol=1e-5)
    assert in_process.post("/predict", files={"image": ("x", b"junk")}).status_code == 415


def test_a_stalled_upload_gets_a_408_without_reaching_the_routes(in_process) -> None:
    from service.service import UploadLimit

    reached, sent = [], []

    async def route(scope: dict, receive: object, send: object) -> None:
        reached.append(scope)

    async def stalled() -> dict:
        await asyncio.sleep(30)  # a client that opened a request and sends nothing
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    limit = UploadLimit(route, max_bytes=1000, seconds=0.2)
    asyncio.run(limit({"type": "http", "method": "POST", "headers": []}, stalled, send))
    assert sent[0]["status"] == 408 and b"did not arrive within 0.2 s" in sent[1]["body"]
    assert not reached
