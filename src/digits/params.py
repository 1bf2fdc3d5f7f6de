"""Reading params.yaml, the single source of the pipeline's knobs."""

from pathlib import Path
from typing import Any

import yaml

from digits.paths import PARAMS_FILE


def load_params(section: str, path: Path = PARAMS_FILE) -> dict[str, Any]:
    """Return one top-level section of params.yaml, with a clear error when it is missing."""
    with path.open(encoding="utf-8") as file:
        params = yaml.safe_load(file) or {}
    if section not in params:
        raise KeyError(f"{path} has no '{section}' section")
    return params[section]
