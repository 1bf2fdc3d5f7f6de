"""The convolutional network, built from params."""

from collections.abc import Sequence

import keras

from digits.idx import IMAGE_SIDE, NUM_CLASSES

INPUT_SHAPE = (IMAGE_SIDE, IMAGE_SIDE, 1)


def build_model(conv_filters: Sequence[int], kernel_size: int, dense_units: int) -> keras.Model:
    """Conv + 2x2 max-pool blocks, one per entry of `conv_filters`, then a dense layer and softmax.

    The defaults in params.yaml ([32, 64], 3, 64) are the tutorial "seed" architecture.
    """
    if not conv_filters:
        raise ValueError("conv_filters must list at least one block")
    if kernel_size < 1 or dense_units < 1 or min(conv_filters) < 1:
        raise ValueError("kernel_size, dense_units and every conv_filters entry must be >= 1")
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    features = inputs
    for block, filters in enumerate(conv_filters, start=1):
        features = keras.layers.Conv2D(
            filters, kernel_size, activation="relu", name=f"conv{block}"
        )(features)
        features = keras.layers.MaxPooling2D(2, name=f"pool{block}")(features)
    features = keras.layers.Flatten(name="flatten")(features)
    features = keras.layers.Dense(dense_units, activation="relu", name="dense")(features)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(features)
    return keras.Model(inputs, outputs, name="digits_cnn")
