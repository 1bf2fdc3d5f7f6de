"""Inference for the service and the registry model: the converted model run by LiteRT (no
TensorFlow), and the JSON answer for image bytes."""

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from digits.images import (
    MAX_PIXELS,
    BlankImageError,
    ImageError,
    Prepared,
    UnsupportedFormatError,
    to_mnist,
    to_png,
)
from digits.mnist import FRAME_SIDE, NUM_CLASSES
from digits.policy import Policy

T = TypeVar("T")


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
    return base64.b64encode(to_png(pixels)).decode("ascii")


def answer(probabilities: np.ndarray, policy: Policy) -> dict:
    """The JSON answer for one image: digit, its probability, all ten, and the uncertain flag
    with why (`not_a_digit` or `low_confidence`) and a reason in words."""
    digit = int(np.argmax(probabilities))
    confidence = float(probabilities[digit])
    result = {
        "digit": digit,
        "confidence": round(confidence, 6),
        "probabilities": [round(float(p), 6) for p in probabilities],
        "uncertain": confidence < policy.uncertain_below,
    }
    if result["uncertain"]:
        top_two = float(np.sort(probabilities)[-2:].sum())
        if top_two < policy.not_digit_below:
            result["why"] = "not_a_digit"
            result["reason"] = (
                f"this does not look like a digit: no digit is likely (the two likeliest"
                f" together {top_two:.2f}, below {policy.not_digit_below})"
            )
        else:
            result["why"] = "low_confidence"
            result["reason"] = (
                f"hard to read: {digit} at {confidence:.2f}, below {policy.uncertain_below}"
            )
    return result


def blank_answer(reason: str) -> dict:
    """The JSON answer for an image with nothing on it: no digit, flagged uncertain."""
    return {
        "digit": None,
        "confidence": None,
        "probabilities": None,
        "uncertain": True,
        "why": "no_digit",
        "reason": reason,
    }


class UnreadableImage(ImageError):
    """An image that cannot be read, with the HTTP status that says why (400, or 415 for a
    format we do not read)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def read_image(data: bytes, max_pixels: int = MAX_PIXELS) -> Prepared:
    """Image bytes -> the MNIST-style image and how it was read; BlankImageError for an image
    with nothing on it (an answer, not an error), UnreadableImage when the bytes cannot be
    read."""
    return read_image_with(to_mnist, data, max_pixels)


def read_image_with(reader: Callable[..., T], data: bytes, *options: object) -> T:
    """`reader(data, *options)` (digits.images.to_mnist or read_ink), its ImageErrors but a
    blank image made UnreadableImage with their HTTP status."""
    try:
        return reader(data, *options)
    except BlankImageError:
        raise
    except UnsupportedFormatError as failure:
        raise UnreadableImage(str(failure), 415) from failure
    except ImageError as failure:
        raise UnreadableImage(str(failure), 400) from failure


@dataclass(frozen=True)
class Reading:
    """One image's answer, with what the prediction log and the drift report need of it."""

    answer: dict  # the JSON answer, or {"error"} for an unreadable image
    status: int = 200  # 400 or 415 for an unreadable image
    prepared: Prepared | None = None  # what the model saw; None when blank or unreadable


def answer_images(
    classify: Callable[[np.ndarray], np.ndarray],
    datas: list[bytes],
    policy: Policy,
    max_pixels: int = MAX_PIXELS,
    preprocessed: bool = False,
) -> list[Reading]:
    """Image bytes -> one Reading each, `classify` (images -> probabilities, for example
    DigitClassifier.probabilities) called once for all readable images: the answer that
    /predict gives (with the 28x28 image the model saw as a base64 PNG when `preprocessed`),
    the blank answer, or {"error"} with its status when unreadable."""
    readings: list[Reading] = []
    for data in datas:
        try:
            readings.append(Reading({}, prepared=read_image(data, max_pixels)))
        except BlankImageError as blank:
            readings.append(Reading(blank_answer(str(blank))))
        except UnreadableImage as failure:
            readings.append(Reading({"error": str(failure)}, failure.status))
    readable = [reading for reading in readings if reading.prepared is not None]
    if readable:
        batch = np.stack([reading.prepared.pixels for reading in readable])
        for reading, probabilities in zip(readable, classify(batch), strict=True):
            reading.answer.update(answer(probabilities, policy))
            if preprocessed:
                reading.answer["preprocessed"] = png_base64(reading.prepared.pixels)
    return readings
