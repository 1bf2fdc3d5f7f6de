"""Accuracy benchmark: the whole pipeline on real MNIST, default recipe and seed preset.

Each preset runs `dvc repro` in its own fresh clone of this checkout's HEAD (commit what you
want measured; each clone has its own MLflow store and BentoML home) against MNIST_MIRROR, one
after the other so they never share the CPU. Prints test accuracy, wild accuracy, calibration
error and training time side by side as a Markdown table for docs/recipe.md.

    MNIST_MIRROR=/path/to/mnist python benchmarks/accuracy.py [--presets bn seed] [--keep DIR]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = {  # metric -> (heading, format)
    "test_accuracy": ("test accuracy", "{:.2%}"),
    "test_errors": ("test errors", "{}"),
    "test_ece": ("calibration error (ECE)", "{:.4f}"),
    "wild_accuracy": ("wild accuracy", "{:.1%}"),
    "wild_accuracy_ink_photo": ("ink photo", "{:.1%}"),
    "wild_accuracy_chalk": ("chalk", "{:.1%}"),
    "wild_accuracy_canvas": ("canvas", "{:.1%}"),
    "wild_accuracy_scan": ("scan", "{:.1%}"),
    "non_digit_flagged": ("non-digits flagged", "{:.1%}"),
    "train_seconds": ("training time (s)", "{:.0f}"),
    "pipeline_seconds": ("whole pipeline (s)", "{:.0f}"),
}


def run_preset(preset: str, workdir: Path, env: dict) -> dict:
    """`dvc repro` of a fresh clone of HEAD with `train.preset` set; its metrics and wall time."""
    project = workdir / preset
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(project)], check=True)
    (project / "dvc.lock").unlink()  # every stage runs, nothing is taken from this checkout
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["preset"] = preset
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**env, "BENTOML_HOME": str(project / ".bentoml")}
    commit = ["git", "commit", "-q", "-am", f"accuracy benchmark: {preset}"]
    subprocess.run(commit, cwd=project, env=env, check=True)
    print(f"bench-accuracy: {preset}: dvc repro in {project}", flush=True)
    started = time.perf_counter()
    subprocess.run(["dvc", "repro"], cwd=project, env=env, check=True)
    metrics = json.loads((project / "reports/metrics.json").read_text())
    metrics |= json.loads((project / "reports/train.json").read_text())
    return metrics | {"pipeline_seconds": time.perf_counter() - started}


def table(results: dict[str, dict]) -> str:
    presets = list(results)
    lines = [
        "| | " + " | ".join(f"`{p}`" for p in presets) + " |",
        "|---" * (len(presets) + 1) + "|",
    ]
    for key, (heading, fmt) in COLUMNS.items():
        cells = [fmt.format(results[p][key]) if key in results[p] else "n/a" for p in presets]
        lines.append(f"| {heading} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=None, help="default: params' preset, seed")
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    args = parser.parse_args()
    if not os.environ.get("MNIST_MIRROR"):
        sys.exit("bench-accuracy: set MNIST_MIRROR to a directory or URL holding the MNIST files")
    default = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["preset"]
    presets = args.presets or list(dict.fromkeys([default, "seed"]))
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for role in ("AUTHOR", "COMMITTER"):  # the copies are committed: git needs an identity
        env.setdefault(f"GIT_{role}_NAME", "bench-accuracy")
        env.setdefault(f"GIT_{role}_EMAIL", "bench-accuracy@localhost")
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-accuracy-"))
    try:
        results = {preset: run_preset(preset, workdir, env) for preset in presets}
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(results, indent=2))
    print(table(results))


if __name__ == "__main__":
    main()
