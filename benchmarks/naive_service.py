"""The naive way to serve the model, the baseline of benchmarks/serve.py.

What tutorials do: BentoML's own file input, the same image preprocessing, and Keras
`model.predict` on every request. Same model, same answers, none of the service's tuning.
"""

from pathlib import Path

import bentoml
import keras
import numpy as np

from digits.files import read_json
from digits.images import to_mnist
from digits.policy import Policy
from digits.serving import answer

ROOT = Path(__file__).resolve().parents[1]
POLICY = Policy.of(read_json(ROOT / "reports/policy.json"))  # the evaluate stage's choice


@bentoml.service
class NaiveDigits:
    def __init__(self) -> None:  # the Keras model the pipeline trained, in this checkout
        self.model = keras.models.load_model(ROOT / "data/model/model.keras")

    @bentoml.api
    def predict(self, image: Path) -> dict:
        pixels = to_mnist(image.read_bytes()).pixels
        return answer(self.model.predict(pixels[None, ..., None], verbose=0)[0], POLICY)

    @bentoml.api
    def predict_batch(self, images: list[Path]) -> dict:
        pixels = np.stack([to_mnist(image.read_bytes()).pixels for image in images])
        probabilities = self.model.predict(pixels[..., None], verbose=0)
        return {"predictions": [answer(p, POLICY) for p in probabilities]}
