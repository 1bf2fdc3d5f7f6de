"""The field dataset: accepted corrections as images and labels, split by time into a part
to train on and a held-out part to score on, exported as a versioned DVC output."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits.files import atomic_path, write_json
from digits.mnist import NOT_A_DIGIT


@dataclass(frozen=True)
class FieldData:
    """Accepted corrections as images and labels (NOT_A_DIGIT for "not a digit")."""

    ids: list[str]
    images: np.ndarray  # (N, 28, 28) float32 in [0, 1]
    labels: np.ndarray  # (N,) int64


def split(data: FieldData, holdout_share: float) -> tuple[FieldData, FieldData]:
    """(train, held out): the newest `holdout_share` of the answers are held out for evaluation,
    so that a model is scored on field data later than what it learned from."""
    held = round(len(data.ids) * holdout_share)
    cut = len(data.ids) - held
    return (
        FieldData(data.ids[:cut], data.images[:cut], data.labels[:cut]),
        FieldData(data.ids[cut:], data.images[cut:], data.labels[cut:]),
    )


def export(data: FieldData, directory: Path, holdout_share: float) -> dict:
    """Write train.npz, field.npz and manifest.json (ids, counts, digest) into `directory`."""
    train, held = split(data, holdout_share)
    for name, part in (("train", train), ("field", held)):
        with atomic_path(directory / f"{name}.npz") as path, path.open("wb") as file:
            np.savez_compressed(file, x=part.images, y=part.labels, ids=np.array(part.ids, str))
    digest = hashlib.sha256()
    for part in (train, held):
        digest.update(json.dumps(part.ids).encode() + part.images.tobytes() + part.labels.tobytes())
    manifest = {
        "digest": digest.hexdigest(),
        "accepted": len(data.ids),
        "train": len(train.ids),
        "field": len(held.ids),
        "not_a_digit": int(np.sum(data.labels == NOT_A_DIGIT)),
        "holdout_share": holdout_share,
        "train_ids": train.ids,
        "field_ids": held.ids,
    }
    write_json(directory / "manifest.json", manifest)
    return manifest


def mixed_in(
    x: np.ndarray, y: np.ndarray, corrections: FieldData, repeat: int
) -> tuple[np.ndarray, np.ndarray]:
    """The training set with each correction added `repeat` times (the model's input shape,
    (N, 28, 28, 1)); "not a digit" ones keep NOT_A_DIGIT, which training aims at no class.
    Unchanged without corrections."""
    if not len(corrections.ids) or repeat < 1:
        return x, y
    images = corrections.images.reshape(-1, *x.shape[1:]).astype(x.dtype)
    labels = np.repeat(corrections.labels.astype(np.int64), repeat)
    return (
        np.concatenate([x, np.repeat(images, repeat, axis=0)]),
        np.concatenate([y.astype(np.int64), labels]),
    )


def load_part(directory: Path, name: str) -> FieldData:
    """One exported part (train or field)."""
    with np.load(directory / f"{name}.npz") as arrays:
        return FieldData(list(arrays["ids"]), arrays["x"], arrays["y"])
