"""Pictures of a network's predictions: a grid of test images with their labels, and the confusion matrix.

Figures are drawn with matplotlib's object interface (no pyplot, so no window and no global state) and
written through ``atomic_write``; the file type follows the path's suffix.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

from kernels.pixels import PIXEL_MAX
from network.files import atomic_write

# Zalando's names of the Fashion-MNIST classes, by label; every other dataset's classes are its digits.
CLASS_NAMES = {
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )
}
MISTAKE = "tab:red"
INCH_PER_IMAGE = 1.5  # a grid cell: a 28 x 28 image is legible at this size, with its title
INCH_PER_CLASS = 0.75  # a confusion cell: room for a four-digit count
# The colour of a confusion cell is its share of the true class through this power: a linear scale would
# show the diagonal and nothing else (a 1% confusion would be all but white).
COLOUR_GAMMA = 0.3


def class_names(dataset: str, n_classes: int) -> tuple[str, ...]:
    return CLASS_NAMES.get(dataset, tuple(str(c) for c in range(n_classes)))


def image_types() -> list[str]:
    """The suffixes (without the dot) of the image files matplotlib can write."""
    return sorted(Figure().canvas.get_supported_filetypes())


def save_figure(figure: Figure, path: Path) -> None:
    with atomic_write(path) as file:
        figure.savefig(file, format=path.suffix[1:].lower(), bbox_inches="tight")


def prediction_grid(
    images: np.ndarray, true: np.ndarray, predicted: np.ndarray, names: tuple[str, ...], title: str
) -> Figure:
    """``images`` (n, side * side) of pixels in 0..255 (as the data sets hold them) in a grid, each under
    its predicted class; a mistake in red, framed, with the true class beside the predicted one."""
    n = len(images)
    side = math.isqrt(images.shape[1])
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    figure = Figure(figsize=(columns * INCH_PER_IMAGE, rows * INCH_PER_IMAGE + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, image, t, p in zip(axes, images, true, predicted):
        ax.imshow(image.reshape(side, side), cmap="gray", vmin=0, vmax=PIXEL_MAX)
        ax.set_xticks([])
        ax.set_yticks([])
        if t == p:
            ax.set_title(names[p], fontsize="small")
        else:
            ax.set_title(f"{names[p]}\n(true: {names[t]})", fontsize="small", color=MISTAKE)
            for spine in ax.spines.values():
                spine.set(color=MISTAKE, linewidth=3)
    for ax in axes[n:]:
        ax.set_axis_off()
    wrong = int((true != predicted).sum())
    figure.suptitle(f"{title}\npredicted class above each image; red: wrong ({wrong} of {n})")
    return figure


def confusion_figure(counts: np.ndarray, names: tuple[str, ...], title: str) -> Figure:
    """``counts[t, p]`` as a table of coloured cells: the colour is the share of true class ``t`` predicted
    as ``p``, the number is the count."""
    n = len(counts)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure = Figure(figsize=(n * INCH_PER_CLASS + 2.5, n * INCH_PER_CLASS + 1.5), layout="constrained")
    ax = figure.subplots()
    shown = ax.imshow(share, cmap="Blues", norm=PowerNorm(COLOUR_GAMMA, vmin=0, vmax=1))
    for (t, p), count in np.ndenumerate(counts):
        if count:
            dark = shown.norm(share[t, p]) > 0.6  # white text on the dark cells
            ax.text(
                p,
                t,
                f"{count}",
                ha="center",
                va="center",
                fontsize="small",
                color="white" if dark else "black",
            )
    ticks = np.arange(n)
    rotate = max(map(len, names)) > 2
    ax.set_xticks(ticks, names, rotation=45 if rotate else 0, ha="right" if rotate else "center")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    figure.colorbar(shown, ax=ax, label="share of the true class", shrink=0.8)
    return figure
