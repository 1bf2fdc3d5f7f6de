"""DVC remote storage: a teammate's fresh clone gets the data and the trained, packaged model
with `dvc pull` from the remote the first checkout pushed to, and serves it without retraining.
A local directory stands in for the remote (S3, GCS, SSH... work the same way)."""

import hashlib
import json
from pathlib import Path

import httpx
import pytest
from hostile_uploads import encode
from PIL import Image
from support.data import synthetic_digits
from support.processes import run, serving
from support.project import Project

from digits.images import to_mnist
from digits.serving import DigitClassifier

pytestmark = pytest.mark.integration


def test_push_then_pull_in_a_fresh_clone_serves_without_retraining(
    own_project: Project, tmp_path: Path
) -> None:
    project, env = own_project.path, own_project.env
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "--local", "-d", "team", str(remote)], project, env)
    run(["git", "add", "-A"], project, env)
    run(["git", "commit", "-q", "--allow-empty", "-m", "reproduced"], project, env)
    pushed = run(["dvc", "push"], project, env)
    assert "pushed" in pushed.stdout + pushed.stderr

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path, env)
    assert not (clone / "data/model/model.keras").exists()
    run(["dvc", "remote", "add", "-d", "team", str(remote)], clone, env)
    run(["dvc", "pull"], clone, env)
    for output in ("data/model/model.keras", "dist/digits.bento", "data/processed/test.npz"):
        assert (clone / output).read_bytes() == (project / output).read_bytes(), output
    again = run(["dvc", "repro"], clone, env)
    assert "Running stage" not in again.stdout + again.stderr  # nothing to retrain
    info = json.loads((clone / "dist/bento.json").read_text())
    bento = clone / "dist/digits.bento"
    assert hashlib.sha256(bento.read_bytes()).hexdigest() == info["bento_sha256"]

    digit = Image.fromarray(synthetic_digits(1, seed=3)[0][0]).resize((112, 112))
    with serving(bento, tmp_path, env) as url:
        files = {"image": ("digit.png", encode(digit, "PNG"), "image/png")}
        response = httpx.post(f"{url}/predict", files=files, timeout=60)
    assert response.status_code == 200, response.text
    pulled = DigitClassifier(clone / "data/model/model.tflite")  # the model dvc pull brought
    expected = pulled.probabilities(to_mnist(encode(digit, "PNG")).pixels[None])[0]
    assert response.json()["digit"] == int(expected.argmax())
