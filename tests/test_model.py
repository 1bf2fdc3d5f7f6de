import numpy as np
import pytest
from conftest import synthetic_digits

from digits.dataset import to_model_input
from digits.model import build_model
from digits.train import HISTORY_KEYS, TrainConfig, history_csv, train_model

SMALL = TrainConfig(seed=3, epochs=2, batch_size=32, conv_filters=(4, 8), dense_units=16)


def test_output_is_a_probability_per_digit() -> None:
    model = build_model(conv_filters=[32, 64], kernel_size=3, dense_units=64)
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    probabilities = model(np.random.default_rng(0).random((5, 28, 28, 1), dtype=np.float32))
    assert probabilities.shape == (5, 10)
    np.testing.assert_allclose(np.sum(probabilities, axis=1), 1.0, rtol=1e-5)


def test_seed_architecture_layers() -> None:
    model = build_model(conv_filters=[32, 64], kernel_size=3, dense_units=64)
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds == [
        "InputLayer", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D",
        "Flatten", "Dense", "Dense",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "kwargs", [{"conv_filters": []}, {"conv_filters": [0]}, {"kernel_size": 0}, {"dense_units": 0}]
)
def test_bad_architecture_is_a_value_error(kwargs: dict) -> None:
    arguments = {"conv_filters": [8], "kernel_size": 3, "dense_units": 8, **kwargs}
    with pytest.raises(ValueError):
        build_model(**arguments)


def test_bad_training_config_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)


def _train_once() -> tuple[list[np.ndarray], dict]:
    images, labels = synthetic_digits(256, seed=5)
    x = to_model_input(images)
    model, history = train_model(x[:192], labels[:192], x[192:], labels[192:], SMALL)
    return model.get_weights(), history


def test_training_is_deterministic_for_a_seed_and_learns() -> None:
    weights, history = _train_once()
    weights_again, history_again = _train_once()
    assert history == history_again
    for first, second in zip(weights, weights_again, strict=True):
        np.testing.assert_array_equal(first, second)
    assert set(history) == set(HISTORY_KEYS) and len(history["loss"]) == SMALL.epochs
    assert history["loss"][-1] < history["loss"][0]


def test_history_csv_has_one_row_per_epoch() -> None:
    history = {key: [0.5, 0.25] for key in HISTORY_KEYS}
    assert history_csv(history).splitlines() == [
        "epoch,loss,accuracy,val_loss,val_accuracy",
        "1,0.500000,0.500000,0.500000,0.500000",
        "2,0.250000,0.250000,0.250000,0.250000",
    ]
