"""The registered MLflow model: image files in, the service's answers out.

`mlflow.pyfunc.load_model("models:/mnist-cnn@champion").predict(frame)` takes a DataFrame with
a binary column `image` (the bytes of a PNG, JPEG or any format the service reads) and returns
a row per image: digit, confidence, uncertain, reason and the ten probabilities, from the same
preprocessing, model call and uncertain rule as the service's /predict.
"""

import io
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from PIL import Image

from digits.mnist import NUM_CLASSES
from digits.policy import Policy
from digits.serving import DigitClassifier, answer_images

PROBABILITY_COLUMNS = [f"p{digit}" for digit in range(NUM_CLASSES)]
MODEL_ARTIFACT = "model.tflite"  # the converted model, stored under artifacts/
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("binary", "image")]),
    outputs=Schema(
        [
            ColSpec("long", "digit", required=False),  # none for a blank image
            ColSpec("double", "confidence", required=False),
            ColSpec("boolean", "uncertain"),
            ColSpec("string", "why", required=False),  # low_confidence, not_a_digit, no_digit
            ColSpec("string", "reason", required=False),
            *(ColSpec("double", name, required=False) for name in PROBABILITY_COLUMNS),
        ]
    ),
)


class ImageModel(mlflow.pyfunc.PythonModel):
    """Answers for image files, from the TensorFlow Lite model the service runs (LiteRT: no
    TensorFlow needed); `model_config` carries the uncertain policy it was evaluated with."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.classifier = DigitClassifier(Path(context.artifacts["model"]))
        self.policy = Policy.of(context.model_config)

    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params=None
    ) -> pd.DataFrame:
        if "image" not in model_input.columns:
            raise ValueError("the input needs a binary column 'image' of image file bytes")
        datas = [_as_bytes(value) for value in model_input["image"]]
        readings = answer_images(self.classifier.probabilities, datas, self.policy)
        answers = [reading.answer for reading in readings]
        unreadable = [f"row {i}: {a['error']}" for i, a in enumerate(answers) if "error" in a]
        if unreadable:
            raise ValueError("unreadable images: " + "; ".join(unreadable))
        return pd.DataFrame([_row(answer) for answer in answers])


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise ValueError(f"the 'image' column holds {type(value).__name__}, not image file bytes")


def _row(answer: dict) -> dict:
    probabilities = answer["probabilities"] or [None] * NUM_CLASSES
    return {
        "digit": answer["digit"],
        "confidence": answer["confidence"],
        "uncertain": answer["uncertain"],
        "why": answer.get("why"),
        "reason": answer.get("reason"),
        **dict(zip(PROBABILITY_COLUMNS, probabilities, strict=True)),
    }


def example_input() -> pd.DataFrame:
    """One small PNG of a drawn 1, as logged with the model to show its input."""
    pixels = np.zeros((56, 56), np.uint8)
    pixels[10:46, 26:31] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels, "L").save(buffer, "PNG")
    return pd.DataFrame({"image": [buffer.getvalue()]})


def log_image_model(model_file: Path, code_dir: Path, policy: Policy) -> str:
    """Log the image model (the .tflite file) into the active run; return its logged model id."""
    if model_file.name != MODEL_ARTIFACT:
        raise ValueError(f"the image model serves {MODEL_ARTIFACT}, not {model_file.name}")
    info = mlflow.pyfunc.log_model(
        name="image_model",
        python_model=ImageModel(),
        artifacts={"model": str(model_file)},
        code_paths=[str(code_dir)],
        model_config=policy.as_dict(),
        signature=SIGNATURE,
        input_example=example_input(),
        pip_requirements=_requirements(),
    )
    return info.model_id


def _requirements() -> list[str]:
    return [
        f"{name}=={version(name)}"
        for name in ("mlflow", "ai-edge-litert", "numpy", "pandas", "pillow", "scipy")
    ]
