"""The convolutional networks, built from params."""

from collections.abc import Sequence

import keras
import tensorflow as tf

from digits.errors import ParamsError
from digits.mnist import FRAME_SIDE, NUM_CLASSES

INPUT_SHAPE = (FRAME_SIDE, FRAME_SIDE, 1)
ARCHITECTURES = ("seed", "bn")


class TrainingBatchNorm(keras.layers.BatchNormalization):
    """Batch normalisation whose training step on image features is one FusedBatchNormV3 op
    (oneDNN on CPU) instead of Keras' chain of element-wise ops, which took most of a step's
    time outside the convolutions. Its weights are the plain layer's: models train with it and
    are saved with the plain layer (digits.recipe.plain_copy), so no loader needs this class."""

    def call(self, inputs, training=None, mask=None):
        plain = not (training and self.trainable) or mask is not None or self.synchronized
        if plain or len(inputs.shape) != 4 or self.axis not in (-1, 3):
            return super().call(inputs, training=training, mask=mask)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, tf.cast(self.gamma, "float32"), tf.cast(self.beta, "float32"),
            epsilon=self.epsilon, is_training=True,
        )  # fmt: skip
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:3]), "float32")
        variance *= (count - 1) / count  # the op's is Bessel-corrected; Keras' is not
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1 - self.momentum)
        )
        return tf.cast(outputs, self.compute_dtype)


def _conv_bn(features, filters: int, kernel_size: int, name: str, norm, strides=1, padding="valid"):
    """Convolution, batch normalisation, ReLU: the bias is redundant before normalisation."""
    features = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False, name=name
    )(features)
    features = norm(name=f"{name}_bn")(features)
    return keras.layers.Activation("relu", name=f"{name}_relu")(features)


def _seed_block(features: keras.KerasTensor, filters: int, kernel_size: int, block: int):
    """The tutorials' block: one valid convolution and a 2x2 max-pool."""
    features = keras.layers.Conv2D(filters, kernel_size, activation="relu", name=f"conv{block}")(
        features
    )
    return keras.layers.MaxPooling2D(2, name=f"pool{block}")(features)


def _bn_block(features: keras.KerasTensor, filters: int, kernel_size: int, block: int, norm):
    """Two normalised valid convolutions, then a learnt 5x5 stride-2 one instead of pooling."""
    features = _conv_bn(features, filters, kernel_size, f"conv{block}a", norm)
    features = _conv_bn(features, filters, kernel_size, f"conv{block}b", norm)
    return _conv_bn(features, filters, 5, f"conv{block}down", norm, strides=2, padding="same")


def build_model(
    conv_filters: Sequence[int],
    kernel_size: int,
    dense_units: int,
    architecture: str = "seed",
    dropout: float = 0.0,
    for_training: bool = False,
) -> keras.Model:
    """One block per entry of `conv_filters`, then a dense layer and softmax.

    `seed` is the tutorials' CNN ([32, 64], 3, 64: conv + max-pool blocks); `bn` blocks are two
    batch-normalised convolutions and a strided one. `dropout` > 0 follows every block and the
    dense layer. `for_training` normalises with TrainingBatchNorm: the same weights, faster
    training steps.
    """
    if architecture not in ARCHITECTURES:
        raise ParamsError(f"architecture must be one of {ARCHITECTURES}, not {architecture!r}")
    if not conv_filters:
        raise ParamsError("conv_filters must list at least one block")
    if kernel_size < 1 or dense_units < 1 or min(conv_filters) < 1:
        raise ParamsError("kernel_size, dense_units and every conv_filters entry must be >= 1")
    if not 0 <= dropout < 1:
        raise ParamsError("dropout must be in [0, 1)")
    norm = TrainingBatchNorm if for_training else keras.layers.BatchNormalization
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    features = inputs
    for block, filters in enumerate(conv_filters, start=1):
        if architecture == "seed":
            features = _seed_block(features, filters, kernel_size, block)
        else:
            features = _bn_block(features, filters, kernel_size, block, norm)
        if dropout:
            features = keras.layers.Dropout(dropout, name=f"dropout{block}")(features)
    features = keras.layers.Flatten(name="flatten")(features)
    if architecture == "seed":
        features = keras.layers.Dense(dense_units, activation="relu", name="dense")(features)
    else:
        features = keras.layers.Dense(dense_units, use_bias=False, name="dense")(features)
        features = norm(name="dense_bn")(features)
        features = keras.layers.Activation("relu", name="dense_relu")(features)
    if dropout:
        features = keras.layers.Dropout(dropout, name="dropout_dense")(features)
    outputs = keras.layers.Dense(
        NUM_CLASSES, activation="softmax", dtype="float32", name="probabilities"
    )(features)
    return keras.Model(inputs, outputs, name=f"digits_{architecture}")
