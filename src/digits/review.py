"""Reviewing people's corrections before they can reach training (make review):

    python -m digits.review                      # one by one: shows each, asks a/r/s/q
    python -m digits.review list                 # the pending ones
    python -m digits.review accept ID [ID ...]   # in bulk (scripts, CI); --all for every pending
    python -m digits.review reject ID [ID ...]
    python -m digits.review page                 # reports/review.html: every pending image

Each correction shows the 28x28 image the model saw, the digit it answered and the label
proposed. Every decision rewrites reports/accepted_corrections.json (--record), the list the
DVC stage `feedback` exports: only accepted corrections reach training.
"""

import argparse
import base64
import html
import sys
from pathlib import Path

import sqlalchemy as sa

from digits.errors import DigitsError
from digits.feedback import (
    ACCEPTED,
    PENDING,
    REJECTED,
    Correction,
    corrections,
    record_accepted,
    review,
)
from digits.files import write_text
from digits.images import to_png
from digits.params import load_params
from digits.paths import ACCEPTED_FILE, REPORTS_DIR
from digits.prediction_log import connect, location, pixels_of

SHADES = " .:-=+*#%@"
REVIEW_PAGE = REPORTS_DIR / "review.html"


def label(digit: int | None) -> str:
    return "not a digit" if digit is None else str(digit)


def as_text(image: bytes | None) -> str:
    """The 28x28 image in the terminal: two characters a pixel, darker characters for ink."""
    if image is None:
        return "(no image: nothing was found in the upload)"
    pixels = pixels_of(image)
    rows = ["".join(SHADES[min(int(p * len(SHADES)), len(SHADES) - 1)] * 2 for p in row)
            for row in pixels]  # fmt: skip
    return "\n".join(rows)


def summary(correction: Correction) -> str:
    confidence = "" if correction.confidence is None else f" at {correction.confidence:.2f}"
    return (
        f"{correction.id}  answered {label(correction.answered)}{confidence},"
        f" proposed: {label(correction.digit)}"
    )


def interactive(engine: sa.Engine) -> None:
    pending = corrections(engine, PENDING)
    print(f"review: {len(pending)} pending corrections")
    for number, correction in enumerate(pending, 1):
        print(f"\n{as_text(correction.image)}\n[{number}/{len(pending)}] {summary(correction)}")
        while (choice := input("accept, reject, skip or quit? [a/r/s/q] ").strip().lower()) not in (
            "a", "r", "s", "q",
        ):  # fmt: skip
            pass
        if choice == "q":
            return
        if choice in ("a", "r"):
            review(engine, [correction.id], ACCEPTED if choice == "a" else REJECTED)


def page(engine: sa.Engine, out: Path) -> None:
    """A page of every pending correction's image, answer and proposed label, to look at."""
    cells = []
    for correction in corrections(engine, PENDING):
        png = to_png(pixels_of(correction.image)) if correction.image else b""
        image = base64.b64encode(png).decode()
        cells.append(
            f'<figure><img src="data:image/png;base64,{image}" width="112" height="112">'
            f"<figcaption>answered <b>{label(correction.answered)}</b>, proposed"
            f" <b>{html.escape(label(correction.digit))}</b><br><code>{correction.id}</code>"
            "</figcaption></figure>"
        )
    write_text(
        out,
        "<!doctype html><meta charset=utf-8><title>Pending corrections</title><style>"
        "body{font-family:sans-serif}figure{display:inline-block;margin:8px;text-align:center}"
        "img{image-rendering:pixelated;background:#000}</style>"
        f"<h1>{len(cells)} pending corrections</h1><p>Accept or reject with"
        " <code>python -m digits.review accept|reject ID ...</code></p>" + "".join(cells),
    )
    print(f"review: {len(cells)} pending corrections on {out}")


def recorded(engine: sa.Engine, record: Path) -> None:
    count = record_accepted(engine, record)
    print(f"review: {count} accepted corrections listed in {record}; `dvc repro` trains on them")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m digits.review", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("list", help="the pending corrections")
    pages = commands.add_parser("page", help="a page with every pending correction's image")
    pages.add_argument("--out", type=Path, default=REVIEW_PAGE, help="default: %(default)s")
    for verdict in ("accept", "reject"):
        command = commands.add_parser(verdict, help=f"{verdict} pending corrections by id")
        command.add_argument("ids", nargs="*")
        command.add_argument("--all", action="store_true", help="every pending correction")
    parser.add_argument(
        "--record", type=Path, default=ACCEPTED_FILE,
        help="where the accepted corrections are listed for the pipeline (default: %(default)s)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    engine = connect(location(load_params("monitor")["database"]))
    try:
        if args.command is None:
            interactive(engine)
            recorded(engine, args.record)
        elif args.command == "list":
            pending = corrections(engine, PENDING)
            print(f"review: {len(pending)} pending corrections")
            for correction in pending:
                print(summary(correction))
        elif args.command == "page":
            page(engine, args.out)
        else:
            ids = [c.id for c in corrections(engine, PENDING)] if args.all else args.ids
            if not ids:
                parser.error(f"{args.command}: name the ids, or --all")
            verdict = ACCEPTED if args.command == "accept" else REJECTED
            changed = review(engine, ids, verdict)
            print(f"review: {verdict} {changed} of {len(ids)} (the others were not pending)")
            recorded(engine, args.record)
    except (DigitsError, sa.exc.SQLAlchemyError) as error:
        sys.exit(f"review: error: {error}")
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
