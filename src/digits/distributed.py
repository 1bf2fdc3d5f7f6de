"""Training under tf.distribute: the devices of one machine (MirroredStrategy) or several
machines (MultiWorkerMirroredStrategy, configured by TF_CONFIG).

Keras 3's `fit` does not run under MultiWorkerMirroredStrategy (keras-team/keras#20585), so
this is TensorFlow's custom training loop. It reproduces `train.train_model`: the same
seeded, augmented global batches in the same order, each replica taking its share of every
batch; the loss averaged over the whole global batch (the optimizer sums the replicas'
gradients); batch normalisation over the global batch, not each share. Without dropout the
result equals `train_model`'s up to floating-point noise; with dropout, replicas draw their
masks for their own share, so runs are equivalent in distribution rather than equal.
"""

import json
import math
import os
import re
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from digits.errors import ParamsError, StageError
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
)

DISTRIBUTIONS = ("none", "mirrored", "multi_worker")
SUM = tf.distribute.ReduceOp.SUM


def strategy_for(distribute: str) -> tf.distribute.Strategy | None:
    """The strategy params.yaml's train.distribute names; None for plain `fit`."""
    if distribute not in DISTRIBUTIONS:
        raise ParamsError(f"train.distribute must be one of {DISTRIBUTIONS}, not {distribute!r}")
    if distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    if distribute == "multi_worker":
        task, cluster = _cluster()
        print(f"train: {task} of TF_CONFIG's cluster {', '.join(cluster)}; waiting for all")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return None


def _cluster() -> tuple[str, list[str]]:
    """This process's task ("worker 1") and the cluster's addresses, from TF_CONFIG."""
    try:
        config = json.loads(os.environ["TF_CONFIG"])
        cluster = config["cluster"]
        task = f"{config['task']['type']} {config['task']['index']}"
    except KeyError as missing:
        raise ParamsError(
            f"train.distribute is multi_worker but TF_CONFIG has no {missing}: set it on every"
            ' machine, e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]},'
            ' "task": {"type": "worker", "index": 0}}\' (index 0 is the chief; README)'
        ) from None
    except json.JSONDecodeError as error:
        raise ParamsError(f"TF_CONFIG is not valid JSON: {error}") from None
    return task, [address for addresses in cluster.values() for address in addresses]


def is_chief(strategy: tf.distribute.Strategy | None) -> bool:
    """Whether this process writes the model and logs the run: all but multi-worker's others."""
    return strategy is None or strategy.extended.should_checkpoint


def train_distributed(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainConfig,
    strategy: tf.distribute.Strategy,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Trained:
    """`train.train_model` under `strategy`: every worker runs this with the same data and
    config; every worker returns the trained model (a plain one, outside the strategy)."""
    make_deterministic(config.seed)
    steps_per_epoch = math.ceil(len(x_train) / config.batch_size)
    with strategy.scope():
        model = build_for(config)
        for layer in model.layers:  # statistics of the global batch, as in a single process
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = True
        optimizer = optimizer_for(config, steps_per_epoch)
        optimizer.build(model.trainable_variables)  # its slots mirrored too, not made in a step
    losses = keras.losses.CategoricalCrossentropy(
        label_smoothing=config.label_smoothing, reduction=None
    )
    step = _train_step(model, optimizer, losses, strategy)
    batches = iter(strategy.experimental_distribute_dataset(_sharded(x_train, y_train, config)))
    evaluate = _evaluator(model, losses, x_val, y_val)
    keep_best = KeepBest()
    hooks = keras.callbacks.CallbackList([*callbacks, keep_best], model=model)
    history: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}
    hooks.on_train_begin()
    for epoch in range(config.epochs):
        started = time.perf_counter()
        totals = np.zeros(3)  # summed loss, correct answers, images
        for _ in range(steps_per_epoch):
            totals += _run(step, next(batches))
        logs = {"loss": float(totals[0] / totals[2]), "accuracy": float(totals[1] / totals[2])}
        logs |= evaluate()
        for key in HISTORY_KEYS:
            history[key].append(logs[key])
        hooks.on_epoch_end(epoch, logs)
        _report(epoch, config.epochs, logs, time.perf_counter() - started)
    hooks.on_train_end()
    return Trained(plain_copy(config, model), history, keep_best.best_epoch)


def _sharded(x: np.ndarray, y: np.ndarray, config: TrainConfig) -> tf.data.Dataset:
    """The single process's global batches, to be split by element among the replicas (every
    worker builds them all and keeps its share, so the shuffle and augmentation agree)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return training_batches(x, y, config).with_options(options)


def _train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    losses: keras.losses.Loss,
    strategy: tf.distribute.Strategy,
) -> Callable:
    def replica_step(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        images = tf.cast(tf.shape(x)[0], tf.float32)
        global_images = tf.distribute.get_replica_context().all_reduce(SUM, images)
        with tf.GradientTape() as tape:
            probabilities = model(x, training=True)
            loss = tf.reduce_sum(losses(y, probabilities))
            mean_loss = loss / global_images  # the replicas' gradients are summed
        gradients = tape.gradient(mean_loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss, _correct(y, probabilities), images

    @tf.function
    def step(batch: tuple[tf.Tensor, tf.Tensor]) -> list[tf.Tensor]:
        totals = strategy.run(replica_step, args=batch)
        return [strategy.reduce(SUM, total, axis=None) for total in totals]

    return step


def _run(step: Callable, batch: tuple) -> list[float]:
    try:
        return [float(total) for total in step(batch)]
    except (tf.errors.UnavailableError, tf.errors.AbortedError) as error:
        peer = re.search(r"remote target (\S+)", error.message)
        raise StageError(
            f"{peer.group(1) if peer else 'a worker of the cluster'} stopped answering"
            f" ({type(error).__name__}); start the train stage again on every machine"
        ) from error


def _correct(y: tf.Tensor, probabilities: tf.Tensor) -> tf.Tensor:
    hits = tf.equal(tf.argmax(y, axis=-1), tf.argmax(probabilities, axis=-1))
    return tf.reduce_sum(tf.cast(hits, tf.float32))


def _evaluator(
    model: keras.Model, losses: keras.losses.Loss, x: np.ndarray, y: np.ndarray
) -> Callable[[], dict[str, float]]:
    """Validation loss and accuracy, computed whole on each worker (no collective needed)."""

    @tf.function
    def totals(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        probabilities = model(images, training=False)
        loss = tf.reduce_sum(losses(labels, probabilities))
        return tf.stack([loss, _correct(labels, probabilities)])

    validation = validation_batches(x, y)

    def evaluate() -> dict[str, float]:
        loss, correct = np.sum([totals(*batch).numpy() for batch in validation], axis=0)
        return {"val_loss": float(loss / len(y)), "val_accuracy": float(correct / len(y))}

    return evaluate


def _report(epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> None:
    metrics = " - ".join(f"{key}: {logs[key]:.4f}" for key in HISTORY_KEYS)
    print(f"Epoch {epoch + 1}/{epochs} - {seconds:.0f}s - {metrics}", flush=True)
