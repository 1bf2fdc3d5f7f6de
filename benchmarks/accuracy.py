"""Accuracy benchmark: the whole pipeline on real MNIST, the default recipe with three seeds.

Each (preset, seed) runs `dvc repro` in its own fresh clone of this checkout's HEAD (commit
what you want measured; each clone has its own MLflow store and BentoML home) against
MNIST_MIRROR, one after the other so they never share the CPU. Prints every run's test
accuracy, realistic-image and non-digit scores, the uncertain policy chosen for its model and
times, and each preset's mean and sample standard deviation over its seeds, as a Markdown
table for docs/recipe.md.

    MNIST_MIRROR=/path/to/mnist python benchmarks/accuracy.py [--presets bn seed]
        [--seeds 42 43 44] [--keep DIR]
"""

import argparse
import json
import os
import shutil
import statistics
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
    "wild_accuracy_low_resolution": ("low resolution", "{:.1%}"),
    "wild_accuracy_upscaled": ("upscaled", "{:.1%}"),
    "wild_accuracy_blurred": ("blurred", "{:.1%}"),
    "wild_accuracy_pen_width": ("pen width", "{:.1%}"),
    "wild_accuracy_slanted": ("slanted", "{:.1%}"),
    "uncertain_below": ("policy: uncertain below", "{:.2f}"),  # each model's, by the rule
    "not_digit_below": ("policy: not a digit below", "{:.2f}"),
    "wild_uncertain": ("wild flagged uncertain", "{:.1%}"),
    "non_digit_flagged": ("non-digits flagged", "{:.1%}"),
    "non_digit_flagged_trained": ("of kinds trained on", "{:.1%}"),
    "non_digit_flagged_held_out": ("of held-out kinds", "{:.1%}"),
    "number_accuracy_apart": ("numbers read, digits apart", "{:.1%}"),
    "number_accuracy_touching": ("numbers read, a touching pair", "{:.1%}"),
    "train_seconds": ("training time (s)", "{:.0f}"),
    "pipeline_seconds": ("whole pipeline (s)", "{:.0f}"),
}


def run_recipe(preset: str, seed: int, workdir: Path, env: dict) -> dict:
    """`dvc repro` of a fresh clone of HEAD with `train.preset` and `train.seed` set; its
    metrics and wall time."""
    project = workdir / f"{preset}-{seed}"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(project)], check=True)
    (project / "dvc.lock").unlink()  # every stage runs, nothing is taken from this checkout
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"].update(preset=preset, seed=seed)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**env, "BENTOML_HOME": str(project / ".bentoml")}
    commit = ["git", "commit", "-q", "-am", f"accuracy benchmark: {preset}, seed {seed}"]
    subprocess.run(commit, cwd=project, env=env, check=True)
    print(f"bench-accuracy: {preset}, seed {seed}: dvc repro in {project}", flush=True)
    started = time.perf_counter()
    subprocess.run(["dvc", "repro"], cwd=project, env=env, check=True)
    metrics = json.loads((project / "reports/metrics.json").read_text())
    metrics |= json.loads((project / "reports/train.json").read_text())
    policy = json.loads((project / "reports/policy.json").read_text())
    metrics |= {key: policy[key] for key in ("uncertain_below", "not_digit_below")}
    return metrics | {"pipeline_seconds": time.perf_counter() - started}


def with_summaries(results: dict[str, dict], presets: list[str]) -> dict[str, dict]:
    """The runs, each preset's followed by its mean and sample standard deviation (as
    "mean ± sd" cells) over its seeds."""
    columns: dict[str, dict] = {}
    for preset in presets:
        runs = {name: r for name, r in results.items() if name.startswith(f"{preset} ")}
        columns |= runs
        if len(runs) > 1:
            summary = {}
            for key, (_, fmt) in COLUMNS.items():
                values = [r[key] for r in runs.values() if key in r]
                if len(values) == len(runs):
                    mean, sd = statistics.mean(values), statistics.stdev(values)
                    spread = "{:.1f}" if fmt == "{}" else fmt  # counts: one decimal
                    summary[key] = f"{spread.format(mean)} ± {spread.format(sd)}"
            columns[f"{preset} mean ± sd"] = summary
    return columns


def table(columns: dict[str, dict]) -> str:
    names = list(columns)
    lines = [
        "| | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for key, (heading, fmt) in COLUMNS.items():
        cells = []
        for name in names:
            value = columns[name].get(key)
            cells.append(
                "n/a" if value is None else value if isinstance(value, str) else fmt.format(value)
            )
        lines.append(f"| {heading} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=None, help="default: params' preset")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    args = parser.parse_args()
    if not os.environ.get("MNIST_MIRROR"):
        sys.exit("bench-accuracy: set MNIST_MIRROR to a directory or URL holding the MNIST files")
    default = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["preset"]
    presets = args.presets or [default]
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for role in ("AUTHOR", "COMMITTER"):  # the copies are committed: git needs an identity
        env.setdefault(f"GIT_{role}_NAME", "bench-accuracy")
        env.setdefault(f"GIT_{role}_EMAIL", "bench-accuracy@localhost")
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-accuracy-"))
    try:
        results = {
            f"{preset} {seed}": run_recipe(preset, seed, workdir, env)
            for preset in presets
            for seed in args.seeds
        }
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(results, indent=2))
    print(table(with_summaries(results, presets)))


if __name__ == "__main__":
    main()
