"""DVC as its users expect, on a copy of the reproduced project: `-S` on a knob of a preset not
in use reruns nothing, `dvc exp show` leads with scores, DVCLive's per-epoch metrics are
outputs, and `dvc plots show` renders with no internet."""

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from support.browser import launch_chromium
from support.processes import run
from support.project import PROJECT_ROOT, Project, copied

from digits.plots_page import offline_template

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(pipeline_project: Project, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = copied(pipeline_project, tmp_path_factory.mktemp("experiments") / "project").path
    # Temporary experiments start from the last commit: commit the reproduced state.
    run(["git", "add", "-A"], copy, pipeline_project.env)
    run(["git", "commit", "-q", "-m", "reproduced"], copy, pipeline_project.env)
    return copy


def test_a_knob_of_a_preset_not_in_use_retrains_nothing(
    project: Path, pipeline_project: Project
) -> None:
    env = pipeline_project.env
    store = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = store.get_experiment_by_name("mnist-cnn").experiment_id
    runs = len(store.search_runs([experiment]))
    result = run(["dvc", "exp", "run", "--temp", "-S", "train.presets.bn.epochs=1"], project, env)
    assert "Running stage" not in result.stdout + result.stderr
    assert len(store.search_runs([experiment])) == runs  # no training run
    lock = (project / "dvc.lock").read_text()
    assert "train.presets.seed:" in lock and "train.presets.bn" not in lock
    # A knob of the preset in use retrains.
    run(["dvc", "exp", "run", "--temp", "-S", "train.presets.seed.batch_size=16"], project, env)
    assert len(store.search_runs([experiment])) == runs + 1


def test_exp_show_leads_with_scores_and_per_epoch_metrics(
    project: Path, pipeline_project: Project
) -> None:
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project, pipeline_project.env).stdout)
    metrics = shown[0]["data"]["metrics"]  # the workspace
    assert set(metrics) == {
        "reports/metrics.json",
        "reports/train.json",
        "reports/live/metrics.json",
    }
    assert "test_accuracy" in metrics["reports/metrics.json"]["data"]
    live = metrics["reports/live/metrics.json"]["data"]
    assert set(live) == {"train", "eval", "step"} and "accuracy" in live["eval"]
    epochs = json.loads((project / "reports/train.json").read_text())["best_epoch"]
    rows = (project / "reports/live/plots/metrics/eval/accuracy.tsv").read_text().splitlines()
    assert rows[0] == "step\taccuracy" and len(rows) == 1 + epochs


def test_plots_render_with_no_internet(
    project: Path, pipeline_project: Project, tmp_path: Path
) -> None:
    node_modules = PROJECT_ROOT / "node_modules"
    if not (node_modules / "vega").exists():
        pytest.fail("Vega is not installed: run `make plots-setup` (make test does)")
    template = tmp_path / "template.html"
    template.write_text(offline_template(node_modules))
    out = tmp_path / "plots"
    command = ["dvc", "plots", "show", "--html-template", str(template), "-o", str(out)]
    run(command, project, pipeline_project.env)
    assert "cdn.jsdelivr" not in (out / "index.html").read_text()

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page()
        page.route("http*://**", lambda route: route.abort())  # no network at all
        page.goto((out / "index.html").as_uri())
        page.wait_for_function("document.querySelectorAll('.vega-embed canvas').length >= 4")
        charts = page.evaluate("document.querySelectorAll('.vega-embed canvas').length")
        browser.close()
    assert charts >= 4  # accuracy, loss, confusion matrix, per-class F1
