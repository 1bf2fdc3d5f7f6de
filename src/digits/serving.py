"""Inference for the service: fast model calls and the JSON answer for one image."""

import base64
import io
import threading
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from digits.idx import NUM_CLASSES
from digits.images import (
    FRAME_SIDE,
    MAX_PIXELS,
    BlankImageError,
    ImageError,
    UnsupportedFormatError,
    to_mnist,
)


class DigitClassifier:
    """A saved Keras model, called through its TensorFlow Lite conversion.

    `keras.Model.predict` costs tens of milliseconds per call whatever the batch size; a traced
    TensorFlow function runs one image of the default model in about 2 ms and 32 in 10 ms; the
    TensorFlow Lite graph (XNNPACK kernels) takes 0.2 ms per image, 6 ms for 32 one by one,
    with the same probabilities (checked at start-up). The traced function is the fallback.
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
        self._lite = _lite_interpreter(self.model, threads or 1)
        self._lite_lock = threading.Lock()  # an interpreter runs one call at a time
        probe = np.random.default_rng(0).random((1, FRAME_SIDE, FRAME_SIDE, 1), np.float32)
        expected = self._call(probe).numpy()  # also traces the fallback now, before serving
        if self._lite and not np.allclose(self._single(probe), expected, atol=1e-5):
            self._lite = None  # never serve a conversion that disagrees with the model

    def _single(self, image: np.ndarray) -> np.ndarray:
        interpreter, (source, target) = self._lite
        with self._lite_lock:
            interpreter.set_tensor(source, image)
            interpreter.invoke()
            return interpreter.get_tensor(target).copy()

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28) float32 MNIST-style images -> (N, 10) class probabilities."""
        batch = np.asarray(images, dtype=np.float32).reshape(-1, FRAME_SIDE, FRAME_SIDE, 1)
        if not len(batch):
            return np.zeros((0, NUM_CLASSES), np.float32)
        if self._lite:
            return np.concatenate([self._single(image[None]) for image in batch])
        return self._call(batch).numpy()


def _lite_interpreter(model: keras.Model, threads: int) -> tuple | None:
    """The model converted to a TensorFlow Lite interpreter for one image, with its input and
    output tensor indices; None where this TensorFlow has no working converter."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite points to LiteRT, a separate package
            interpreter = tf.lite.Interpreter(
                model_content=tf.lite.TFLiteConverter.from_keras_model(model).convert(),
                num_threads=threads,
            )
        interpreter.allocate_tensors()
    except (AttributeError, ImportError, RuntimeError, ValueError):
        return None
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]
    return interpreter, (source, target)


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


class UnreadableImage(ImageError):
    """An image that cannot be read, with the HTTP status that says why (400, or 415 for a
    format we do not read)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def read_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Image bytes -> (28, 28) MNIST-style pixels; BlankImageError for an image with nothing on
    it (an answer, not an error), UnreadableImage when the bytes cannot be read."""
    try:
        return to_mnist(data, max_pixels).pixels
    except BlankImageError:
        raise
    except UnsupportedFormatError as failure:
        raise UnreadableImage(str(failure), 415) from failure
    except ImageError as failure:
        raise UnreadableImage(str(failure), 400) from failure


def answer_images(
    classifier: DigitClassifier, datas: list[bytes], uncertain_below: float = UNCERTAIN_BELOW
) -> list[dict]:
    """Image bytes -> one JSON answer each, the model called once for all readable images:
    the answer that /predict gives, the blank answer, or {"error", "status"} when unreadable."""
    prepared: list[np.ndarray | dict] = []
    for data in datas:
        try:
            prepared.append(read_image(data))
        except BlankImageError as blank:
            prepared.append(blank_answer(str(blank)))
        except UnreadableImage as failure:
            prepared.append({"error": str(failure), "status": failure.status})
    readable = [item for item in prepared if isinstance(item, np.ndarray)]
    probabilities = iter(classifier.probabilities(np.stack(readable)) if readable else [])
    return [
        answer(next(probabilities), uncertain_below) if isinstance(item, np.ndarray) else item
        for item in prepared
    ]
