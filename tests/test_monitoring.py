"""Watching the served model, against a real `bentoml serve` of the pipeline fixture's bento:
every answer logged with its id (SQLite by default, PostgreSQL by URL), metrics on /metrics,
drift reported by `python -m digits.drift` (what make monitor runs), and a database that goes
down mid-stream costing counted failures, never an answer."""

import io
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from PIL import Image
from scipy import ndimage
from support.data import synthetic_digits
from support.polling import poll_until
from support.postgres import postgres_server
from support.processes import run, serving
from support.project import Project

from digits.drift import DRIFT_STATUS
from digits.prediction_log import database_url, pixels_of
from digits.wild import make_wild_set

pytestmark = pytest.mark.integration

IMAGES = synthetic_digits(400, seed=21)[0]


def realistic(first: int, seed: int, per_style: int = 18) -> list[bytes]:
    """Photos, chalk, canvas exports, scans... of test digits (the evaluate stage's styles)."""
    return [data for _, _, data in make_wild_set(IMAGES[first : first + 200], per_style, seed)]


def low_resolution_scans(count: int) -> list[bytes]:
    """Digits made differently: a thick pen, scanned at 24x24 pixels, saved as BMP."""
    scans = []
    for image in IMAGES[:count]:
        thick = ndimage.grey_dilation(image, size=3)
        small = Image.fromarray(255 - thick).resize((24, 24), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        small.save(buffer, "BMP")
        scans.append(buffer.getvalue())
    return scans


def predict_all(url: str, datas: list[bytes]) -> list[dict]:
    with httpx.Client(base_url=url, timeout=60) as client:
        answers = []
        for data in datas:
            response = client.post("/predict", files={"image": ("image", data)})
            assert response.status_code == 200, response.text
            answers.append(response.json())
    return answers


def logged_ids(location: str) -> set[str]:
    with sa.create_engine(database_url(location)).connect() as connection:
        return set(connection.execute(sa.text("select id from predictions")).scalars())


def wait_logged(location: str, ids: set[str]) -> None:
    poll_until(lambda: ids <= logged_ids(location), 30, "the answers in the prediction log",
               ignoring=(sa.exc.SQLAlchemyError,))  # fmt: skip


@pytest.fixture(scope="module")
def served(pipeline_project: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """The bento served with its default prediction log: predictions.db in BentoML's home.
    Yields (URL, that database file)."""
    workdir = tmp_path_factory.mktemp("monitored")
    with serving(pipeline_project.path / "dist/digits.bento", workdir, pipeline_project.env) as url:
        yield url, workdir / "bentoml" / "predictions.db"


def test_every_answer_is_logged_with_its_id(served: tuple) -> None:
    url, database = served
    answers = predict_all(url, realistic(0, seed=1, per_style=3))
    blank = Image.new("L", (50, 50), 255)
    buffer = io.BytesIO()
    blank.save(buffer, "PNG")
    with httpx.Client(base_url=url, timeout=60) as client:
        files = [("images", ("a.png", buffer.getvalue())), ("images", ("b", b"not an image"))]
        batch = client.post("/predict_batch", files=files).json()["predictions"]
    assert "id" not in batch[1] and "error" in batch[1]  # refused: nothing to log
    answers.append(batch[0])
    ids = {answer["id"] for answer in answers}
    assert len(ids) == len(answers)
    wait_logged(str(database), ids)

    with sqlite3.connect(database) as connection:
        connection.row_factory = sqlite3.Row
        rows = {row["id"]: row for row in connection.execute("select * from predictions")}
    for answer in answers:
        row = rows[answer["id"]]
        assert row["digit"] == answer["digit"] and row["uncertain"] == answer["uncertain"]
        assert row["model_version"].startswith("mnist-cnn/") and row["latency_ms"] > 0
    blank_row = rows[batch[0]["id"]]
    assert blank_row["why"] == "no_digit" and blank_row["image"] is None
    photo = rows[answers[0]["id"]]
    assert photo["format"] == "JPEG" and photo["width"] >= 160 and 0 < photo["ink"] < 1
    assert pixels_of(photo["image"]).max() > 0.5  # the 28x28 image the model saw
    assert photo["upload"] is None  # raw uploads only with DIGITS_KEEP_UPLOADS=1

    metrics = httpx.get(f"{url}/metrics").text
    version = photo["model_version"]
    counted = sum(
        float(value)
        for value in re.findall(
            rf'digits_predictions_total{{digit="\w+",model_version="{version}"}} (\S+)', metrics
        )
    )
    assert counted >= len(answers)
    assert f'digits_uncertain_total{{model_version="{version}",why="no_digit"}}' in metrics
    assert "digits_confidence_bucket" in metrics and "digits_input_pixels_bucket" in metrics


def monitor(project: Project, database: Path, command: str) -> tuple[int, str]:
    env = dict(project.env, DIGITS_PREDICTION_LOG=str(database), PYTHONPATH="src")
    done = run(["python", "-m", "digits.drift", command], project.path, env, check=False)
    return done.returncode, done.stdout + done.stderr


def test_drift_after_pinning_a_reference(served: tuple, own_project: Project) -> None:
    url, database = served
    params = yaml.safe_load((own_project.path / "params.yaml").read_text())
    params["monitor"]["window"] = 160
    (own_project.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    wait_logged(str(database), {a["id"] for a in predict_all(url, realistic(0, seed=1))})
    status, output = monitor(own_project, database, "reference")
    assert status == 0, output
    assert "pinned the last 160 answers" in output

    # Other digits, drawn the same ways: no drift.
    wait_logged(str(database), {a["id"] for a in predict_all(url, realistic(200, seed=2))})
    status, output = monitor(own_project, database, "check")
    assert status == 0, output
    report = yaml.safe_load((own_project.path / "reports/monitoring/drift.json").read_text())
    assert report["drift"] is False and report["reference"] == "reports/monitoring/reference.csv"
    assert (own_project.path / "reports/monitoring/drift.png").stat().st_size > 10_000

    # Digits scanned at another resolution with another pen: drift, exit status 3.
    wait_logged(str(database), {a["id"] for a in predict_all(url, low_resolution_scans(160))})
    status, output = monitor(own_project, database, "check")
    assert status == DRIFT_STATUS, output
    report = yaml.safe_load((own_project.path / "reports/monitoring/drift.json").read_text())
    assert report["drift"] is True
    assert report["checks"]["size"]["drift"] and report["checks"]["format"]["drift"]
    assert report["checks"]["size"]["p_value"] < report["checks"]["size"]["threshold"]


def failures_counted(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics").text
    return sum(
        map(float, re.findall(r"digits_prediction_log_failures_total\{[^}]*\} (\S+)", metrics))
    )


def test_a_database_down_mid_stream_costs_no_answer(
    pipeline_project: Project, tmp_path: Path
) -> None:
    with postgres_server() as postgres:
        env = dict(pipeline_project.env, DIGITS_PREDICTION_LOG=postgres.url)
        bento = pipeline_project.path / "dist/digits.bento"
        with serving(bento, tmp_path, env) as url:
            images = realistic(0, seed=3, per_style=10)[:40]
            before = predict_all(url, images[:20])
            wait_logged(postgres.url, {answer["id"] for answer in before})
            postgres.stop("immediate")
            after = predict_all(url, images[20:])  # every one answered 200
            assert len(after) == 20
            correction = {"id": before[0]["id"], "digit": 1}
            refused = httpx.post(f"{url}/feedback", json=correction, timeout=60)
            assert refused.status_code == 503, refused.text  # a server-side failure, said so
            # Every answer of the outage is counted lost before the database comes back; a
            # restart any sooner could let a worker's last, still gathering batch through.
            poll_until(lambda: failures_counted(url) == len(after), 30, "all lost on /metrics")
            postgres.start()
            recovered = predict_all(url, images[:5])
            wait_logged(postgres.url, {answer["id"] for answer in recovered})
            assert failures_counted(url) == len(after)
            assert not {answer["id"] for answer in after} & logged_ids(postgres.url)
        log = (tmp_path / "server.log").read_text()
        # Logged once per worker process while failing, not once per answer.
        assert 1 <= log.count("prediction log: writing failed") <= 2, log[-3000:]


def test_no_answer_is_lost_from_the_log_on_a_clean_shutdown(
    pipeline_project: Project, tmp_path: Path
) -> None:
    """Answers still queued when the server is stopped (SIGTERM) are written on the way out."""
    database = tmp_path / "log.db"
    env = dict(pipeline_project.env, DIGITS_PREDICTION_LOG=str(database))
    with serving(pipeline_project.path / "dist/digits.bento", tmp_path, env) as url:
        answers = predict_all(url, realistic(0, seed=4, per_style=8))
    assert {answer["id"] for answer in answers} <= logged_ids(str(database))
    assert "Completed cleanup hook: close_log" in (tmp_path / "server.log").read_text()
