"""Which model serves, end to end: a copy of the reproduced project moved to another directory
runs a weaker experiment, which is registered but not promoted; both bentos serve their own
model version; promote and rollback move the alias by hand; the registered model reads images
through mlflow.pyfunc and `mlflow models serve` as the service does."""

import base64
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from hostile_uploads import encode
from mlflow.tracking import MlflowClient
from PIL import Image
from support.data import synthetic_digits
from support.ports import free_port
from support.processes import run, running, serving
from support.project import Project, copied

from digits.wild import make_wild_set

pytestmark = pytest.mark.integration

NAME = "mnist-cnn"


@dataclass(frozen=True)
class Moved:
    """The fixture project copied elsewhere, after a losing experiment in the copy."""

    path: Path
    env: dict
    output: str
    champion: str  # @champion's version before the experiment
    candidate: str  # the version the experiment registered
    original_bento: Path  # the original checkout's last bento (dist/), and its version
    original_version: str


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file()
    }


def store(project: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


@pytest.fixture(scope="module")
def moved(pipeline_project: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moved]:
    original = pipeline_project.path
    root = tmp_path_factory.mktemp("moved")
    shutil.copytree(original / "dist", root / "original")
    champion = str(store(original).get_model_version_by_alias(NAME, "champion").version)
    before = snapshot(original)
    copy = copied(pipeline_project, root / "elsewhere" / "project").path
    env = dict(pipeline_project.env, BENTOML_HOME=str(root / "bentoml"))
    # A model too weak to win, with the gate lowered so that it reaches packaging.
    weaker = ["-S", "train.presets.seed.learning_rate=0.00001", "-S", "evaluate.min_accuracy=0"]
    result = run(["dvc", "exp", "run", *weaker], copy, env)
    assert snapshot(original) == before, "the copy wrote into the original checkout"
    candidate = str(json.loads((copy / "dist/bento.json").read_text())["mlflow_version"])
    original_version = str(json.loads((root / "original/bento.json").read_text())["mlflow_version"])
    yield Moved(
        copy, env, result.stdout + result.stderr, champion, candidate,
        root / "original/digits.bento", original_version,
    )  # fmt: skip


def test_a_weaker_experiment_is_registered_but_not_promoted(moved: Moved) -> None:
    client = store(moved.path)
    champion = client.get_model_version_by_alias(NAME, "champion")
    assert str(champion.version) == moved.champion != moved.candidate
    candidate = client.get_model_version(NAME, moved.candidate)
    assert candidate.tags["promotion.decision"] == "not promoted"
    assert "worse than the champion on test_accuracy" in candidate.tags["promotion.reason"]
    stays = f"version {moved.candidate} not promoted; @champion stays on version {moved.champion}"
    assert stays in moved.output
    assert candidate.tags["promotion.reason"] in moved.output
    assert not json.loads((moved.path / "dist/bento.json").read_text())["promoted"]
    # Every artifact of the copy's store, old and new, lives in the copy.
    experiment = client.get_experiment_by_name(NAME)
    assert experiment.artifact_location == (moved.path / "mlartifacts").as_uri()
    for found in client.search_runs([experiment.experiment_id]):
        assert found.info.artifact_uri.startswith((moved.path / "mlartifacts").as_uri())
    champions_files = client.get_model_version_download_uri(NAME, moved.champion)
    assert champions_files.startswith((moved.path / "mlartifacts").as_uri())
    assert Path(champions_files.removeprefix("file://"), "MLmodel").exists()


def model_info(url: str) -> dict:
    return httpx.get(f"{url}/model", timeout=30).json()


def test_each_bento_serves_its_own_model_version(moved: Moved, tmp_path: Path) -> None:
    image = png_of(synthetic_digits(1, seed=5)[0][0])
    answers = {}
    home = tmp_path / "deploy"  # one fresh BentoML home holds both bentos
    home.mkdir()
    bentos = {
        moved.original_version: moved.original_bento,
        moved.candidate: moved.path / "dist/digits.bento",
    }
    assert len(bentos) == 2
    for version, bento in bentos.items():
        with serving(bento, home, moved.env) as url:
            assert model_info(url)["mlflow_version"] == version
            files = {"image": ("d.png", image, "image/png")}
            answers[version] = httpx.post(f"{url}/predict", files=files, timeout=60).json()
    first, second = answers.values()
    assert first["probabilities"] != second["probabilities"]


def test_promote_and_rollback_move_the_alias_and_say_so(moved: Moved) -> None:
    command = ["python", "-m", "digits.lifecycle"]
    env = dict(moved.env, PYTHONPATH=str(moved.path / "src"))
    champion, candidate = moved.champion, moved.candidate
    promoted = run([*command, "promote", candidate, "--reason", "test: forced"], moved.path, env)
    forced = f"@champion: version {champion} -> version {candidate} (forced: test: forced)"
    assert forced in promoted.stdout
    client = store(moved.path)
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == candidate
    assert client.get_model_version(NAME, candidate).tags["champion.forced"] == "test: forced"
    back = run([*command, "rollback", "--reason", "test: undo"], moved.path, env)
    undone = f"@champion: version {candidate} -> version {champion} (rollback: test: undo)"
    assert undone in back.stdout
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == champion
    shown = run([*command, "show"], moved.path, env).stdout
    assert f"@champion: mnist-cnn version {champion}" in shown
    assert "forced    test: forced" in shown and "rollback  test: undo" in shown
    missing = run([*command, "promote", "999", "--reason", "x"], moved.path, env, check=False)
    assert missing.returncode != 0 and "999" in missing.stderr


def test_the_champions_bento_is_found_through_the_registry(moved: Moved, tmp_path: Path) -> None:
    """What `make serve` does on a machine whose BentoML store lacks the bento."""
    env = dict(moved.env, BENTOML_HOME=str(tmp_path / "empty"), PYTHONPATH=str(moved.path / "src"))
    tag = run(["python", "-m", "digits.lifecycle", "bento"], moved.path, env).stdout.strip()
    champion = store(moved.path).get_model_version_by_alias(NAME, "champion")
    assert tag == champion.tags["bento_tag"]
    assert run(["bentoml", "get", tag], moved.path, env).returncode == 0


def png_of(pixels: np.ndarray) -> bytes:
    return encode(Image.fromarray(255 - pixels).resize((112, 112)), "PNG")


@pytest.fixture(scope="module")
def realistic() -> list[bytes]:
    images = synthetic_digits(50, seed=11)[0].astype(np.float32) / 255
    return [data for _, _, data in make_wild_set(images, per_style=13, seed=3)][:50]


@pytest.fixture(scope="module")
def registry_model(pipeline_project: Project) -> Iterator[mlflow.pyfunc.PyFuncModel]:
    """The fixture store's champion, loaded as anyone with the registry would."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{pipeline_project.path / 'mlflow.db'}")
    try:
        yield mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    finally:
        mlflow.set_tracking_uri(previous)


def test_the_registry_model_answers_images_as_the_service_does(
    registry_model: mlflow.pyfunc.PyFuncModel, served_bento: str, realistic: list[bytes]
) -> None:
    model = registry_model
    rows = model.predict(pd.DataFrame({"image": realistic}))
    assert len(rows) == 50
    for data, (_, row) in zip(realistic, rows.iterrows(), strict=True):
        served = httpx.post(
            f"{served_bento}/predict", files={"image": ("x", data)}, timeout=60
        ).json()
        assert row["digit"] == served["digit"] and row["uncertain"] == served["uncertain"]
        assert row["confidence"] == pytest.approx(served["confidence"], abs=1e-5)
    probabilities = rows[[f"p{digit}" for digit in range(10)]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    with pytest.raises(ValueError, match=r"row 1: not a supported image"):
        model.predict(pd.DataFrame({"image": [realistic[0], b"not an image"]}))


def test_mlflow_models_serve_answers_base64_images(
    pipeline_project: Project,
    registry_model: mlflow.pyfunc.PyFuncModel,
    tmp_path: Path,
    realistic: list[bytes],
) -> None:
    env = {key: value for key, value in pipeline_project.env.items() if key != "PYTHONPATH"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{pipeline_project.path / 'mlflow.db'}"
    port = free_port()
    command = ["mlflow", "models", "serve", "-m", f"models:/{NAME}@champion",
               "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    expected = registry_model.predict(pd.DataFrame({"image": realistic[:5]}))
    encoded = [[base64.b64encode(data).decode("ascii")] for data in realistic[:5]]
    body = {"dataframe_split": {"columns": ["image"], "data": encoded}}
    with running(command, tmp_path, env, f"http://127.0.0.1:{port}", "/ping") as url:
        response = httpx.post(f"{url}/invocations", json=body, timeout=60)
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert [p["digit"] for p in predictions] == expected["digit"].tolist()
        junk = base64.b64encode(b"not an image").decode("ascii")
        bad = {"dataframe_split": {"columns": ["image"], "data": [[junk]]}}
        refused = httpx.post(f"{url}/invocations", json=bad, timeout=60)
        assert refused.status_code == 400 and "not a supported image" in refused.text
