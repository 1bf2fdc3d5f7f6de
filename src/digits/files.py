"""Atomic file writes: a reader never sees a partial file at an output path."""

import glob
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from digits.errors import MissingInputError

# The process umask, for the final permissions: os.umask can only be read by setting it.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    The temporary file keeps the target's suffix (Keras insists on `.keras`) and lives in the
    same directory, so the final `os.replace` is atomic. On any error it is removed; one left
    by a killed process is removed by the next write of the same path.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = f".{path.name}.", f".part{path.suffix}"
    for stale in path.parent.glob(f"{glob.escape(prefix)}*{glob.escape(suffix)}"):
        stale.unlink(missing_ok=True)  # left by a writer that was killed outright (SIGKILL)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    os.close(handle)
    temp_path = Path(temp_name)
    try:
        yield temp_path
        temp_path.chmod(0o666 & ~_UMASK)  # mkstemp makes it private; give it normal permissions
        os.replace(temp_path, path)
    finally:
        temp_path.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as temp_path:
        temp_path.write_text(text, encoding="utf-8")


def write_json(path: Path, data: Any) -> None:
    """Write pretty-printed JSON atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file, with a hint to run the pipeline when it is missing."""
    if not path.exists():
        raise MissingInputError(f"{path} is missing; run `dvc repro` to create it")
    return json.loads(path.read_text(encoding="utf-8"))
