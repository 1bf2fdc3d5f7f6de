"""MLflow runs are never left RUNNING: SIGTERM ends them FAILED at once, and a run whose
process was killed outright is ended FAILED by the next stage that opens the experiment."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.integration

STAGE = """
import os, signal, sys
from digits.cli import run_stage
from digits.tracking import tracked_run, use_experiment

def main():
    use_experiment("faults")
    with tracked_run() as run:
        print(run.info.run_id, flush=True)
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
        signal.pause()  # SIGKILL never gets here; SIGTERM raises before

run_stage("fake", main)
"""


def fake_stage(tmp_path: Path, signal_name: str) -> tuple[subprocess.CompletedProcess, str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    result = subprocess.run(
        [sys.executable, "-c", STAGE, signal_name],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return result, result.stdout.split()[0]


def status(tmp_path: Path, run_id: str) -> str:
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    return client.get_run(run_id).info.status


def test_sigterm_ends_the_run_failed_and_says_what_to_do(tmp_path: Path) -> None:
    result, run_id = fake_stage(tmp_path, "SIGTERM")
    assert result.returncode == 128 + 15
    assert "fake: stopped by SIGTERM" in result.stderr and "dvc repro" in result.stderr
    assert status(tmp_path, run_id) == "FAILED"


def test_a_run_of_a_killed_process_is_ended_failed_by_the_next_stage(tmp_path: Path) -> None:
    killed, orphan = fake_stage(tmp_path, "SIGKILL")
    assert killed.returncode == -9
    assert status(tmp_path, orphan) == "RUNNING"
    result, later = fake_stage(tmp_path, "SIGTERM")  # any later stage opening the experiment
    assert f"MLflow run {orphan} was left RUNNING by process" in result.stderr
    assert status(tmp_path, orphan) == "FAILED" and status(tmp_path, later) == "FAILED"
