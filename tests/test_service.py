"""The BentoML service: in-process through its ASGI app, and a real `bentoml serve` of the
exported bento on 127.0.0.1, both with the model of the pipeline fixture."""

import io
import json
import os
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bentoml
import httpx
import numpy as np
import psutil
import pytest
from hostile_uploads import Upload, uploads
from PIL import Image
from support.data import synthetic_digits
from support.polling import poll_until
from support.processes import listening_on, run
from support.project import Project

from digits.compose import compose_number
from digits.images import BlankImageError, to_mnist
from digits.number_reading import read_number
from digits.policy import Policy
from digits.serving import DigitClassifier
from digits.wild import NUMBER_STYLES

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
def model(pipeline_project: Project) -> DigitClassifier:
    """The converted model the evaluate stage scored, which the bento serves."""
    return DigitClassifier(pipeline_project.path / "data/model/model.tflite")


@pytest.fixture(scope="module")
def chosen(pipeline_project: Project) -> dict:
    """The policy the evaluate stage chose for the model on validation data."""
    return json.loads((pipeline_project.path / "reports/policy.json").read_text())


@pytest.fixture(scope="module")
def rule(chosen: dict) -> float:
    return chosen["uncertain_below"]  # the not-a-digit rule only names why


def expected_probabilities(model: DigitClassifier, data: bytes) -> np.ndarray:
    return model.probabilities(to_mnist(data).pixels[None])[0]


@pytest.fixture(scope="module")
def client(served_bento: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served_bento, timeout=60) as http:
        yield http


def test_predict_agrees_with_the_model(
    client: httpx.Client, model: DigitClassifier, rule: float
) -> None:
    for data in DIGITS:
        response = client.post("/predict", files={"image": ("digit.png", data, "image/png")})
        assert response.status_code == 200, response.text
        body = response.json()
        expected = expected_probabilities(model, data)
        np.testing.assert_allclose(body["probabilities"], expected, atol=1e-5)
        assert body["digit"] == int(np.argmax(expected))
        assert body["confidence"] == pytest.approx(float(expected.max()), abs=1e-5)
        assert body["uncertain"] == (expected.max() < rule)
        assert "preprocessed" not in body


def number_photo(seed: int) -> bytes:
    """A phone photo of a number written with the test data's digits, two of them touching."""
    images = synthetic_digits(4, seed=seed)[0].astype(np.float32) / 255
    rng = np.random.default_rng(seed)
    number = None
    while number is None:
        number = compose_number(list(images), rng, touching=1)
    return NUMBER_STYLES["ink_photo"](number, rng)


def test_read_agrees_with_the_domain_function_and_is_logged(
    client: httpx.Client, model: DigitClassifier, chosen: dict, served_bento_log
) -> None:
    for seed in (1, 2, 3):
        data = number_photo(seed)
        response = client.post("/read", files={"image": ("number.jpg", data, "image/jpeg")})
        assert response.status_code == 200, response.text
        body = response.json()
        expected = read_number(model.probabilities, data, Policy.of(chosen)).answer
        width, height = Image.open(io.BytesIO(data)).size
        for digit in body["digits"]:
            x, y, w, h = digit.pop("box")
            assert 0 <= x < x + w <= width + 1 and 0 <= y < y + h <= height + 1
            assert digit.pop("id").startswith(body["id"] + "-")
        for digit in expected["digits"]:
            digit.pop("box")
        assert {**body, "id": None} == {**expected, "id": None}
        assert len(body["number"]) == len(body["digits"]) >= 1

    def logged() -> list[tuple]:
        with sqlite3.connect(served_bento_log) as log:
            return log.execute(
                "SELECT id, digit FROM predictions WHERE id LIKE ?", (body["id"] + "-%",)
            ).fetchall()

    rows = poll_until(  # written in batches, by a thread of the worker
        logged, 30, "the digits of the last number in the log", ignoring=(sqlite3.OperationalError,)
    )
    assert sorted(digit for _, digit in rows) == sorted(int(d) for d in body["number"])


def test_predict_can_return_the_preprocessed_image(client: httpx.Client) -> None:
    response = client.post(
        "/predict", files={"image": ("d.png", DIGITS[0])}, data={"preprocessed": "true"}
    )
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


def answer_to(client: httpx.Client, route: str, upload: Upload) -> dict | None:
    """The body of a 200 answer to the upload; None when it was refused, as it must be, with
    the status and the error it must give."""
    response = client.post(route, content=upload.body, headers=upload.headers)
    assert response.status_code == upload.status, response.text
    body = response.json()
    if upload.status == 200:
        return body
    assert upload.says in body["error"], body
    return None


@pytest.mark.parametrize("upload", HOSTILE, ids=[upload.name for upload in HOSTILE])
def test_hostile_upload_gets_a_clear_answer_and_the_service_stays_ready(
    client: httpx.Client, model: DigitClassifier, upload: Upload
) -> None:
    body = answer_to(client, "/predict", upload)
    if body is not None:  # a valid image: the model's own answer for it, or no digit when blank
        try:
            expected = expected_probabilities(model, upload.image)
        except BlankImageError:
            assert body["digit"] is None and body["uncertain"] is True
        else:
            np.testing.assert_allclose(body["probabilities"], expected, atol=1e-5)
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("upload", HOSTILE, ids=[upload.name for upload in HOSTILE])
def test_hostile_upload_to_read_gets_the_same_clear_answer(
    client: httpx.Client, upload: Upload
) -> None:
    body = answer_to(client, "/read", upload)
    if body is not None:
        assert body["number"] is None or len(body["number"]) == len(body["digits"])
    assert client.get("/readyz").status_code == 200


