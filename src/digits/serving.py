"""Inference for the service and the registry model: the converted model run by LiteRT (no
TensorFlow), and the JSON answer for image bytes."""

import base64
import io
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from digits.images import (
    MAX_PIXELS,
    BlankImageError,
    ImageError,
    UnsupportedFormatError,
    to_mnist,
)
from digits.mnist import FRAME_SIDE, NUM_CLASSES


class DigitClassifier:
    """A TensorFlow Lite model (data/model/model.tflite, converted and checked against the Keras
    model by the evaluate stage) run by LiteRT, one image per call: the interpreter's XNNPACK
    kernels take a fraction of a millisecond per image, and resizing its input for each batch
    size would cost more than it saves (docs/serving.md)."""

    def __init__(self, model_file: Path, threads: int = 1) -> None:
        self._interpreter = Interpreter(model_path=str(model_file), num_threads=threads)
        self._interpreter.allocate_tensors()
        self._source = self._interpreter.get_input_details()[0]["index"]
        self._target = self._interpreter.get_output_details()[0]["index"]
        self._lock = threading.Lock()  # an interpreter runs one call at a time

    def _single(self, image: np.ndarray) -> np.ndarray:
        with self._lock:
            self._interpreter.set_tensor(self._source, image)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._target).copy()

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28) or (N, 28, 28, 1) float32 MNIST-style images -> (N, 10) probabilities."""
        batch = np.asarray(images, dtype=np.float32).reshape(-1, 1, FRAME_SIDE, FRAME_SIDE, 1)
        if not len(batch):
            return np.zeros((0, NUM_CLASSES), np.float32)
        return np.concatenate([self._single(image) for image in batch])


def png_base64(pixels: np.ndarray) -> str:
    """A 28x28 float image in [0, 1] as a base64 PNG, to show what the model saw."""
    buffer = io.BytesIO()
    Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8), "L").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def answer(probabilities: np.ndarray, uncertain_below: float) -> dict:
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
    classify: Callable[[np.ndarray], np.ndarray],
    datas: list[bytes],
    uncertain_below: float,
    max_pixels: int = MAX_PIXELS,
    preprocessed: bool = False,
) -> list[dict]:
    """Image bytes -> one JSON answer each, `classify` (images -> probabilities, for example
    DigitClassifier.probabilities) called once for all readable images:
    the answer that /predict gives (with the 28x28 image the model saw as a base64 PNG when
    `preprocessed`), the blank answer, or {"error", "status"} when unreadable."""
    prepared: list[np.ndarray | dict] = []
    for data in datas:
        try:
            prepared.append(read_image(data, max_pixels))
        except BlankImageError as blank:
            prepared.append(blank_answer(str(blank)))
        except UnreadableImage as failure:
            prepared.append({"error": str(failure), "status": failure.status})
    readable = [item for item in prepared if isinstance(item, np.ndarray)]
    probabilities = iter(classify(np.stack(readable)) if readable else [])
    answers = []
    for item in prepared:
        if isinstance(item, np.ndarray):
            result = answer(next(probabilities), uncertain_below)
            if preprocessed:
                result["preprocessed"] = png_base64(item)
            item = result
        answers.append(item)
    return answers
