"""Plot of the efficient frontier with selected portfolios marked (PNG, matplotlib's Agg backend).

Axes are annualised from daily statistics: volatility × √252 and mean
return × 252, both in percent. Pure file output; no display needed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from raytrader.errors import InputError

__all__ = ["PlotPathError", "check_plot_path", "plot_frontier"]

TRADING_DAYS = 252


class PlotPathError(InputError):
    """The plot cannot be written where asked (``--plot``)."""


def check_plot_path(path: str | Path) -> Path:
    """``path`` as a Path if a PNG can be written there (checked before any work is done)."""
    out = Path(path)
    if out.suffix.lower() != ".png":
        raise PlotPathError(f"plot: {str(out)!r} must end in .png")
    if not out.parent.is_dir():
        raise PlotPathError(f"plot: folder {str(out.parent)!r} does not exist")
    return out


def plot_frontier(frontier: Sequence[tuple[float, float]], marks: Sequence[tuple[str, float, float]],
                  path: str | Path, *, title: str = "") -> Path:
    """Write the frontier (daily ``(volatility, expected_return)`` pairs) and labelled marks to ``path`` (.png).

    ``marks`` are ``(label, daily volatility, daily expected return)``. Returns the path written.
    """
    out = check_plot_path(path)
    if len(frontier) < 2:
        raise PlotPathError("plot: needs at least 2 frontier points (--frontier-points >= 2)")
    import matplotlib  # noqa: PLC0415 - late: Qiskit, matplotlib and file readers load only when used

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - late: Qiskit, matplotlib and file readers load only when used

    def ann(vol: float, ret: float) -> tuple[float, float]:
        return vol * math.sqrt(TRADING_DAYS) * 100, ret * TRADING_DAYS * 100

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    try:
        xs, ys = zip(*(ann(v, r) for v, r in frontier))
        ax.plot(xs, ys, "-o", ms=3, color="tab:blue", label="long-only efficient frontier")
        for i, (label, vol, ret) in enumerate(marks):
            x, y = ann(vol, ret)
            ax.scatter([x], [y], s=60, marker="*^sDv"[i % 5], zorder=3, label=label)
        ax.set_xlabel("volatility, % a year")
        ax.set_ylabel("mean return, % a year")
        ax.set_title(title or "Efficient frontier and selections")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
        try:
            fig.savefig(out, format="png")
        except OSError as exc:
            raise PlotPathError(f"plot: cannot write {str(out)!r}: {exc.strerror}") from None
    finally:
        plt.close(fig)
    return out
