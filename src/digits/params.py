"""Reading params.yaml, the single source of the pipeline's knobs."""

import re
from pathlib import Path
from typing import Any

import yaml

from digits.errors import ParamsError
from digits.paths import PARAMS_FILE


class _Loader(yaml.SafeLoader):
    """YAML as DVC reads it (1.2): `dvc exp run -S lr=0.00001` writes `1e-05`, which PyYAML's
    1.1 rules would read as a string."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$"),
    list("-+0123456789."),
)


def load_params(section: str, path: Path = PARAMS_FILE) -> dict[str, Any]:
    """Return one top-level section of params.yaml, with a clear error when it is missing."""
    with path.open(encoding="utf-8") as file:
        params = yaml.load(file, Loader=_Loader) or {}  # a SafeLoader
    if section not in params:
        raise ParamsError(f"{path} has no '{section}' section")
    return params[section]
