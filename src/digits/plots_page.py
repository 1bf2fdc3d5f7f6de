"""An HTML template for `dvc plots show` that works with no internet.

DVC's page loads Vega, Vega-Lite and Vega-Embed from a CDN, so offline it is blank. This
template carries the three libraries inline, from node_modules (package.json and its lock pin
them; `make plots` installs them and points DVC's `plots.html_template` here).

    python -m digits.plots_page node_modules node_modules/digits-plots.html
"""

import sys
from pathlib import Path

from digits.errors import MissingInputError
from digits.files import write_text

# UMD builds, loaded in this order: each defines the global the next one needs.
LIBRARIES = (
    "vega/build/vega.min.js",
    "vega-lite/build/vega-lite.min.js",
    "vega-embed/build/vega-embed.min.js",
)
# dvc-render fills these by plain string replacement: the plots go in {plot_divs}.
PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")


def offline_template(node_modules: Path) -> str:
    """The template text, with each library in its own <script> element."""
    scripts = []
    for library in LIBRARIES:
        path = node_modules / library
        if not path.exists():
            raise MissingInputError(f"{path} is missing: run `npm ci` (make plots does)")
        code = path.read_text(encoding="utf-8")
        if "</script" in code.lower() or any(mark in code for mark in PLACEHOLDERS):
            raise ValueError(f"{path} cannot be inlined: it holds </script> or a DVC placeholder")
        scripts.append(f"<script>{code}</script>")
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n{refresh_tag}\n'
        "<title>digits: DVC plots</title>\n"
        "<style>body { font-family: sans-serif; } .vega-embed { margin: 1em; }</style>\n"
        + "\n".join(scripts)
        + "\n</head>\n<body>\n{plot_divs}\n</body>\n</html>\n"
    )


if __name__ == "__main__":
    source, target = (Path(argument) for argument in sys.argv[1:3])
    write_text(target, offline_template(source))
    print(f"wrote {target}: dvc plots show now works with no internet")
