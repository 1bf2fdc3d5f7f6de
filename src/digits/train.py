"""Training the CNN deterministically for a given seed."""

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from digits.model import build_model

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 42
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    conv_filters: Sequence[int] = field(default=(32, 64))
    kernel_size: int = 3
    dense_units: int = 64

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("epochs and batch_size must be >= 1 and learning_rate > 0")


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and ask TensorFlow for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if seed is not None:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def train_model(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainConfig,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Build, compile and fit the model; return it with its per-epoch history."""
    make_deterministic(config.seed)
    model = build_model(config.conv_filters, config.kernel_size, config.dense_units)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        _batches(x_train, y_train, config.batch_size, seed=config.seed),
        validation_data=_batches(x_val, y_val, config.batch_size, seed=None),
        epochs=config.epochs,
        callbacks=list(callbacks),
        shuffle=False,  # the dataset is already shuffled, seeded, each epoch
        verbose=1 if sys.stdout.isatty() else 2,  # one line per epoch in logs, a bar in a terminal
    )
    return model, {key: [float(v) for v in history.history[key]] for key in HISTORY_KEYS}


def history_csv(history: dict[str, list[float]]) -> str:
    """The per-epoch history as CSV with an `epoch` column counted from 1, for DVC plots."""
    rows = [",".join(("epoch", *HISTORY_KEYS))]
    for epoch, values in enumerate(zip(*(history[key] for key in HISTORY_KEYS), strict=True), 1):
        rows.append(",".join([str(epoch), *(f"{value:.6f}" for value in values)]))
    return "\n".join(rows) + "\n"
