import os
from pathlib import Path

import pytest

from digits.files import atomic_path, read_json, write_json


def test_atomic_write_publishes_with_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out" / "result.json"
    write_json(target, {"a": 1})
    assert read_json(target) == {"a": 1}
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as part:
        assert part.suffix == ".keras" and part.parent == tmp_path
        part.write_text("half of the new")
        raise RuntimeError("killed halfway")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_a_temporary_left_by_a_killed_writer_goes_with_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "model.keras"
    (tmp_path / ".model.keras.abc123.part.keras").write_text("half, writer killed")
    (tmp_path / ".other.keras.abc123.part.keras").write_text("another file's: kept")
    with atomic_path(target) as part:
        part.write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".other.keras.abc123.part.keras",
        "model.keras",
    ]


def test_missing_json_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="dvc repro"):
        read_json(tmp_path / "missing.json")
