"""Inference for the service: a compiled model call and the JSON answer for one image."""

import base64
import io
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from digits.images import FRAME_SIDE


class DigitClassifier:
    """A saved Keras model called through one compiled TensorFlow function.

    `keras.Model.predict` costs tens of milliseconds per call whatever the batch size; a
    traced function with a fixed input signature runs a small batch in about a millisecond.
    """

    def __init__(self, model_file: Path, threads: int | None = None) -> None:
        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError:  # TensorFlow already ran in this process: its pools are fixed
                pass
        self.model = keras.models.load_model(model_file, compile=False)
        signature = tf.TensorSpec((None, FRAME_SIDE, FRAME_SIDE, 1), tf.float32)
        self._call = tf.function(
            lambda x: self.model(x, training=False), input_signature=[signature]
        )
        self.probabilities(np.zeros((1, FRAME_SIDE, FRAME_SIDE), np.float32))  # trace now

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28) float32 MNIST-style images -> (N, 10) class probabilities."""
        batch = np.asarray(images, dtype=np.float32).reshape(-1, FRAME_SIDE, FRAME_SIDE, 1)
        return self._call(batch).numpy()


def png_base64(pixels: np.ndarray) -> str:
    """A 28x28 float image in [0, 1] as a base64 PNG, to show what the model saw."""
    buffer = io.BytesIO()
    Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8), "L").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# A digit named with less probability than this is flagged `uncertain`. Chosen on the validation
# split: it flags about 1% of real digits; the evaluate stage reports how many letters and photos
# of nothing it flags (non_digit_flagged) and how many realistic digits (wild_uncertain).
UNCERTAIN_BELOW = 0.95


def answer(probabilities: np.ndarray, uncertain_below: float = UNCERTAIN_BELOW) -> dict:
    """The JSON answer for one image: digit, its probability, all ten, and the uncertain flag."""
    digit = int(np.argmax(probabilities))
    confidence = float(probabilities[digit])
    result = {
        "digit": digit,
        "confidence": round(confidence, 6),
        "probabilities": [round(float(p), 6) for p in probabilities],
        "uncertain": confidence < uncertain_below,
    }
    if result["uncertain"]:
        result["reason"] = (
            f"confidence {confidence:.2f} is below {uncertain_below}: this may not be a digit,"
            " or it is hard to read"
        )
    return result


def blank_answer(reason: str) -> dict:
    """The JSON answer for an image with nothing on it: no digit, flagged uncertain."""
    return {
        "digit": None,
        "confidence": None,
        "probabilities": None,
        "uncertain": True,
        "reason": reason,
    }
