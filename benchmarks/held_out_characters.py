"""Which held-out characters the served model takes for digits, one by one: each typed symbol
and letter and each held-out handwritten letter (digits.non_digits), `--count` drawings of it,
each in a random realistic style (digits.wild.STYLES), read and answered as POST /predict
answers them, with the model's own policy (reports/policy.json). Prints the share flagged
uncertain and the digit named most often, hardest first: where the held-out score is lost.

These are test-side figures, for understanding the evaluate stage's held-out kinds; nothing is
chosen on them.

    python benchmarks/held_out_characters.py [--count 60] [--seed 5]
"""

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from digits.errors import DigitsError  # noqa: E402
from digits.files import read_json  # noqa: E402
from digits.images import frame_ink  # noqa: E402
from digits.non_digits import CHARACTER_KINDS, HELD_OUT, CharacterDrawer  # noqa: E402
from digits.paths import LITE_MODEL_FILE, POLICY_FILE  # noqa: E402
from digits.policy import Policy  # noqa: E402
from digits.serving import DigitClassifier, answer_images  # noqa: E402
from digits.wild import in_a_random_style  # noqa: E402

KINDS = {kind: drawn for kind, drawn in CHARACTER_KINDS.items() if kind in HELD_OUT}


def drawings(
    character: str, drawer: CharacterDrawer, count: int, rng: np.random.Generator
) -> list[bytes]:
    """`count` encoded images of `character`, laid out as the service lays out a glyph and
    each shown in a random realistic style, as the evaluate stage shows a non-digit kind."""
    return [in_a_random_style(frame_ink(drawer(rng, character)), rng)[1] for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=60, help="drawings of each character")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    if args.count < 1:
        sys.exit("held-out-characters: error: --count must be at least 1")
    if not LITE_MODEL_FILE.exists():
        sys.exit(f"held-out-characters: error: no model at {LITE_MODEL_FILE} (run `dvc repro`)")
    try:
        classifier = DigitClassifier(LITE_MODEL_FILE)
        policy = Policy.of(read_json(POLICY_FILE))
    except (DigitsError, OSError, ValueError) as error:
        sys.exit(f"held-out-characters: error: {error} (run `dvc repro evaluate` first)")
    print(
        f"held-out-characters: {args.count} drawings of each, flagged below"
        f" {policy.uncertain_below} ({POLICY_FILE.relative_to(ROOT)})",
        file=sys.stderr,
    )
    rng = np.random.default_rng(args.seed)
    rows = []
    for kind, (characters, drawer) in KINDS.items():
        for character in characters:
            datas = drawings(character, drawer, args.count, rng)
            answers = [r.answer for r in answer_images(classifier.probabilities, datas, policy)]
            named = Counter(a["digit"] for a in answers if not a.get("uncertain", True))
            flagged = 1 - sum(named.values()) / len(answers)
            rows.append((flagged, kind, character, named.most_common(1)))
    print("\n| character | kind | flagged | named most often |\n|---|---|---|---|")
    for flagged, kind, character, most in sorted(rows):
        often = f"{most[0][0]} ({most[0][1]} of {args.count})" if most else "-"
        print(f"| `{character}` | {kind} | {flagged:.0%} | {often} |")


if __name__ == "__main__":
    main()
