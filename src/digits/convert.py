"""The Keras model converted to TensorFlow Lite for serving, and checked to answer as it does."""

import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from digits.files import atomic_path
from digits.serving import DigitClassifier


def convert(model: keras.Model, target: Path) -> None:
    """Write the TensorFlow Lite conversion of `model` to `target` (atomically)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite points to LiteRT, which serves the file
        content = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    with atomic_path(target) as part:
        part.write_bytes(content)


def conversion_check(
    model: keras.Model, converted: DigitClassifier, images: np.ndarray
) -> tuple[dict, np.ndarray]:
    """Both models on the same images: the largest probability difference and how many
    predictions changed, and the converted model's probabilities."""
    expected = model.predict(images, batch_size=1000, verbose=0)
    served = converted.probabilities(images)
    changed = int(np.sum(expected.argmax(axis=1) != served.argmax(axis=1)))
    difference = float(np.max(np.abs(expected - served))) if len(images) else 0.0
    return {"max_probability_difference": difference, "changed_predictions": changed}, served
