"""Training speed: images per second of the default recipe's training steps, against variants
measured by the same script (the recipe before: float32 and Keras' own batch normalisation;
XLA compilation, larger batches, no augmentation).

Each variant runs in its own process (XLA's compiled code and thread pools slowed whatever
ran after it in the same process), trains the default recipe's model on random images for a
warm-up pass, then is timed over `--images` images; ratios are against the first (the recipe
as configured). No MNIST needed: the step's cost does not depend on the pixels.

    python benchmarks/train_speed.py [--images 12800]
"""

import argparse
import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from digits.recipe import build_for, optimizer_for, training_batches  # noqa: E402
from digits.train import recipe  # noqa: E402


def keras_own_layers(config) -> keras.Model:
    """The recipe's network with Keras' own batch normalisation, as trained before."""
    return build_for(config, training_layers=False)


def images_per_second(config, x: np.ndarray, y: np.ndarray, jit: bool, build) -> float:
    keras.utils.set_random_seed(config.seed)
    steps = len(x) // config.batch_size
    model = build(config)
    model.compile(
        optimizer=optimizer_for(config, steps),
        loss="categorical_crossentropy",
        jit_compile=jit,
    )
    batches = training_batches(x, y, config)
    model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)  # warm up
    started = time.perf_counter()
    model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return steps * config.batch_size / (time.perf_counter() - started)


def variants(config) -> dict:
    """name -> (config, XLA or not, model builder)."""
    float32 = dataclasses.replace(config, precision="float32")
    return {
        "recipe as configured": (config, False, build_for),
        "float32": (float32, False, build_for),
        "Keras' own batch normalisation": (config, False, keras_own_layers),
        "float32, Keras' own batch normalisation (before)": (float32, False, keras_own_layers),
        "XLA (jit_compile)": (config, True, build_for),
        "batch 256": (dataclasses.replace(config, batch_size=256), False, build_for),
        "no augmentation": (dataclasses.replace(config, augment=None), False, build_for),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=12800, help="timed per variant")
    parser.add_argument("--variant", help="time this one variant here and print its images/s")
    args = parser.parse_args()
    config = recipe(yaml.safe_load((ROOT / "params.yaml").read_text())["train"])
    if args.variant:
        rng = np.random.default_rng(0)
        x = rng.random((args.images, 28, 28, 1), dtype=np.float32)
        y = rng.integers(0, 10, args.images)
        variant, jit, build = variants(config)[args.variant]
        print(images_per_second(variant, x, y, jit, build))
        return
    print("| variant | images/s | against the recipe |\n|---|---|---|")
    baseline = None
    for name in variants(config):
        command = [sys.executable, __file__, "--variant", name, "--images", str(args.images)]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        speed = float(result.stdout.split()[-1])
        baseline = baseline or speed
        print(f"| {name} | {speed:.0f} | {speed / baseline:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
