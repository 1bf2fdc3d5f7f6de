"""Training the CNN deterministically for a given seed and recipe: one entry point, Keras
`fit` in this process or the distributed loop under a tf.distribute strategy."""

import math
import sys
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from digits.augment import AugmentConfig
from digits.distributed import train_distributed
from digits.errors import ParamsError
from digits.recipe import (
    HISTORY_KEYS,
    KeepBest,
    TrainConfig,
    Trained,
    build_for,
    make_deterministic,
    optimizer_for,
    plain_copy,
    training_batches,
    validation_batches,
    with_generated,
)


def recipe(params: dict) -> TrainConfig:
    """The TrainConfig for params.yaml's train section: its `seed` plus the chosen preset."""
    presets = params["presets"]
    if params["preset"] not in presets:
        raise ParamsError(f"train.preset {params['preset']!r} is not one of {sorted(presets)}")
    chosen = dict(presets[params["preset"]])
    augment = chosen.pop("augment", None)
    chosen["conv_filters"] = tuple(chosen.get("conv_filters", TrainConfig.conv_filters))
    return TrainConfig(
        seed=params["seed"],
        augment=AugmentConfig(**augment) if augment else None,
        **chosen,
    )


def recipe_params(params: dict) -> dict[str, object]:
    """The train section as flat MLflow params: seed, preset, distribute, the preset's settings."""
    flat: dict[str, object] = {key: params[key] for key in ("seed", "preset", "distribute")}
    for key, value in params["presets"][params["preset"]].items():
        if isinstance(value, dict):
            flat |= {f"{key}.{name}": inner for name, inner in value.items()}
        else:
            flat[key] = value
    return flat


def train_model(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainConfig,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    strategy: tf.distribute.Strategy | None = None,
) -> Trained:
    """Train the model of `config`, with its non-digit drawings mixed in, and keep its best
    epoch on the validation split: Keras
    `fit` in this process, or under `strategy` the distributed loop of `digits.distributed`
    (on every worker of a cluster, each returning the same plain model)."""
    x_train, y_train = with_generated(x_train, y_train, config)
    if strategy is not None:
        return train_distributed(x_train, y_train, x_val, y_val, config, strategy, callbacks)
    make_deterministic(config.seed)
    steps_per_epoch = math.ceil(len(x_train) / config.batch_size)
    model = build_for(config)
    model.compile(
        optimizer=optimizer_for(config, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )
    keep_best = KeepBest()
    history = model.fit(
        training_batches(x_train, y_train, config),
        steps_per_epoch=steps_per_epoch,
        validation_data=validation_batches(x_val, y_val),
        epochs=config.epochs,
        callbacks=[*callbacks, keep_best],
        shuffle=False,  # the dataset is already shuffled, seeded, each epoch
        verbose=1 if sys.stdout.isatty() else 2,  # one line per epoch in logs, a bar in a terminal
    )
    history_lists = {key: [float(v) for v in history.history[key]] for key in HISTORY_KEYS}
    return Trained(plain_copy(config, model), history_lists, keep_best.best_epoch)