def test_every_route_caps_the_upload(client: httpx.Client) -> None:
    """Any POST, even to a route that does not exist: refused before it is parsed."""
    huge = b"[" + b"0.5," * (3 * 2**20) + b"0.5]"
    for route in ("/predict_batch", "/anything"):
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


def test_page_health_metrics_and_model_info(client: httpx.Client, chosen: dict) -> None:
    page = client.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<canvas id="pad"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # works offline
    assert client.get("/livez").status_code == 200
    assert "bentoml_service_request_total" in client.get("/metrics").text
    assert client.get("/").status_code == 200  # BentoML's OpenAPI page
    info = client.get("/model").json()
    assert info["tag"].startswith("mnist-cnn:") and info["mlflow_version"]
    policy = {key: chosen[key] for key in ("uncertain_below", "not_digit_below", "one_digit_above")}
    assert {key: info[key] for key in policy} == policy  # the policy evaluate chose for it


def test_the_schema_documents_multipart_bodies_answers_and_real_statuses(
    client: httpx.Client,
) -> None:
    paths = client.get("/docs.json").json()["paths"]
    for route, field in (("/predict", "image"), ("/predict_batch", "images"), ("/read", "image")):
        operation = paths[route]["post"]
        body = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert field in body["properties"] and body["required"] == [field]
        assert {"200", "400", "408", "413", "415"} <= set(operation["responses"])
        assert "404" not in operation["responses"]
    answer = paths["/predict"]["post"]["responses"]["200"]["content"]["application/json"]
    fields = set(answer["schema"]["properties"])  # BentoML inlines the returned model's schema
    assert {"digit", "confidence", "probabilities", "uncertain", "why", "reason"} <= fields
    number = paths["/read"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"number", "digits", "uncertain", "why", "reason", "id"} <= set(number["properties"])


def test_bentoml_client_calls_the_endpoints_by_name(served_bento: str, tmp_path) -> None:
    files = []
    for i, data in enumerate(DIGITS[:3]):
        files.append(tmp_path / f"{i}.png")
        files[-1].write_bytes(data)
    with bentoml.SyncHTTPClient(served_bento, timeout=60) as client:
        singles = [client.predict(image=path) for path in files]
        with_pixels = client.predict(image=files[0], preprocessed=True)
        batch = client.predict_batch(images=files)
        stored = client.feedback(id=singles[1]["id"], digit=None)
        (tmp_path / "number.jpg").write_bytes(number_photo(4))
        number = client.read(image=tmp_path / "number.jpg")
        corrected = client.feedback(id=number["digits"][0]["id"], digit=3)
    assert with_pixels["digit"] == singles[0]["digit"] and "preprocessed" in with_pixels
    assert stored == {"id": singles[1]["id"], "digit": None, "answered": singles[1]["digit"],
                      "status": "pending"}  # fmt: skip
    assert [item["digit"] for item in batch["predictions"]] == [a["digit"] for a in singles]
    assert len(number["number"]) == len(number["digits"])
    assert corrected["answered"] == number["digits"][0]["digit"]


def test_the_served_bento_holds_no_tensorflow_and_fits_in_500_mb(
    served_bento: str, pipeline_project: Project
) -> None:
    info = json.loads((pipeline_project.path / "dist/bento.json").read_text())
    bento = Path(run(["bentoml", "get", info["bento_tag"], "-o", "path"], pipeline_project.path,
                     pipeline_project.env).stdout.strip())  # fmt: skip
    requirements = (bento / "env/python/requirements.txt").read_text().lower()
    for package in ("tensorflow", "keras", "mlflow", "dvc", "matplotlib"):
        assert f"\n{package}==" not in f"\n{requirements}", package
    assert "ai-edge-litert==" in requirements
    supervisor = listening_on(httpx.URL(served_bento).port).parent()
    processes = [supervisor, *supervisor.children(recursive=True)]
    resident = sum(process.memory_info().rss for process in processes)
    assert resident < 500 * 2**20, f"{resident / 2**20:.0f} MB"


@pytest.fixture(scope="module")
def in_process(pipeline_project: Project) -> Iterator[object]:
    """The service class's ASGI app in this process, with the fixture's BentoML store; the
    environment is restored afterwards."""
    saved = {
        name: os.environ.get(name)
        for name in ("BENTOML_HOME", "DIGITS_MODEL", "DIGITS_PREDICTION_LOG")
    }
    os.environ["BENTOML_HOME"] = str(pipeline_project.bentoml_home)
    os.environ["DIGITS_PREDICTION_LOG"] = "off"  # not in the checkout the tests run from
    # The store also holds models of experiments run by other tests: pin the workspace's one.
    info = json.loads((pipeline_project.path / "dist/bento.json").read_text())
    os.environ["DIGITS_MODEL"] = info["bento_model"]
    from starlette.testclient import TestClient

    from service.service import DigitRecognizer

    try:
        with TestClient(DigitRecognizer.to_asgi()) as test_client:
            yield test_client
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_in_process_service_answers_like_the_model(in_process, model: DigitClassifier) -> None:
    response = in_process.post("/predict", files={"image": ("d.png", DIGITS[1], "image/png")})
    assert response.status_code == 200, response.text
    expected = expected_probabilities(model, DIGITS[1])
    np.testing.assert_allclose(response.json()["probabilities"], expected, atol=1e-5)
    assert in_process.post("/predict", files={"image": ("x", b"junk")}).status_code == 415
