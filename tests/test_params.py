from pathlib import Path

from digits.params import load_params


def test_numbers_read_as_dvc_writes_them(tmp_path: Path) -> None:
    """`dvc exp run -S train.presets.bn.learning_rate=0.00001` writes `1e-05` (YAML 1.2)."""
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  learning_rate: 1e-05\n  epochs: 12\n  dropout: .4\n  name: 1e5x\n")
    assert load_params("train", path) == {
        "learning_rate": 1e-05,
        "epochs": 12,
        "dropout": 0.4,
        "name": "1e5x",
    }
