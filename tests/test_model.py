import keras
import numpy as np
import pytest
import tensorflow as tf
from support.data import synthetic_digits

from digits.augment import AugmentConfig
from digits.dataset import to_model_input
from digits.model import TrainingBatchNorm, build_model
from digits.params import load_params
from digits.recipe import HISTORY_KEYS, TrainConfig, compute_precision
from digits.train import recipe, recipe_params, train_model

SMALL = TrainConfig(seed=3, epochs=2, batch_size=32, conv_filters=(4, 8), dense_units=16)
# The default recipe's features, on a tiny network: BN blocks, dropout, augmentation, cosine
# schedule, label smoothing and bfloat16 training.
SMALL_BN = TrainConfig(
    seed=3, epochs=3, batch_size=32, architecture="bn", conv_filters=(4, 8), dense_units=16,
    dropout=0.2, schedule="cosine", warmup_epochs=1, label_smoothing=0.1,
    precision="mixed_bfloat16", augment=AugmentConfig(),
)  # fmt: skip


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


def test_bn_architecture_normalises_and_downsamples_by_convolution() -> None:
    model = build_model([32, 64], 3, 128, architecture="bn", dropout=0.4)
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds.count("BatchNormalization") == 7 and "MaxPooling2D" not in kinds
    assert kinds.count("Dropout") == 3 and model.output_shape == (None, 10)
    assert model.get_layer("conv2down").output.shape == (None, 4, 4, 64)


def test_training_batch_norm_steps_as_keras_own_layer() -> None:
    """The fused training layer normalises, updates its statistics and passes gradients as
    keras.layers.BatchNormalization does, so its weights can be copied into the plain layer."""
    images = tf.constant(np.random.default_rng(1).normal(2.0, 3.0, (8, 3, 3, 4)), tf.float32)
    results = []
    for layer in (keras.layers.BatchNormalization(), TrainingBatchNorm()):
        layer.build(images.shape)
        layer.set_weights([np.full(4, 1.5), np.full(4, 0.2), np.zeros(4), np.ones(4)])
        with tf.GradientTape() as tape:
            tape.watch(images)
            outputs = layer(images, training=True)
            loss = tf.reduce_sum(outputs**3)
        results.append([outputs, *tape.gradient(loss, [images, *layer.trainable_weights])])
        results[-1] += [layer.moving_mean, layer.moving_variance, layer(images, training=False)]
    for keras_own, fused in zip(*results, strict=True):
        np.testing.assert_allclose(np.asarray(fused), np.asarray(keras_own), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs",
    [{"epochs": 0}, {"schedule": "step"}, {"precision": "float16"}, {"warmup_epochs": 5}],
)
def test_bad_training_config_is_a_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TrainConfig(**kwargs)


def test_every_preset_in_params_is_a_valid_recipe() -> None:
    params = load_params("train")
    for name in params["presets"]:
        config = recipe({**params, "preset": name})
        build_model(config.conv_filters, config.kernel_size, config.dense_units,
                    config.architecture, config.dropout)  # fmt: skip
    assert recipe(params).augment is not None  # the default trains on distorted digits
    assert recipe({**params, "preset": "seed"}) == TrainConfig(seed=params["seed"])
    flat = recipe_params(params)
    assert flat["preset"] == params["preset"] and "augment.rotation_degrees" in flat
    with pytest.raises(ValueError, match="not one of"):
        recipe({**params, "preset": "huge"})


def _train_once(config: TrainConfig) -> tuple[list[np.ndarray], dict]:
    images, labels = synthetic_digits(256, seed=5)
    x = to_model_input(images)
    trained = train_model(x[:192], labels[:192], x[192:], labels[192:], config)
    return trained.model.get_weights(), trained.history


@pytest.mark.parametrize("config", [SMALL, SMALL_BN], ids=["seed", "bn"])
def test_training_is_deterministic_for_a_seed_and_learns(config: TrainConfig) -> None:
    weights, history = _train_once(config)
    weights_again, history_again = _train_once(config)
    assert history == history_again
    for first, second in zip(weights, weights_again, strict=True):
        np.testing.assert_array_equal(first, second)
    assert set(history) == set(HISTORY_KEYS) and len(history["loss"]) == config.epochs
    assert history["loss"][-1] < history["loss"][0]


class WeightsEachEpoch(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.weights: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.weights.append(self.model.get_weights())


def test_the_model_keeps_its_best_validation_epoch_in_float32() -> None:
    images, labels = synthetic_digits(256, seed=6)
    x = to_model_input(images)
    config = TrainConfig(**{**SMALL_BN.__dict__, "epochs": 4})
    seen = WeightsEachEpoch()
    trained = train_model(x[:192], labels[:192], x[192:], labels[192:], config, [seen])
    history = trained.history
    scores = list(zip(history["val_accuracy"], -np.array(history["val_loss"]), strict=True))
    assert trained.best_epoch == 1 + max(range(4), key=lambda epoch: scores[epoch])
    assert {weight.dtype for weight in trained.model.weights} == {"float32"}
    # The weights themselves, not the accuracy they score: the model trains in bfloat16 and a
    # barely trained model's near-ties flip with rounding.
    for kept, best in zip(
        trained.model.get_weights(), seen.weights[trained.best_epoch - 1], strict=True
    ):
        np.testing.assert_array_equal(kept, best)


def test_auto_precision_is_bfloat16_only_on_a_cpu_with_amx(tmp_path) -> None:
    amx, older = tmp_path / "amx", tmp_path / "older"
    amx.write_text("flags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n")
    older.write_text("flags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert compute_precision("auto", amx) == "mixed_bfloat16"
    assert compute_precision("auto", older) == "float32"
    assert compute_precision("auto", tmp_path / "absent") == "float32"
    assert compute_precision("float32", amx) == "float32"
