"""The convolutional networks, built from params."""

from collections.abc import Sequence

import keras

from digits.errors import ParamsError
from digits.mnist import FRAME_SIDE, NUM_CLASSES

INPUT_SHAPE = (FRAME_SIDE, FRAME_SIDE, 1)
ARCHITECTURES = ("seed", "bn")


def _conv_bn(features, filters: int, kernel_size: int, name: str, strides=1, padding="valid"):
    """Convolution, batch normalisation, ReLU: the bias is redundant before normalisation."""
    features = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False, name=name
    )(features)
    features = keras.layers.BatchNormalization(name=f"{name}_bn")(features)
    return keras.layers.Activation("relu", name=f"{name}_relu")(features)


def _seed_block(features: keras.KerasTensor, filters: int, kernel_size: int, block: int):
    """The tutorials' block: one valid convolution and a 2x2 max-pool."""
    features = keras.layers.Conv2D(filters, kernel_size, activation="relu", name=f"conv{block}")(
        features
    )
    return keras.layers.MaxPooling2D(2, name=f"pool{block}")(features)


def _bn_block(features: keras.KerasTensor, filters: int, kernel_size: int, block: int):
    """Two normalised valid convolutions, then a learnt 5x5 stride-2 one instead of pooling."""
    features = _conv_bn(features, filters, kernel_size, f"conv{block}a")
    features = _conv_bn(features, filters, kernel_size, f"conv{block}b")
    return _conv_bn(features, filters, 5, f"conv{block}down", strides=2, padding="same")


def build_model(
    conv_filters: Sequence[int],
    kernel_size: int,
    dense_units: int,
    architecture: str = "seed",
    dropout: float = 0.0,
) -> keras.Model:
    """One block per entry of `conv_filters`, then a dense layer and softmax.

    `seed` is the tutorials' CNN ([32, 64], 3, 64: conv + max-pool blocks); `bn` blocks are two
    batch-normalised convolutions and a strided one. `dropout` > 0 follows every block and the
    dense layer.
    """
    if architecture not in ARCHITECTURES:
        raise ParamsError(f"architecture must be one of {ARCHITECTURES}, not {architecture!r}")
    if not conv_filters:
        raise ParamsError("conv_filters must list at least one block")
    if kernel_size < 1 or dense_units < 1 or min(conv_filters) < 1:
        raise ParamsError("kernel_size, dense_units and every conv_filters entry must be >= 1")
    if not 0 <= dropout < 1:
        raise ParamsError("dropout must be in [0, 1)")
    block_of = _seed_block if architecture == "seed" else _bn_block
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    features = inputs
    for block, filters in enumerate(conv_filters, start=1):
        features = block_of(features, filters, kernel_size, block)
        if dropout:
            features = keras.layers.Dropout(dropout, name=f"dropout{block}")(features)
    features = keras.layers.Flatten(name="flatten")(features)
    if architecture == "seed":
        features = keras.layers.Dense(dense_units, activation="relu", name="dense")(features)
    else:
        features = keras.layers.Dense(dense_units, use_bias=False, name="dense")(features)
        features = keras.layers.BatchNormalization(name="dense_bn")(features)
        features = keras.layers.Activation("relu", name="dense_relu")(features)
    if dropout:
        features = keras.layers.Dropout(dropout, name="dropout_dense")(features)
    outputs = keras.layers.Dense(
        NUM_CLASSES, activation="softmax", dtype="float32", name="probabilities"
    )(features)
    return keras.Model(inputs, outputs, name=f"digits_{architecture}")
