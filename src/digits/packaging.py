"""From a registered MLflow model version to a deployable bento: import, build, export."""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import bentoml

from digits.files import atomic_path
from digits.policy import Policy


def bentoml_env() -> dict[str, str]:
    """The environment for BentoML commands: no usage tracking (machines may be offline)."""
    return {**os.environ, "BENTOML_DO_NOT_TRACK": "True"}


# What bentofile.yaml draws on. Building from a clean copy keeps anything else out of the bento
# and works inside `dvc exp run --temp` workspaces (under .dvc/), where BentoML refuses to read.
BUILD_INPUTS = ("bentofile.yaml", "service", "src/digits")
# Written into the build: the BentoML model the bento serves (read by service/service.py).
PINNED_MODEL = Path("service/pinned_model.json")
SERVED_MODEL_FILE = "model.tflite"  # the file inside the BentoML model


def save_bento_model(
    name: str, model_file: Path, labels: dict[str, str], policy: Policy
) -> bentoml.Model:
    """The converted model as a BentoML model: the file, the version's labels and the uncertain
    policy it was evaluated with (the service applies exactly that)."""
    with bentoml.models.create(name, labels=labels, metadata=policy.as_dict()) as model:
        shutil.copy2(model_file, model.path_of(SERVED_MODEL_FILE))
    return model


def build_bento(project_root: Path, model_tag: str) -> str:
    """`bentoml build` with the project's bentofile.yaml, pinned to the BentoML model
    `model_tag`; return the new bento's tag."""
    with tempfile.TemporaryDirectory(prefix="digits-bento-") as context_name:
        context = Path(context_name)
        for name in BUILD_INPUTS:
            source, target = project_root / name, context / name
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target)
        (context / PINNED_MODEL).write_text(json.dumps({"tag": model_tag}) + "\n")
        result = _bentoml(["build", "--output", "tag", str(context)], context)
    tags = [line.split("__tag__:", 1)[1] for line in result.splitlines() if "__tag__:" in line]
    if not tags:
        raise RuntimeError(f"bentoml build printed no tag:\n{result}")
    return tags[-1].strip()


def export_bento(tag: str, target: Path) -> str:
    """Export the bento archive to `target` atomically; return its sha256."""
    with atomic_path(target) as part:
        _bentoml(["export", tag, str(part.resolve())], target.parent)
        digest = hashlib.sha256(part.read_bytes()).hexdigest()
    return digest


def _bentoml(arguments: list[str], cwd: Path) -> str:
    result = subprocess.run(
        ["bentoml", *arguments], cwd=cwd, env=bentoml_env(), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"bentoml {' '.join(arguments)} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout
