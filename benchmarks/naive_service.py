"""The naive way to serve the model, the baseline of benchmarks/serve.py.

What tutorials do: BentoML's own file input, the same image preprocessing, and Keras
`model.predict` on every request. Same model, same answers, none of the service's tuning.
"""

import os
from pathlib import Path

import bentoml
import keras
import numpy as np

from digits.images import to_mnist
from digits.serving import answer


@bentoml.service
class NaiveDigits:
    bento_model = bentoml.models.BentoModel(os.environ["DIGITS_MODEL"])  # set by serve.py

    def __init__(self) -> None:
        self.model = keras.models.load_model(
            self.bento_model.path_of("mlflow_model/artifacts/model.keras")
        )

    @bentoml.api
    def predict(self, image: Path) -> dict:
        pixels = to_mnist(image.read_bytes()).pixels
        return answer(self.model.predict(pixels[None, ..., None], verbose=0)[0])

    @bentoml.api
    def predict_batch(self, images: list[Path]) -> dict:
        pixels = np.stack([to_mnist(image.read_bytes()).pixels for image in images])
        probabilities = self.model.predict(pixels[..., None], verbose=0)
        return {"predictions": [answer(p) for p in probabilities]}
