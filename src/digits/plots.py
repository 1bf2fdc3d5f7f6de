"""PNG figures of the evaluation: confusion matrix, the most confident mistakes and the
non-digits named as digits."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np

from digits.evaluate import MissedNonDigit
from digits.files import atomic_path


def _save(figure: plt.Figure, path: Path) -> None:
    with atomic_path(path) as part:
        figure.savefig(part, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)


def plot_confusion(confusion: np.ndarray, path: Path) -> None:
    """Heat map of counts[actual, predicted], each cell labelled; log scale shows rare errors."""
    figure, axes = plt.subplots(figsize=(7, 6))
    shown = np.log1p(confusion)
    axes.imshow(shown, cmap="Blues")
    for (actual, predicted), count in np.ndenumerate(confusion):
        if count:
            dark = shown[actual, predicted] > shown.max() / 2
            axes.text(
                predicted,
                actual,
                str(count),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
            )
    axes.set(
        xticks=range(10),
        yticks=range(10),
        xlabel="predicted",
        ylabel="actual",
        title=f"Confusion matrix ({confusion.sum()} test images, "
        f"{confusion.sum() - np.trace(confusion)} errors)",
    )
    _save(figure, path)


def _gallery(cells: list[tuple[np.ndarray, str]], title: str, path: Path) -> None:
    """Grid of 28x28 images, five a row, each with its caption."""
    columns = 5
    rows = max(1, -(-len(cells) // columns))
    figure, grid = plt.subplots(rows, columns, figsize=(columns * 1.9, rows * 1.8), squeeze=False)
    for cell in grid.flat:
        cell.axis("off")
    for cell, (pixels, caption) in zip(grid.flat, cells, strict=False):
        cell.imshow(pixels.squeeze(), cmap="gray", vmin=0, vmax=1)
        cell.set_title(caption, fontsize=8)
    figure.suptitle(title)
    _save(figure, path)


def plot_mistakes(
    images: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    indices: np.ndarray,
    path: Path,
) -> None:
    """Grid of misclassified digits titled 'true -> predicted (confidence)'."""
    cells = []
    for index in indices:
        predicted = int(probabilities[index].argmax())
        caption = f"#{index}: {labels[index]} → {predicted} ({probabilities[index, predicted]:.0%})"
        cells.append((images[index], caption))
    _gallery(cells, "Most confidently misclassified test digits (true → predicted)", path)


def plot_missed_non_digits(missed: list[MissedNonDigit], path: Path) -> None:
    """Grid of drawings of no digit that were named as digits, as the model saw them, titled
    'kind -> digit (confidence)'."""
    cells = [(m.pixels, f"{m.kind} → {m.digit} ({m.confidence:.0%})") for m in missed]
    _gallery(cells, "Non-digits named as digits, surest first (kind → digit)", path)
