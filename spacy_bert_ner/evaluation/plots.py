"""The confusion matrix of entity matches as a PNG (matplotlib, Agg canvas, no pyplot state)."""

from pathlib import Path

from .metrics import Confusion


def plot_confusion(matrix: Confusion, path: Path, title: str = "Entity matches") -> Path:
    """Heatmap of counts on a log colour scale, so a few errors stay visible next to large diagonals.

    Zero cells stay white; every non-zero count is written in its cell (hence no colour bar).
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    counts = np.array(matrix.counts, dtype=float)
    n_rows, n_cols = counts.shape
    side = max(4.0, 0.7 * max(n_rows, n_cols) + 2.0)
    figure = Figure(figsize=(side, side))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    peak = max(float(counts.max()), 2.0)
    norm = LogNorm(vmin=0.5, vmax=peak)
    axes.imshow(np.ma.masked_equal(counts, 0), cmap="Blues", norm=norm)
    for row in range(n_rows):
        for col in range(n_cols):
            value = int(counts[row, col])
            if value:
                dark = norm(value) > 0.6
                axes.text(col, row, str(value), ha="center", va="center", color="white" if dark else "black")
    axes.set_xticks(range(n_cols), matrix.columns, rotation=45, ha="right")
    axes.set_yticks(range(n_rows), matrix.rows)
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    axes.set_title(title)
    # Separate the missed column and the spurious row from the label-by-label block.
    axes.axvline(n_cols - 1.5, color="grey", linewidth=1)
    axes.axhline(n_rows - 1.5, color="grey", linewidth=1)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    return path
