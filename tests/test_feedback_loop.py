"""The loop a user runs, end to end: a real `bentoml serve` answers 40 images, 20 of its
answers are corrected through /feedback, a review accepts 15 and rejects 5, `dvc repro`
exports the 15, retrains with them (the fixture's quick recipe) and logs their count and
digest, evaluate scores field_accuracy and the promotion decision names it."""

import json
from pathlib import Path

import httpx
import pytest
import yaml
from mlflow.tracking import MlflowClient
from support.data import synthetic_digits
from support.processes import run, serving
from support.project import Project

from digits.wild import make_wild_set

pytestmark = pytest.mark.integration


def test_corrections_reviewed_exported_trained_on_and_compared(
    own_project: Project, tmp_path: Path
) -> None:
    database = own_project.path / "predictions.db"  # params.yaml's monitor.database
    env = dict(own_project.env, DIGITS_PREDICTION_LOG=str(database))
    images, labels = synthetic_digits(40, seed=31)
    samples = make_wild_set(images, 10, seed=5)[:40]  # photos, chalk, canvas, scans: 10 each
    bento = own_project.path / "dist/digits.bento"
    served = tmp_path / "served"
    served.mkdir()
    with (
        serving(bento, served, env) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        answers = []
        for _, _, data in samples:
            response = client.post("/predict", files={"image": ("photo", data)})
            assert response.status_code == 200, response.text
            answers.append(response.json())

        corrected = {}
        for answer, (_, index, _) in list(zip(answers, samples, strict=True))[:20]:
            response = client.post(
                "/feedback", json={"id": answer["id"], "digit": int(labels[index])}
            )
            assert response.status_code == 201, response.text
            assert response.json()["status"] == "pending"
            corrected[answer["id"]] = int(labels[index])

        first = answers[0]["id"]
        refusals = {
            409: {"id": first, "digit": 1},  # a second correction of one answer
            404: {"id": "no-such-answer", "digit": 1},
            400: {"id": answers[30]["id"], "digit": 12},
        }
        for status, body in refusals.items():
            assert client.post("/feedback", json=body).status_code == status, body
        assert client.post("/feedback", json={"id": answers[30]["id"]}).status_code == 400

    review_env = dict(env, PYTHONPATH="src")
    ids = list(corrected)
    run(["python", "-m", "digits.review", "accept", *ids[:15]], own_project.path, review_env)
    run(["python", "-m", "digits.review", "reject", *ids[15:]], own_project.path, review_env)

    result = run(["dvc", "repro"], own_project.path, own_project.env)
    output = result.stdout + result.stderr
    assert "feedback: 15 accepted corrections" in output
    manifest = json.loads((own_project.path / "data/feedback/manifest.json").read_text())
    assert (manifest["accepted"], manifest["train"], manifest["field"]) == (15, 11, 4)
    assert set(manifest["train_ids"] + manifest["field_ids"]) == set(ids[:15])

    params = yaml.safe_load((own_project.path / "params.yaml").read_text())
    run_id = json.loads((own_project.path / "data/model/mlflow_run.json").read_text())["run_id"]
    tracking = MlflowClient(f"sqlite:///{own_project.path / 'mlflow.db'}")
    logged = tracking.get_run(run_id).data
    assert logged.params["feedback_count"] == "11"
    assert logged.params["feedback_digest"] == manifest["digest"]
    repeat = params["train"]["feedback_repeat"]
    assert int(logged.params["train_size"]) == 500 + 11 * repeat  # 600 minus 100 validation

    metrics = json.loads((own_project.path / "reports/metrics.json").read_text())
    assert metrics["field_size"] == 4 and 0 <= metrics["field_accuracy"] <= 1
    assert logged.metrics["field_accuracy"] == metrics["field_accuracy"]
    assert "field_accuracy" in output.split("package: version 2")[1]  # the decision names it
    # a new field snapshot: the champion is scored again, with the policy it was registered with
    assert "the champion (version 1) was scored on another evaluation" in output
    name = params["package"]["registered_model"]
    comparison = json.loads(tracking.get_model_version(name, "2").tags["promotion.comparison"])
    assert comparison["field_accuracy"]["candidate"] == metrics["field_accuracy"]
