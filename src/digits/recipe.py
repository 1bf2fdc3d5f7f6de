"""The training recipe's parts, shared by Keras `fit` (digits.train) and the distributed loop
(digits.distributed): the config, the model and optimizer it builds, the seeded batches, and
the choice of the kept epoch on the validation split."""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from digits.augment import AugmentConfig, augment_batch
from digits.compose import touching_pairs, touching_pieces
from digits.errors import ParamsError
from digits.mnist import NOT_A_DIGIT, NUM_CLASSES
from digits.model import build_model
from digits.non_digits import make_non_digits, turned_digits

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
SCHEDULES = ("constant", "cosine")
PRECISIONS = ("auto", "float32", "mixed_bfloat16")
CPU_INFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 42
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3  # the peak, with a schedule
    architecture: str = "seed"
    conv_filters: Sequence[int] = field(default=(32, 64))
    kernel_size: int = 3
    dense_units: int = 64
    dropout: float = 0.0
    schedule: str = "constant"  # or "cosine": linear warm-up, then cosine decay to zero
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    precision: str = "float32"  # or mixed_bfloat16, or auto (bfloat16 where fast); saved float32
    augment: AugmentConfig | None = None
    non_digits: int = 0  # generated non-digit drawings added, trained towards no class
    touching_pairs: int = 0  # pairs of training digits written touching, trained so too
    touching_pieces: int = 0  # digits cut out of such pairs, trained as their digit
    turned_digits: int = 0  # training digits on their side or mirrored, trained towards no class

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ParamsError("epochs and batch_size must be >= 1 and learning_rate > 0")
        if self.schedule not in SCHEDULES or self.precision not in PRECISIONS:
            raise ParamsError(f"schedule must be one of {SCHEDULES}, precision one of {PRECISIONS}")
        added = (self.non_digits, self.touching_pairs, self.touching_pieces, self.turned_digits)
        if min(added) < 0:
            raise ParamsError(
                "non_digits, touching_pairs, touching_pieces and turned_digits must be >= 0"
            )
        if not 0 <= self.warmup_epochs < self.epochs or not 0 <= self.label_smoothing < 1:
            raise ParamsError("warmup_epochs must be in [0, epochs), label_smoothing in [0, 1)")


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and ask TensorFlow for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _one_hot(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """A digit's target is its class; NOT_A_DIGIT's is the uniform distribution (outlier
    exposure), so the model learns to be unsure of what is no digit (tf.one_hot gives zeros
    for -1)."""
    no_digit = tf.cast(y == NOT_A_DIGIT, tf.float32)[:, None] / NUM_CLASSES
    return x, tf.one_hot(y, NUM_CLASSES) + no_digit


def with_generated(
    x: np.ndarray, y: np.ndarray, config: TrainConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The training set plus the examples the recipe writes, seeded by its seed:
    `config.non_digits` drawings of the trained non-digit kinds (digits.non_digits) and
    `config.touching_pairs` pairs of its own digits written touching (two digits are not one,
    which /read cuts by), labelled NOT_A_DIGIT; `config.touching_pieces` digits cut out of
    touching pairs where they meet, labelled as their digit (what /read's right cut shows);
    `config.turned_digits` of its digits on their side or mirrored, labelled NOT_A_DIGIT."""
    is_digit = y != NOT_A_DIGIT
    added, labels = [], []
    if config.non_digits:
        drawings = make_non_digits(config.non_digits, config.seed)[0]
        added.append(drawings)
        labels.append(np.full(len(drawings), NOT_A_DIGIT, np.int64))
    if config.touching_pairs:
        added.append(touching_pairs(x[is_digit], config.touching_pairs, config.seed))
        labels.append(np.full(config.touching_pairs, NOT_A_DIGIT, np.int64))
    if config.touching_pieces:
        pieces = touching_pieces(x[is_digit], y[is_digit], config.touching_pieces, config.seed + 1)
        added.append(pieces[0])
        labels.append(pieces[1])
    if config.turned_digits:
        turned = turned_digits(x[is_digit], y[is_digit], config.turned_digits, config.seed + 2)
        added.append(turned)
        labels.append(np.full(config.turned_digits, NOT_A_DIGIT, np.int64))
    if not added:
        return x, y
    images = np.concatenate([a.reshape(-1, *x.shape[1:]) for a in added]).astype(x.dtype)
    return np.concatenate([x, images]), np.concatenate([y.astype(np.int64), *labels])


def training_batches(x: np.ndarray, y: np.ndarray, config: TrainConfig) -> tf.data.Dataset:
    """Endless seeded shuffled batches (one epoch = ceil(N / batch) steps), augmented per step."""
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        .repeat()
        .map(_one_hot)
    )
    if config.augment is not None:
        augment = config.augment

        def distort(step: tf.Tensor, batch: tuple) -> tuple[tf.Tensor, tf.Tensor]:
            seed = tf.stack([tf.constant(config.seed, tf.int64), step])
            return augment_batch(batch[0], seed, augment), batch[1]

        dataset = dataset.enumerate().map(distort, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _learning_rate(config: TrainConfig, steps_per_epoch: int):
    if config.schedule == "constant":
        return config.learning_rate
    warmup = round(config.warmup_epochs * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / 10,
        decay_steps=config.epochs * steps_per_epoch - warmup,
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )


class KeepBest(keras.callbacks.Callback):
    """Ends training with the weights of the epoch with the best validation accuracy (ties:
    lower validation loss): the checkpoint is chosen on the validation split, never the test."""

    def __init__(self) -> None:
        super().__init__()
        self.best: tuple[float, float] | None = None
        self.best_epoch = 0
        self.weights: list[np.ndarray] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        score = (float(logs["val_accuracy"]), -float(logs["val_loss"]))
        if self.best is None or score > self.best:
            self.best, self.best_epoch, self.weights = score, epoch + 1, self.model.get_weights()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.weights:
            self.model.set_weights(self.weights)


def compute_precision(precision: str, cpu_info: Path = CPU_INFO) -> str:
    """`precision` with "auto" resolved: bfloat16 where the CPU multiplies it in hardware (AMX,
    as oneDNN uses it), float32 elsewhere, where bfloat16 would be emulated and slower."""
    if precision != "auto":
        return precision
    try:
        has_amx = "amx_bf16" in cpu_info.read_text().split()
    except OSError:  # not Linux
        has_amx = False
    return "mixed_bfloat16" if has_amx else "float32"


def build_for(config: TrainConfig, training_layers: bool = True) -> keras.Model:
    """The model of `config`, computing in its precision; with `training_layers`, the faster
    training-only batch normalisation (digits.model.TrainingBatchNorm), else Keras' own."""
    keras.mixed_precision.set_global_policy(compute_precision(config.precision))
    try:
        return build_model(
            config.conv_filters, config.kernel_size, config.dense_units,
            config.architecture, config.dropout, for_training=training_layers,
        )  # fmt: skip
    finally:
        keras.mixed_precision.set_global_policy("float32")


def plain_copy(config: TrainConfig, trained: keras.Model) -> keras.Model:
    """`trained`'s weights in the plain float32 model of `config`: what is saved and served
    (no training-only layers, no strategy variables, no bfloat16 rounding)."""
    model = build_for(replace(config, precision="float32"), training_layers=False)
    model.set_weights(trained.get_weights())
    return model


def optimizer_for(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(learning_rate=_learning_rate(config, steps_per_epoch))


def validation_batches(x: np.ndarray, y: np.ndarray) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(1000).map(_one_hot)


@dataclass(frozen=True)
class Trained:
    model: keras.Model
    history: dict[str, list[float]]
    best_epoch: int  # 1-based epoch whose weights the model has
