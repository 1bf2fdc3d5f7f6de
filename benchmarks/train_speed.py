"""Training speed: images per second of the default recipe's training steps, against variants
measured in the same process (XLA compilation, larger batches, no augmentation).

Each variant trains the default recipe's model on random images for a warm-up pass, then is
timed over `--images` images; ratios are against the first (the recipe as configured). No
MNIST needed: the step's cost does not depend on the pixels.

    python benchmarks/train_speed.py [--images 12800]
"""

import argparse
import dataclasses
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


def images_per_second(config, x: np.ndarray, y: np.ndarray, jit: bool) -> float:
    keras.utils.set_random_seed(config.seed)
    steps = len(x) // config.batch_size
    model = build_for(config)
    model.compile(
        optimizer=optimizer_for(config, steps),
        loss="categorical_crossentropy",
        jit_compile=jit,
    )
    batches = training_batches(x, y, config)
    model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0)  # build, trace, warm up
    started = time.perf_counter()
    model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * config.batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=12800, help="timed per variant")
    args = parser.parse_args()
    config = recipe(yaml.safe_load((ROOT / "params.yaml").read_text())["train"])
    rng = np.random.default_rng(0)
    x = rng.random((args.images, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, args.images)
    variants = {
        "recipe as configured": (config, False),
        "XLA (jit_compile)": (config, True),
        "batch 256": (dataclasses.replace(config, batch_size=256), False),
        "batch 512": (dataclasses.replace(config, batch_size=512), False),
        "no augmentation": (dataclasses.replace(config, augment=None), False),
    }
    print("| variant | images/s | against the recipe |\n|---|---|---|")
    baseline = None
    for name, (variant, jit) in variants.items():
        speed = images_per_second(variant, x, y, jit)
        baseline = baseline or speed
        print(f"| {name} | {speed:.0f} | {speed / baseline:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
